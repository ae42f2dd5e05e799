#pragma once
// A client's own upstream connection (a pinned client: its bytes pass through unchanged, the
// zero-copy path): the connection itself (connected under the configured timeout, then TLS and
// the login, upstream_start.hpp), the requests waiting to be written (views of the client's
// read buffer, not copied, or bytes of the proxy's own) and the buffer replies are read into.
// What the replies mean (counting, captured replies, relaying) is the session's business.
//
// The session owns it as a member; the handlers given to connect() and the waits must keep the
// session (and so this link) alive, as Asio handlers capturing shared_from_this() do.
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "puppy/net/stream.hpp"
#include "puppy/server/buffer.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/redis_link.hpp"

namespace puppy::server {

class worker;

class own_link final : public redis_link {
 public:
  explicit own_link(worker& owner);
  own_link(const own_link&) = delete;
  own_link& operator=(const own_link&) = delete;

  // ---- the connection ----
  // none: never tried; down: failed, or not tried because of the upstream's back-off; closed:
  // it ended, and the session with it.
  enum class state : std::uint8_t { none, connecting, up, down, closed };
  state current() const { return state_; }
  bool up() const override { return state_ == state::up; }
  bool connecting() const override { return state_ == state::connecting; }
  bool ended() const { return state_ == state::closed; }
  // Whether the PGET script is known to this connection (sent with SCRIPT LOAD since it came up).
  bool scripts_loaded() const override { return scripts_loaded_; }
  void set_scripts_loaded(bool on) override { scripts_loaded_ = on; }
  // As a redis_link: it takes every request, also the head of one still arriving (passed on as
  // it comes), and is opened by the session (connect()) before requests are framed for it.
  bool takes(const resp::command_spec&, std::size_t) const override { return true; }
  bool whole_requests_only() const override { return false; }
  admission admit(const resp::command_spec&, std::size_t) override {
    return up() ? admission::go : admission::down;
  }
  bool accepting() const override { return !blocked_; }
  void wake_when_accepting() override {}  // the write's wait resumes the session
  bool forward(const char* data, std::size_t len, std::uint32_t) override {
    if (up()) queue_view(data, len);
    return false;
  }
  // (Written by the session's next flush.)
  void send_copy(std::string_view bytes, std::uint32_t) override { queue_copy(bytes); }
  // Starts connecting; done(ec) runs once the socket is connected, secured and logged in, or
  // failed. Nothing is done with the result until settle(). `keep` (the link's owner) is held
  // by the handlers until they ran.
  void connect(std::shared_ptr<void> keep,
               std::function<void(const boost::system::error_code&)> done);
  // Takes the result of connect() (its `ec`): up, or down (the worker counts the failure and
  // backs off: worker::upstream_connected). Returns whether it is up.
  bool settle(const boost::system::error_code& ec);
  // Why the last connect failed, for the error reply ("timed out", "TLS handshake failed: ...").
  const std::string& connect_error() const { return connect_error_; }
  void mark_down() { state_ = state::down; }
  // Ends it for good (the session closes): a connect in flight goes on, its result unused.
  void end() { state_ = state::closed; }
  // Closes the socket (the session is closing); the state is left as it is.
  void close_socket();
  // Ends the sending direction: the upstream sees the client's end and closes after its replies.
  void shutdown_send();
  net::stream& stream() { return socket_; }

  // ---- requests out ----
  // `len` bytes at `data`, valid until the write that sends them (the session does not touch
  // its read buffer meanwhile); merged with the previous view when adjacent.
  void queue_view(const char* data, std::size_t len) {
    if (len == 0) return;
    if (!out_.empty() && out_.back().data != nullptr &&
        out_.back().data + out_.back().len == data) {
      out_.back().len += len;
      return;
    }
    out_.push_back({data, 0, len});
  }
  void queue_copy(std::string_view bytes);
  bool queued() const { return !out_.empty(); }
  // Writes what is queued as far as the socket takes it; all written: the queue is empty.
  // would_block: the rest stays queued, and the caller waits with wait_writable(). Another
  // error: the connection failed.
  boost::system::error_code write();
  // Whether a write is waiting for the socket to take more (wait_writable() armed).
  bool blocked() const { return blocked_; }
  template <class Handler>
  void wait_writable(Handler&& done);

  // ---- replies in ----
  // Whether the socket may have bytes (else a wait is needed first).
  bool readable() const { return readable_; }
  // Reads into the reply buffer from its start: bytes read, at data(); with would_block, 0 and
  // readable() becomes false; eof or another error: the connection ended.
  std::size_t read(boost::system::error_code& ec) {
    const std::size_t n = socket_.read_some(boost::asio::buffer(in_.data(), in_.capacity()), ec);
    if (detail::would_block(ec)) readable_ = false;
    return ec ? 0 : n;
  }
  const char* data() const { return in_.data(); }
  std::size_t room() const { return in_.capacity(); }  // the most one read() takes
  // The socket stopped having bytes for now (a short read), or has some again (a wait ended).
  void drained() { readable_ = false; }
  void mark_readable() { readable_ = true; }
  // Waits until the socket is readable (unless a wait is armed already); then done().
  template <class Handler>
  void wait_readable(Handler&& done);

 private:
  struct piece {
    const char* data;  // null: `len` bytes at `offset` of owned_
    std::size_t offset;
    std::size_t len;
  };

  worker& owner_;
  net::stream socket_;
  boost::asio::steady_timer connect_timer_;
  state state_ = state::none;
  std::uint64_t attempt_ = 0;  // connect() calls: a timer's completion knows its own
  std::string connect_error_;
  std::vector<piece> out_;
  std::string owned_;
  std::size_t out_index_ = 0;
  std::size_t out_off_ = 0;
  detail::iov_scratch iov_;
  bool blocked_ = false;
  bool scripts_loaded_ = false;
  bool readable_ = true;
  bool read_wait_ = false;
  buffer in_;
};

template <class Handler>
void own_link::wait_writable(Handler&& done) {
  blocked_ = true;
  socket_.async_wait_writable(
      [this, done = std::forward<Handler>(done)](const boost::system::error_code& ec) mutable {
        blocked_ = false;
        done(ec);
      });
}

template <class Handler>
void own_link::wait_readable(Handler&& done) {
  if (read_wait_) return;
  read_wait_ = true;
  socket_.async_wait_readable(
      [this, done = std::forward<Handler>(done)](const boost::system::error_code& ec) mutable {
        read_wait_ = false;
        done(ec);
      });
}

}  // namespace puppy::server
