#include "puppy/server/session.hpp"

#include <spdlog/spdlog.h>
#include <strings.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>

#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t buffer_size = 16 * 1024;       // initial size of each direction's buffer
constexpr std::size_t min_read = 4 * 1024;           // never read into less room than this
constexpr std::size_t max_queued_local = 64 * 1024;  // stop reading a client whose errors pile up

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

session::session(worker& owner, tcp::socket client)
    : owner_(owner),
      client_(std::move(client)),
      upstream_(owner.context()),
      connect_timer_(owner.context()),
      framer_(owner.config().limits),
      in_(buffer_size),
      scanner_(owner.config().max_reply_depth),
      up_in_(buffer_size) {
  owner_.attach(this);
}

session::~session() {
  owner_.detach(this);
}

void session::start() {
  error_code ec;
  client_.set_option(tcp::no_delay(true), ec);
  if (owner_.upstream_backoff().may_attempt(std::chrono::steady_clock::now())) {
    connect_upstream();
  } else {
    upstream_state_ = upstream_state::down;
  }
  read_client();
}

void session::close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  client_.shutdown(tcp::socket::shutdown_both, ec);
  client_.close(ec);
  upstream_.close(ec);
  connect_timer_.cancel();
}

// ---- upstream connection ------------------------------------------------------------------------

void session::connect_upstream() {
  upstream_state_ = upstream_state::connecting;
  const auto& target = owner_.config().upstream;
  error_code ec;
  const auto ip = asio::ip::make_address(target.host, ec);
  if (ec) {
    // Host names are resolved by the worker at start-up; here only addresses arrive.
    on_upstream_connected(asio::error::host_not_found);
    return;
  }
  connect_timer_.expires_after(owner_.config().connect_timeout);
  connect_timer_.async_wait([self = shared_from_this()](const error_code& e) {
    if (!e && self->upstream_state_ == upstream_state::connecting) {
      self->upstream_error_ = "timed out";
      error_code ignored;
      self->upstream_.close(ignored);
    }
  });
  upstream_error_.clear();
  upstream_.async_connect(
      tcp::endpoint(ip, target.port),
      [self = shared_from_this()](const error_code& e) { self->on_upstream_connected(e); });
}

void session::on_upstream_connected(const error_code& ec) {
  if (closed_) return;
  connect_timer_.cancel();
  auto& backoff = owner_.upstream_backoff();
  const auto& target = owner_.config().upstream;
  if (ec) {
    const std::string why =
        "connect to " + target.host + ":" + std::to_string(target.port) +
        " failed: " + (upstream_error_.empty() ? ec.message() : upstream_error_);
    backoff.failed(std::chrono::steady_clock::now(), why);
    if (backoff.failures() == 1) {
      owner_.log().warn("upstream unavailable: {}", why);
    } else {
      owner_.log().debug("upstream unavailable: {}", why);
    }
    error_code ignored;
    upstream_.close(ignored);
    upstream_state_ = upstream_state::down;
  } else {
    if (backoff.failures() > 0) owner_.log().info("upstream reachable again");
    backoff.succeeded();
    error_code ignored;
    upstream_.set_option(tcp::no_delay(true), ignored);
    upstream_state_ = upstream_state::up;
    read_upstream();
  }
  if (client_eof_) {
    on_client_eof();
    return;
  }
  if (round_pending_) {
    round_pending_ = false;
    process_requests();
  }
}

std::string session::unavailable_reply() const {
  const auto& backoff = owner_.upstream_backoff();
  std::string text = "-ERR upstream unavailable (" + backoff.last_error();
  const auto wait = backoff.remaining(std::chrono::steady_clock::now());
  if (wait.count() > 0) text += "; next attempt in " + std::to_string(wait.count()) + " ms";
  return text + ")\r\n";
}

// ---- client -> upstream -------------------------------------------------------------------------

void session::read_client() {
  if (client_reading_ || upstream_writing_ || round_pending_ || client_eof_ ||
      close_after_replies_ || closed_ || upstream_state_ == upstream_state::closed) {
    return;
  }
  if (queue_local_.size() > max_queued_local) return;  // resumed once the client reads its replies
  in_.reserve(min_read);
  client_reading_ = true;
  client_.async_read_some(asio::buffer(in_.end(), in_.free()),
                          [self = shared_from_this()](const error_code& ec, std::size_t n) {
                            self->on_client_read(ec, n);
                          });
}

