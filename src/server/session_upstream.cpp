// The client's own upstream connection: connecting, writing requests, relaying replies.
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

// ---- connecting ---------------------------------------------------------------------------------

void session::connect_upstream() {
  own_.connect(shared_from_this(),
               [self = shared_from_this()](const error_code& ec) { self->on_upstream_ready(ec); });
}

void session::on_upstream_ready(const error_code& ec) {
  if (closed_) return;
  if (own_.ended()) {  // the shared connection went away meanwhile: we are closing
    own_.close_socket();
    maybe_finish();
    return;
  }
  own_.settle(ec);
  if (pinning_) {
    finish_pin_if_ready();
  } else if (round_pending_) {
    round_pending_ = false;
    process_requests();
  }
  if (client_eof_) on_client_eof();
  resume();
}

std::string session::unavailable_reply() const {
  owner_.stats().error(metrics::error_kind::upstream_unavailable);
  const auto& backoff = owner_.upstream_backoff();
  std::string text = "-ERR upstream unavailable (" + backoff.last_error();
  const auto wait = backoff.remaining(std::chrono::steady_clock::now());
  if (wait.count() > 0) text += "; next attempt in " + std::to_string(wait.count()) + " ms";
  return text + ")\r\n";
}

// ---- requests out -------------------------------------------------------------------------------

void session::flush_upstream() {
  if (own_.blocked() || !own_.up()) return;
  const auto ec = own_.write();
  if (would_block(ec)) {
    own_.wait_writable([self = shared_from_this()](const error_code&) {
      if (self->closed_) return;
      self->flush_upstream();
      if (self->own_.blocked() || self->closed_) return;
      self->finish_request_round();
      if (self->client_eof_) self->on_client_eof();
      self->resume();
    });
    return;
  }
  if (ec) {
    on_upstream_gone(own_.stream().describe(ec));
    return;
  }
  if (!ledger_.answered() && ledger_.counting()) rtt_.on_sent(ledger_.sent());
}

void session::send_owned(const std::string& bytes) {
  own_.queue_copy(bytes);
  if (!round_active_) flush_upstream();  // a round flushes once it has queued everything
}

// ---- replies in ---------------------------------------------------------------------------------

void session::pump_upstream() {
  for (int turn = 0; turn < detail::max_read_turns; ++turn) {
    if (closed_ || !own_.up()) return;
    if (out_.backlog_size() > owner_.config().max_pending_output) return;  // resumed as it drains
    if (!own_.readable()) {
      arm_upstream_wait();
      return;
    }
    error_code ec;
    const std::size_t n = own_.read(ec);
    if (would_block(ec)) {
      arm_upstream_wait();
      return;
    }
    if (ec) {
      on_upstream_gone(ec == asio::error::eof ? "closed by the upstream"
                                              : own_.stream().describe(ec));
      return;
    }
    if (!ledger_.relay(own_.data(), n)) {
      owner_.log().warn("upstream protocol fault: invalid reply ({}); closing the client",
                        ledger_.error_message());
      on_upstream_gone("invalid reply", metrics::error_kind::upstream_protocol);
      return;
    }
    rtt_.on_replied(ledger_.received(), owner_.stats().upstream_latency);
    if (!write_marks_.empty()) settle_writes();  // before the replies go out
    flush_client();  // writes, or copies into the backlog, everything that points into the link
    if (n < own_.room()) {
      own_.drained();
      arm_upstream_wait();
    }
  }
  asio::post(owner_.context(), [self = shared_from_this()] { self->resume(); });
}

void session::arm_upstream_wait() {
  if (closed_ || !own_.up()) return;
  own_.wait_readable([self = shared_from_this()](const error_code&) {
    if (self->closed_ || !self->own_.up()) return;
    self->own_.mark_readable();
    self->resume();
  });
}

void session::on_counted() {
  if (pinning_) finish_pin_if_ready();
}

void session::on_readonly() {
  if (draining_ || closed_) return;
  owner_.log().debug(
      "own upstream connection answered -READONLY; closing its client after "
      "its replies");
  owner_.upstream_readonly();
  drain();
}

void session::on_accounting_lost() {
  owner_.log().warn("reply accounting lost; relaying without counting from here on");
}

void session::on_upstream_gone(const std::string& why, metrics::error_kind kind) {
  if (own_.ended()) return;
  owner_.log().debug("upstream connection ended ({}); closing its client", why);
  // Redis closing after the client ended or sent QUIT is the ordinary end, not a lost upstream.
  if (kind != metrics::error_kind::upstream_lost || !(client_eof_ || quit_forwarded_)) {
    owner_.stats().error(kind);
  }
  own_.end();
  own_.close_socket();
  ledger_.drop_locals();
  if (!error_after_eof_.empty()) out_.copy(error_after_eof_);
  flush_client();
  maybe_finish();
}

}  // namespace puppy::server
