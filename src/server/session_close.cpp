// Ending a session: closing at once, closing without losing a reply (drain), the idle check.
#include <linux/sockios.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>

#include <boost/asio/post.hpp>

#include "puppy/server/io_util.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/wake_hub.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

using detail::would_block;

namespace {
// How often a closing session checks whether the client has received all its replies.
constexpr std::chrono::milliseconds unsent_poll{10};
}  // namespace

void session::close(const char* why) {
  error_code ec;
  if (closed_) {
    if (lingering_) {
      lingering_ = false;
      client_.close(ec);
    }
    return;
  }
  release(why);
  client_.shutdown(tcp::socket::shutdown_both, ec);
  client_.close(ec);
}

void session::close_lingering(const char* why) {
  if (closed_) return;
  release(why);
  error_code ec;
  client_.shutdown(tcp::socket::shutdown_send, ec);
  lingering_ = true;
  discard_until_eof();
  watch_unsent();
}

void session::watch_unsent() {
  // Once the client has acknowledged every byte sent, a RST can no longer destroy a reply.
  int unsent = 0;
  if (::ioctl(client_.socket().native_handle(), SIOCOUTQ, &unsent) != 0 || unsent == 0) {
    close();
    return;
  }
  linger_timer_.expires_after(unsent_poll);
  linger_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec && self->lingering_) self->watch_unsent();
  });
}

void session::release(const char* why) {
  closed_ = true;
  owner_.log().debug("closing client connection: {}", why);
  own_.close_socket();
  linger_timer_.cancel();
  out_.clear();
  ledger_.drop_locals();
  if (wait_) {
    wait_->timer.cancel();
    // Leave the key's waiters now, not when destroyed: the hub must not pick this session as
    // the one that looks (in a handler of its own: this may run inside the hub's dispatch).
    asio::post(owner_.context(), [&hub = owner_.wakes(), key = wait_->key,
                                  self = shared_from_this()] { hub.remove(key, self.get()); });
  }
  if (backend_) backend_->abandon();
  // Reads others joined will not be answered here now: they read for themselves (in a handler
  // of its own, as this may run inside a shared connection's dispatch).
  std::vector<std::string> led;
  for (const auto& rd : reads_) {
    if (rd.leads) led.push_back(rd.key);
  }
  if (!led.empty()) {
    // (`self` keeps this address from another session until then: the leader is compared.)
    asio::post(owner_.context(),
               [&board = owner_.reads(), led = std::move(led), self = shared_from_this()] {
                 for (const auto& key : led) board.abandon(key, self.get());
               });
  }
}

void session::discard_until_eof() {
  // Read first: the socket may be readable already, and an edge-triggered wait would not fire.
  // The socket itself, under any TLS: what is discarded need not be decrypted.
  char scratch[4096];
  for (;;) {
    error_code ec;
    client_.socket().read_some(asio::buffer(scratch), ec);
    if (would_block(ec)) break;
    if (ec) {
      close();  // EOF: the client has read everything and closed
      return;
    }
  }
  client_.socket().async_wait(tcp::socket::wait_read,
                              [self = shared_from_this()](const error_code& ec) {
                                if (!self->lingering_) return;
                                if (ec) {
                                  self->close();
                                  return;
                                }
                                self->discard_until_eof();
                              });
}

void session::drain() {
  draining_ = true;
  maybe_finish();
}

void session::on_primary_moved() {
  if (routed() || sharing() || closed_) return;
  if (ledger_.passthrough()) {  // subscribed, MONITOR, CLIENT REPLY OFF: no last reply to await
    close_lingering("the primary moved");
    return;
  }
  drain();
}

std::chrono::steady_clock::duration session::idle_for(
    std::chrono::steady_clock::time_point now) const {
  const bool busy =
      !ledger_.answered() || wait_ || out_.slots_open() || ledger_.passthrough() || pinning_;
  return busy ? std::chrono::steady_clock::duration::zero() : now - last_read_;
}

void session::log_client_error(const char* what, const std::string& detail) const {
  error_code ec;
  const auto peer = client_.socket().remote_endpoint(ec);
  const std::string who =
      ec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port());
  if (detail.empty()) {
    owner_.log().info("client {}: {}", who, what);
  } else {
    owner_.log().info("client {}: {} ({})", who, what, detail);
  }
}

}  // namespace puppy::server
