// Reading the client: non-blocking reads tried at once, and a receive (plain TCP) or a readiness
// wait (TLS) armed only when the kernel says it would block.
#include <boost/asio/post.hpp>
#include <cstring>

#include "puppy/server/io_util.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t min_read = 4 * 1024;  // never read into less room than this
// What a client waiting for a PGET ... WAIT's answer may send meanwhile before the proxy stops
// reading it (its end is no longer seen then until the wait is over).
constexpr std::size_t max_read_while_waiting = 64 * 1024;

}  // namespace

using detail::would_block;

// ---- reading the client -------------------------------------------------------------------------

bool session::may_read_client() const {
  return !lent_ && may_receive();
}

bool session::may_receive() const {
  // While a PGET ... WAIT waits, what follows it is read (to see the client go) but not
  // framed, up to max_read_while_waiting bytes.
  return !closed_ && !client_eof_ && !close_after_replies_ && !round_pending_ &&
         (!wait_ || in_.size() < max_read_while_waiting) && !draining_ && !reframe_pending_ &&
         (!routed() || out_.slots() < 1024) && !pinning_ && !own_.ended() &&
         out_.backlog_size() + out_.held_bytes() <= owner_.config().max_pending_output &&
         link_->accepting();
}

void session::pump_client() {
  for (int turn = 0; turn < detail::max_read_turns; ++turn) {
    if (!may_read_client()) {
      if (!closed_ && !link_->accepting()) link_->wake_when_accepting();
      // in_ is lent for a moment: a receive into the side buffer may wait meanwhile.
      if (lent_ && may_receive() && !client_rx_.readable && client_rx_.parked == 0) {
        arm_client_wait();
      }
      return;
    }
    if (client_rx_.parked > 0) {
      // What the armed receive took from the socket, handled as if read just now.
      const std::size_t n = std::exchange(client_rx_.parked, 0);
      take_client_bytes(client_rx_.side.data(), n);
      on_client_bytes();
      continue;
    }
    if (!client_rx_.readable) {
      arm_client_wait();
      return;
    }
    in_.reserve(min_read);
    const std::size_t want = in_.free();
    error_code ec;
    const std::size_t n = client_.read_some(asio::buffer(in_.end(), want), ec);
    if (would_block(ec)) {
      client_rx_.readable = false;
      arm_client_wait();
      return;
    }
    if (ec) {
      if (ec == asio::error::eof) {
        on_client_eof();
      } else {
        // Also how a TLS client that fails the handshake (or a plain one on the TLS port) ends.
        log_client_error("read failed; connection closed", client_.describe(ec));
        close("client read failed");
      }
      return;
    }
    in_.commit(n);
    owner_.stats().bytes_in.add(n);
    last_read_ = std::chrono::steady_clock::now();
    on_client_bytes();  // forward first: the upstream matters more than re-arming
    if (n < want) {
      // Drained for now; arm the wait before this handler returns, so no wake-up is missed.
      client_rx_.readable = false;
      arm_client_wait();
    }
  }
  asio::post(owner_.context(), [self = shared_from_this()] { self->resume(); });
}

void session::take_client_bytes(const char* data, std::size_t n) {
  in_.reserve(n);
  std::memcpy(in_.end(), data, n);
  in_.commit(n);
  owner_.stats().bytes_in.add(n);
  last_read_ = std::chrono::steady_clock::now();
}

void session::arm_client_wait() {
  if (client_rx_.wait_pending || closed_) return;
  client_rx_.wait_pending = true;
  if (!client_.tls()) {
    // Plain TCP: a receive, started once the handlers ready now have run. Asio tries it at once
    // (speculatively); by then a client that was just answered has often sent its next request,
    // so it costs one recv and no epoll_ctl, which waiting for readability (async_wait) costs
    // every time. Else it waits in the reactor, which then does the recv.
    asio::post(owner_.context(), [self = shared_from_this()] { self->start_client_receive(); });
    return;
  }
  client_.async_wait_readable([self = shared_from_this()](const error_code&) {
    self->client_rx_.wait_pending = false;
    if (self->closed_) return;
    self->client_rx_.readable = true;  // an error shows up in the read that follows
    self->resume();
  });
}

void session::on_client_bytes() {
  if (own_.ended()) {
    maybe_finish();  // the upstream went away: its client is closed, not answered
    return;
  }
  if (on_own()) {  // a shared connection is opened by the first request that needs it
    if (own_.current() == own_link::state::down &&
        owner_.upstream_backoff().may_attempt(std::chrono::steady_clock::now())) {
      connect_upstream();
    }
    if (own_.connecting()) {
      round_pending_ = true;  // processed once the connection attempt ends
      return;
    }
  }
  process_requests();
}

void session::on_shared_ready() {
  if (closed_) return;
  if (round_pending_ && sharing()) {
    if (shared_.connecting()) {
      // Woken for another reason (its backlog drained) while still being opened or moved: wait
      // on. (The connection's list of waiters is all that keeps this session alive meanwhile.)
      shared_.wake_me();
      return;
    }
    round_pending_ = false;
    process_requests();
  }
  resume();
}

void session::start_client_receive() {
  if (closed_) {
    client_rx_.wait_pending = false;
    return;
  }
  auto& side = client_rx_.side;
  client_.socket().async_receive(asio::buffer(side.data(), side.size()),
                                 [self = shared_from_this()](const error_code& ec, std::size_t n) {
                                   auto& rx = self->client_rx_;
                                   rx.wait_pending = false;
                                   if (self->closed_) return;
                                   rx.parked = ec ? 0 : n;
                                   // A full side buffer may have left more; an error or EOF shows
                                   // up in the next read.
                                   rx.readable = ec || n == rx.side.size();
                                   self->resume();
                                 });
}

}  // namespace puppy::server
