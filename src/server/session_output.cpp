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
using detail::would_block;

// ---- from the shared upstream connection --------------------------------------------------------

void session::deliver(const char* data, std::size_t len, bool reply_ends) {
  if (closed_) return;
  ledger_.deliver(data, len, reply_ends);
}

void session::flush_delivered() {
  if (closed_) return;
  if (!write_marks_.empty()) settle_writes();  // before the replies go out
  flush_client();
  maybe_finish();
}

void session::on_shared_gone() {
  if (closed_ || link_ != &shared_) return;
  if (pinning_ && ledger_.answered()) return;  // nothing of ours was on it
  owner_.log().debug("shared upstream connection ended; closing its client");
  own_.end();
  ledger_.drop_locals();
  flush_client();
  maybe_finish();
}

// ---- replies made here and reply slots ----------------------------------------------------------

void session::reply_local(std::string bytes) {
  if (routed()) {
    out_.answer(out_.reserve(), bytes);
    return;
  }
  ledger_.reply_local(std::move(bytes));
}

bool session::may_emit_now() const {
  return !routed() && ledger_.idle() && out_.may_append();
}

void session::fill_slot(std::uint64_t id, std::string_view bytes) {
  out_.answer(id, bytes);
  if (!out_.slots_open() && round_waits_pget_ && reads_.empty()) {
    round_waits_pget_ = false;
    reprocess_later();
  } else {
    // Reading the client may have paused on the held bytes (may_read_client).
    asio::post(owner_.context(), [self = shared_from_this()] { self->resume(); });
  }
}

void session::answer(std::uint64_t slot, std::string_view reply) {
  // A routed backend: every request has its slot, nothing is held between them.
  out_.answer(slot, reply);
}

void session::push(std::string_view bytes) {
  out_.copy(bytes);
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

// ---- writing ------------------------------------------------------------------------------------

void session::flush_client() {
  if (closed_ || !out_.queued()) return;
  if (const auto ec = out_.write(client_)) {
    log_client_error("write failed; connection closed", client_.describe(ec));
    close("client write failed");
    return;
  }
  if (out_.backlog_size() == 0) return;
  const std::size_t limit = owner_.config().client_output_limit;
  if (limit > 0 && out_.backlog_size() > limit && !on_own()) {
    log_client_error("output buffer over --client-output-limit; connection closed",
                     std::to_string(limit) + " bytes");
    owner_.stats().error(metrics::error_kind::output_limit);
    close("output limit");
    return;
  }
  if (!out_.waiting()) arm_client_write_wait();
}

void session::write_backlog() {
  const auto ec = out_.write_backlog(client_);
  if (would_block(ec)) {
    arm_client_write_wait();
  } else if (ec) {
    log_client_error("write failed; connection closed", client_.describe(ec));
    close("client write failed");
  }
}

void session::arm_client_write_wait() {
  if (closed_) return;
  out_.set_waiting(true);
  client_.async_wait_writable([self = shared_from_this()](const error_code&) {
    self->out_.set_waiting(false);
    if (self->closed_) return;
    self->write_backlog();
    if (!self->out_.waiting()) self->resume();
  });
}

void session::maybe_finish() {
  // A request that blocks may have started after the client's end was read (it waited behind
  // the requests before it).
  if (close_if_gone_while_blocked()) return;
  if (!own_.ended() && !close_after_replies_ && !client_eof_ && !draining_) return;
  if (closed_ || !out_.idle()) return;
  const bool upstream_done = own_.ended();
  const bool error_sent = close_after_replies_ && !ledger_.locals_pending() &&
                          error_after_eof_.empty() && !out_.slots_open();
  const bool client_done =
      client_eof_ && !own_.up() && !own_.connecting() && ledger_.answered() && !out_.slots_open();
  if (upstream_done) close("upstream connection ended");
  if (error_sent) close("protocol error or QUIT");
  if (client_done) close("client closed");
  if (draining_ && ledger_.answered() && !out_.slots_open() && !wait_ &&
      !ledger_.locals_pending() && !pinning_) {
    close_lingering("shutting down");
  }
}

}  // namespace puppy::server
