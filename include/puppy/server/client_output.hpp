#pragma once
// What a client is to receive, in request order, and the back-pressure of its socket: the output
// half of the client side, whatever backend answers the requests.
//
// Replies come in three ways. A view of bytes the caller keeps valid until the next write()
// (an upstream's reply relayed from its read buffer, not copied); a copy of bytes made here (an
// error, a PGET's answer); or the answer of a reply slot reserved earlier (a request answered out
// of order: a PGET's second step, every memcached or cluster request). While a slot is open,
// whatever comes after it is held (copied) in reply_order until the slot is answered.
//
// write() gathers everything queued into one writev; what the socket does not take is copied
// into a backlog, so no queued view outlives the write that was meant to send it. While a
// backlog remains, new replies go behind it (write_backlog() drains it once the socket is
// writable). No Asio waits here: the session arms them, and tests use a fake socket.
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/metrics/stats.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/reply_order.hpp"

namespace puppy::server {

class client_output {
 public:
  using slot_id = detail::reply_order::slot_id;

  // `bytes_out` counts every byte queued for the client (the worker's counter; it outlives this).
  explicit client_output(metrics::counter& bytes_out) : bytes_out_(bytes_out) {}

  // ---- replies in request order ----
  // A slot for a reply to come, after everything queued so far.
  slot_id reserve() { return order_.reserve(); }
  // The reply of `slot` (copied if it must wait for an earlier slot); it and what was held
  // behind it go out in order once no earlier slot is open.
  void answer(slot_id slot, std::string_view reply);
  bool slots_open() const { return order_.open(); }
  std::size_t slots() const { return order_.slots(); }
  std::size_t held_bytes() const { return order_.held_bytes(); }

  // ---- replies known now, after everything queued or reserved so far ----
  void copy(std::string_view bytes);
  // `len` bytes at `data`, valid until the next write() or clear(); adjacent views are merged.
  void view(const char* data, std::size_t len);
  // Encoding a reply straight into the output, without a copy: only while no slot is open
  // (may_append()). appending() gives the string to append to; appended(at) queues what was
  // appended since `at`, the size the string had before.
  bool may_append() const { return !order_.open(); }
  std::string& appending() { return local_; }
  void appended(std::size_t at);

  // ---- writing ----
  // Writes what is queued to a non-blocking socket as far as it takes it, and copies the rest
  // into the backlog (also everything, when a backlog or a wait is already there). Returns the
  // socket's error, if any but would_block: the caller closes the client.
  template <class Socket>
  boost::system::error_code write(Socket& socket);
  // Writes the backlog as far as the socket takes it. Returns would_block if some is left (the
  // caller waits for writability), another error if the socket failed, else success.
  template <class Socket>
  boost::system::error_code write_backlog(Socket& socket);
  // The caller waits for the socket to become writable: write() only adds to the backlog.
  void set_waiting(bool on) { waiting_ = on; }
  bool waiting() const { return waiting_; }

  bool queued() const { return !pieces_.empty(); }  // something waits for write()
  std::size_t backlog_size() const { return backlog_.size() - backlog_off_; }
  // Nothing at all to write (slots may still be open).
  bool idle() const { return pieces_.empty() && backlog_size() == 0 && !waiting_; }
  // Forgets what was queued but not written (the client is being closed).
  void clear();

 private:
  struct piece {
    const char* data;  // null: `len` bytes at `offset` of local_
    std::size_t offset;
    std::size_t len;
  };
  void emit(std::string_view bytes);  // appended to local_ and queued
  // After a write that stopped at pieces_[first] + off: the rest into the backlog.
  void keep_unsent(std::size_t first, std::size_t off);
  void backlog_written(std::size_t n);
  void backlog_drained();

  metrics::counter& bytes_out_;
  detail::reply_order order_;  // replies behind a slot still open
  std::vector<piece> pieces_;  // to write at the next write(), in order
  detail::iov_scratch iov_;
  std::string local_;    // bytes of the pieces made here
  std::string backlog_;  // what the socket did not take yet
  std::size_t backlog_off_ = 0;
  bool waiting_ = false;
};

template <class Socket>
boost::system::error_code client_output::write(Socket& socket) {
  std::size_t first = 0;  // first piece not wholly written
  std::size_t off = 0;    // bytes of it already written
  if (!waiting_ && backlog_size() == 0) {
    const auto ec = detail::write_pieces(socket, pieces_, local_.data(), &first, &off, iov_);
    if (!ec) {  // the usual case: all written
      pieces_.clear();
      local_.clear();
      return {};
    }
    if (!detail::would_block(ec)) return ec;
  }
  keep_unsent(first, off);
  return {};
}

template <class Socket>
boost::system::error_code client_output::write_backlog(Socket& socket) {
  while (backlog_size() > 0) {
    boost::system::error_code ec;
    const std::size_t n =
        socket.write_some(boost::asio::buffer(backlog_.data() + backlog_off_, backlog_size()), ec);
    if (ec) return ec;
    backlog_written(n);
  }
  backlog_drained();
  return {};
}

}  // namespace puppy::server