void session::on_client_read(const error_code& ec, std::size_t n) {
  client_reading_ = false;
  if (closed_) return;
  if (ec) {
    if (ec == asio::error::eof) {
      on_client_eof();
    } else {
      close();
    }
    return;
  }
  in_.commit(n);
  if (upstream_state_ == upstream_state::closed) {
    maybe_finish();  // the upstream went away: its client is closed, not answered
    return;
  }
  if (upstream_state_ == upstream_state::down &&
      owner_.upstream_backoff().may_attempt(std::chrono::steady_clock::now())) {
    connect_upstream();
  }
  if (upstream_state_ == upstream_state::connecting) {
    round_pending_ = true;  // processed when the connection attempt ends
    return;
  }
  process_requests();
}

void session::process_requests() {
  const char* base = in_.data();
  const std::size_t len = in_.size();
  std::size_t pos = held_;
  fwd_begin_ = 0;
  up_out_.clear();
  for (;;) {
    const auto r = framer_.parse(base + pos, len - pos);
    pos += r.consumed;
    if (r.status == resp::frame_status::command) {
      if (framer_.command().argc > 0) on_request(framer_.command());
      continue;
    }
    if (r.status == resp::frame_status::need_more) {
      // Bytes of a request whose name is not known yet stay here until it is.
      held_ = framer_.name_known() ? 0 : static_cast<std::size_t>(framer_.partial_bytes());
      forward_range(fwd_begin_, pos - held_);
      tail_ = pos - held_;
      break;
    }
    // A protocol error: what came before it is forwarded, then the error, then the connection
    // closes once the replies before it are out, as Redis does.
    const std::size_t partial = std::min<std::size_t>(pos, framer_.partial_bytes());
    forward_range(fwd_begin_, pos - partial);
    owner_.log().debug("client protocol error: {}", framer_.error_message());
    reply_local("-ERR " + framer_.error_message() + "\r\n");
    close_after_replies_ = true;
    held_ = 0;
    tail_ = len;
    break;
  }
  if (!up_out_.empty()) {
    write_upstream();
  } else {
    finish_request_round();
  }
}

void session::on_request(const resp::framed_command& cmd) {
  if (upstream_state_ != upstream_state::up) {
    reply_local(unavailable_reply());
    return;
  }
  switch (cmd.spec.kind) {
    case resp::command_kind::plain:
      break;
    case resp::command_kind::pubsub:
    case resp::command_kind::monitor:
      enter_passthrough(false);
      return;
    case resp::command_kind::client:
      if (cmd.args.size() >= 3 && iequals(cmd.args[1], "reply") &&
          (iequals(cmd.args[2], "off") || iequals(cmd.args[2], "skip"))) {
        enter_passthrough(false);
        return;
      }
      break;
    case resp::command_kind::reset:
      if (passthrough_at_) {
        reset_waiting_ = true;
        sent_since_reset_ = 0;
        return;
      }
      break;
    case resp::command_kind::replication:
      enter_passthrough(true);
      return;
  }
  if (!passthrough_at_) {
    ++sent_;
  } else if (reset_waiting_) {
    ++sent_since_reset_;
  }
}

void session::enter_passthrough(bool raw) {
  if (!passthrough_at_) passthrough_at_ = sent_;
  reset_waiting_ = false;
  raw_ = raw_ || raw;
}

void session::forward_range(std::size_t begin, std::size_t end) {
  if (end > begin && upstream_state_ == upstream_state::up) {
    up_out_.emplace_back(in_.data() + begin, end - begin);
  }
  fwd_begin_ = end;
}

void session::write_upstream() {
  upstream_writing_ = true;
  asio::async_write(upstream_, up_out_,
                    [self = shared_from_this()](const error_code& ec, std::size_t) {
                      self->on_upstream_written(ec);
                    });
}

void session::on_upstream_written(const error_code& ec) {
  upstream_writing_ = false;
  if (closed_) return;
  if (ec) {
    on_upstream_gone(ec.message());
    return;
  }
  finish_request_round();
}

void session::finish_request_round() {
  in_.consume(tail_);
  tail_ = 0;
  up_out_.clear();
  if (in_.size() == 0) in_.shrink_to(buffer_size);
  if (close_after_replies_) {
    maybe_finish();
    return;
  }
  read_client();
}

void session::on_client_eof() {
  client_eof_ = true;
  if (upstream_state_ == upstream_state::up) {
    // Let the upstream see the end too and relay what it still sends until it closes.
    error_code ignored;
    upstream_.shutdown(tcp::socket::shutdown_send, ignored);
    return;
  }
  maybe_finish();
}

// ---- upstream -> client -------------------------------------------------------------------------

void session::read_upstream() {
  if (closed_ || up_in_in_use_ || upstream_state_ != upstream_state::up) return;
  upstream_.async_read_some(asio::buffer(up_in_.data(), up_in_.capacity()),
                            [self = shared_from_this()](const error_code& ec, std::size_t n) {
                              self->on_upstream_read(ec, n);
                            });
}

