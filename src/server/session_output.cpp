// The upstream -> client direction: replies relayed or delivered, replies made here, writing.
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "puppy/server/io_util.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using detail::buffer_range;
using detail::would_block;

namespace {
constexpr std::size_t max_iov = 64;                // pieces per write call
constexpr std::size_t backlog_keep = 1024 * 1024;  // a drained backlog keeps this much room
}  // namespace

// ---- from the shared upstream connection --------------------------------------------------------

void session::deliver(const char* data, std::size_t len, bool reply_ends) {
  if (closed_) return;
  if (capturing_ || (!mid_reply_ && next_reply_captured())) {
    capturing_ = !reply_ends;
    mid_reply_ = !reply_ends;
    if (!reply_ends) {
      capture_buf_.append(data, len);
      return;
    }
    ++received_;
    take_capture(data, len);
    after_reply();
    return;
  }
  queue_view(data, len);
  mid_reply_ = !reply_ends;
  if (reply_ends) reply_arrived();
}

void session::flush_delivered() {
  if (closed_) return;
  if (!write_marks_.empty()) settle_writes();  // before the replies go out
  flush_client();
  maybe_finish();
}

void session::on_shared_gone() {
  if (closed_ || mode_ == mode::pinned) return;
  if (mode_ == mode::pinning && received_ >= sent_) return;  // nothing of ours was on it
  owner_.log().debug("shared upstream connection ended; closing its client");
  link_ = link::closed;
  pending_local_.clear();
  flush_client();
  maybe_finish();
}

// ---- queueing -----------------------------------------------------------------------------------

void session::reply_local(std::string bytes) {
  if (mode_ == mode::routed) {
    answer(reserve_slot(), bytes);
    return;
  }
  if (received_ >= sent_ && pending_local_.empty()) {
    queue_local(bytes);
  } else {
    pending_local_.push_back({sent_, std::move(bytes)});
  }
}

bool session::may_emit_now() const {
  return mode_ != mode::routed && received_ >= sent_ && pending_local_.empty() && !order_.open();
}

void session::emitted_local(std::size_t at) {
  owner_.stats().bytes_out.add(local_.size() - at);
  pieces_.push_back({nullptr, at, local_.size() - at});
}

void session::queue_local(const std::string& bytes) {
  if (order_.hold(bytes)) return;  // copied behind an open slot
  emit_local(bytes);
}

void session::emit_local(std::string_view bytes) {
  owner_.stats().bytes_out.add(bytes.size());
  pieces_.push_back({nullptr, local_.size(), bytes.size()});
  local_ += bytes;
}

void session::fill_slot(std::uint64_t id, std::string_view bytes) {
  // It, and whatever is no longer behind an open slot, goes out in order.
  order_.answer(id, bytes, [this](std::string_view b) { emit_local(b); });
  if (!order_.open() && round_waits_pget_ && reads_.empty()) {
    round_waits_pget_ = false;
    reprocess_later();
  } else {
    // Reading the client may have paused on the held bytes (may_read_client).
    asio::post(owner_.context(), [self = shared_from_this()] { self->resume(); });
  }
}

void session::answer(std::uint64_t slot, std::string_view reply) {
  // A memcached upstream: every request has its slot, nothing is held between them.
  order_.answer(slot, reply, [this](std::string_view b) { emit_local(b); });
}

void session::push(std::string_view bytes) {
  if (!order_.hold(bytes)) emit_local(bytes);
}

void session::answers_ready() {
  // Responses come in batches (one memcached read answers many clients' requests): each client
  // gets one write per batch, once the batch has been dispatched.
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(owner_.context(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (self->closed_) return;
    self->flush_client();
    self->maybe_finish();
    self->resume();
  });
}

void session::queue_view(const char* data, std::size_t len) {
  if (len == 0) return;
  if (order_.hold(std::string_view(data, len))) return;  // copied behind an open slot
  owner_.stats().bytes_out.add(len);
  if (!pieces_.empty() && pieces_.back().data != nullptr &&
      pieces_.back().data + pieces_.back().len == data) {
    pieces_.back().len += len;
    return;
  }
  pieces_.push_back({data, 0, len});
}

// ---- writing ------------------------------------------------------------------------------------

void session::flush_client() {
  if (closed_ || pieces_.empty()) return;
  const auto bytes_of = [this](const piece& p) {
    return p.data != nullptr ? p.data : local_.data() + p.offset;
  };
  std::size_t first = 0;      // first piece not wholly written
  std::size_t first_off = 0;  // bytes of it already written
  if (!client_blocked_ && backlog_size() == 0) {
    const auto ec = detail::write_pieces(client_, pieces_, local_.data(), &first, &first_off, iov_);
    if (ec && !would_block(ec)) {
      log_client_error("write failed; connection closed", client_.describe(ec));
      close("client write failed");
      return;
    }
  }
  // What the socket did not take is copied, in order, so the buffers it points into are free.
  for (std::size_t i = first; i < pieces_.size(); ++i) {
    const std::size_t skip = i == first ? first_off : 0;
    backlog_.append(bytes_of(pieces_[i]) + skip, pieces_[i].len - skip);
  }
  pieces_.clear();
  local_.clear();
  if (backlog_size() == 0) return;
  const std::size_t limit = owner_.config().client_output_limit;
  if (limit > 0 && backlog_size() > limit && mode_ != mode::pinned) {
    log_client_error("output buffer over --client-output-limit; connection closed",
                     std::to_string(limit) + " bytes");
    owner_.stats().error(metrics::error_kind::output_limit);
    close("output limit");
    return;
  }
  if (!client_blocked_) arm_client_write_wait();
}

void session::write_backlog() {
  while (backlog_size() > 0) {
    error_code ec;
    const std::size_t n =
        client_.write_some(asio::buffer(backlog_.data() + backlog_off_, backlog_size()), ec);
    if (would_block(ec)) {
      arm_client_write_wait();
      return;
    }
    if (ec) {
      log_client_error("write failed; connection closed", client_.describe(ec));
      close("client write failed");
      return;
    }
    backlog_off_ += n;
    if (backlog_off_ > backlog_keep && backlog_off_ * 2 > backlog_.size()) {
      backlog_.erase(0, backlog_off_);  // do not keep what was written
      backlog_off_ = 0;
    }
  }
  backlog_off_ = 0;
  if (backlog_.capacity() > backlog_keep) {
    std::string().swap(backlog_);
  } else {
    backlog_.clear();
  }
}

void session::arm_client_write_wait() {
  if (closed_) return;
  client_blocked_ = true;
  client_.async_wait_writable([self = shared_from_this()](const error_code&) {
    self->client_blocked_ = false;
    if (self->closed_) return;
    self->write_backlog();
    if (!self->client_blocked_) self->resume();
  });
}

void session::maybe_finish() {
  if (link_ != link::closed && !close_after_replies_ && !client_eof_ && !draining_) return;
  if (closed_ || client_blocked_ || backlog_size() > 0 || !pieces_.empty()) return;
  const bool upstream_done = link_ == link::closed;
  const bool error_sent =
      close_after_replies_ && pending_local_.empty() && error_after_eof_.empty() && !order_.open();
  const bool client_done = client_eof_ && link_ != link::up && link_ != link::connecting &&
                           received_ >= sent_ && !order_.open();
  if (upstream_done) close("upstream connection ended");
  if (error_sent) close("protocol error or QUIT");
  if (client_done) close("client closed");
  if (draining_ && received_ >= sent_ && !order_.open() && !wait_ && pending_local_.empty() &&
      mode_ != mode::pinning) {
    close_lingering("shutting down");
  }
}

}  // namespace puppy::server