void session::on_upstream_read(const error_code& ec, std::size_t n) {
  if (closed_) return;
  if (ec) {
    on_upstream_gone(ec == asio::error::eof ? "closed by the upstream" : ec.message());
    return;
  }
  relay_replies(n);
  if (!client_queue_.empty()) write_client();
  read_upstream();
}

void session::relay_replies(std::size_t n) {
  const char* data = up_in_.data();
  std::size_t pos = 0;
  std::size_t seg = 0;
  while (pos < n && !(raw_ && !counting())) {
    const auto r = scanner_.scan(data + pos, n - pos);
    pos += r.consumed;
    if (r.status == resp::scan_status::need_more) break;
    if (r.status == resp::scan_status::error) {
      owner_.log().warn("upstream sent invalid RESP ({}); closing the client",
                        scanner_.error_message());
      queue_client(data + seg, pos - seg);
      on_upstream_gone("invalid reply");
      return;
    }
    if (scanner_.is_push()) continue;
    if (counting()) {
      ++received_;
      if (received_ > sent_) {
        owner_.log().warn("reply accounting lost; relaying without counting from here on");
        enter_passthrough(false);
        passthrough_at_ = received_ = sent_;
      }
      if (!pending_local_.empty() && pending_local_.front().after <= received_) {
        queue_client(data + seg, pos - seg);
        seg = pos;
        on_counted_reply();
      }
    } else if (reset_waiting_ && scanner_.type() == '+' && scanner_.head() == "RESET") {
      passthrough_at_.reset();
      raw_ = reset_waiting_ = false;
      sent_ = received_ + sent_since_reset_;
    }
  }
  if (seg < n) queue_client(data + seg, n - seg);
}

void session::on_counted_reply() {
  while (!pending_local_.empty() && pending_local_.front().after <= received_) {
    queue_local(std::move(pending_local_.front().bytes));
    pending_local_.pop_front();
  }
}

void session::on_upstream_gone(const std::string& why) {
  if (upstream_state_ == upstream_state::closed) return;
  owner_.log().debug("upstream connection ended ({}); closing its client", why);
  upstream_state_ = upstream_state::closed;
  error_code ignored;
  upstream_.close(ignored);
  pending_local_.clear();
  if (!client_queue_.empty()) write_client();
  maybe_finish();
}

// ---- replies to the client ----------------------------------------------------------------------

void session::reply_local(std::string bytes) {
  if (received_ >= sent_ && pending_local_.empty()) {
    queue_local(std::move(bytes));
    write_client();
    return;
  }
  pending_local_.push_back({sent_, std::move(bytes)});
}

void session::queue_local(std::string bytes) {
  client_queue_.push_back({true, queue_local_.size(), bytes.size()});
  queue_local_.append(bytes);
}

void session::queue_client(const char* data, std::size_t len) {
  if (len == 0) return;
  client_queue_.push_back({false, static_cast<std::size_t>(data - up_in_.data()), len});
  up_in_in_use_ = true;
}

void session::write_client() {
  if (client_writing_ || client_queue_.empty() || closed_) return;
  flight_local_.swap(queue_local_);
  queue_local_.clear();
  client_out_.clear();
  flight_uses_up_in_ = false;
  for (const auto& s : client_queue_) {
    if (s.local) {
      client_out_.emplace_back(flight_local_.data() + s.offset, s.len);
    } else {
      client_out_.emplace_back(up_in_.data() + s.offset, s.len);
      flight_uses_up_in_ = true;
    }
  }
  client_queue_.clear();
  client_writing_ = true;
  asio::async_write(client_, client_out_,
                    [self = shared_from_this()](const error_code& ec, std::size_t) {
                      self->on_client_written(ec);
                    });
}

void session::on_client_written(const error_code& ec) {
  client_writing_ = false;
  if (closed_) return;
  if (ec) {
    close();
    return;
  }
  flight_local_.clear();
  if (flight_uses_up_in_) {
    flight_uses_up_in_ = false;
    up_in_in_use_ = false;
    read_upstream();
  }
  if (!client_queue_.empty()) {
    write_client();
    return;
  }
  read_client();
  maybe_finish();
}

void session::maybe_finish() {
  if (closed_ || client_writing_ || !client_queue_.empty()) return;
  const bool upstream_done = upstream_state_ == upstream_state::closed;
  const bool error_sent = close_after_replies_ && pending_local_.empty();
  const bool client_done = client_eof_ && upstream_state_ != upstream_state::up &&
                           upstream_state_ != upstream_state::connecting;
  if (upstream_done || error_sent || client_done) close();
}

}  // namespace puppy::server
