#pragma once
// A connection's byte stream: a TCP socket, optionally carrying TLS, with the semantics of a
// non-blocking socket, so that the server's reactor-style I/O works on both unchanged:
// read_some/write_some are tried at once and fail with would_block, and only then does the
// caller wait (async_wait_readable / async_wait_writable) before trying again.
//
// Without TLS every call is the socket's own behind one branch on a null SSL*: writes gather
// buffers into one writev as before. With TLS (OpenSSL, an SSL object per connection over the
// socket's descriptor, its SSL_CTX from tls_context.hpp):
//  * A read decrypts until the buffer is full or OpenSSL needs more from the socket, so a short
//    read still means "drained": a caller may stop reading and arm a wait exactly as after a
//    short plain read. (A single SSL_read returns one record: stopping there would cost a wait
//    and a wake-up per 16 KiB record.) What OpenSSL took from the socket but could not hand out
//    yet (a failure after good bytes) no socket event will announce: async_wait_readable then
//    completes at once.
//  * A write encrypts one record (at most max_record bytes, small buffers gathered) and reports
//    the bytes it consumed only once OpenSSL took them. After would_block the caller must call
//    again starting with the same bytes (they may have moved, e.g. into a backlog); the retry
//    sends the stream's own copy of what OpenSSL was given, as OpenSSL requires.
//  * Reading may need the socket writable and writing readable (handshake): each async_wait_*
//    waits for what OpenSSL asked for last in that direction.
//  * The handshake runs within the first reads and writes, or step by step with handshake().
// The socket must be non-blocking. A stream is used from one thread. OpenSSL writes with
// write(2), so the process must ignore SIGPIPE (main() does).
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstddef>
#include <iterator>
#include <string>

struct ssl_st;

namespace puppy::net {

class tls_context;

class stream {
 public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;
  // Plaintext bytes per TLS write: one record (TLS's maximum fragment).
  static constexpr std::size_t max_record = 16 * 1024;

  explicit stream(boost::asio::io_context& ioc) : socket_(ioc) {}
  explicit stream(tcp::socket socket) : socket_(std::move(socket)) {}
  ~stream();
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  tcp::socket& socket() { return socket_; }
  const tcp::socket& socket() const { return socket_; }
  bool tls() const { return ssl_ != nullptr; }

  // Starts TLS on the connected, non-blocking socket as the server; the handshake runs within
  // the first reads and writes. False (and ec) if OpenSSL cannot make the connection's state.
  bool accept_tls(const tls_context& ctx, error_code& ec);
  // Starts TLS as the client: SNI and the name the server's certificate must carry come from
  // `ctx`. Then call handshake() until it succeeds.
  bool connect_tls(const tls_context& ctx, error_code& ec);
  // One non-blocking step of the handshake: success once it is done, would_block (wait with
  // async_wait_readable, which waits for what OpenSSL needs), or why it failed (describe()).
  void handshake(error_code& ec);

  // As tcp::socket::read_some on a non-blocking socket: bytes read, or would_block, eof, an
  // error. With TLS, a failure after some bytes is reported by the next call.
  std::size_t read_some(const boost::asio::mutable_buffer& buffer, error_code& ec) {
    if (ssl_ == nullptr) return socket_.read_some(buffer, ec);
    return tls_read(buffer, ec);
  }

  // As tcp::socket::write_some on a non-blocking socket. With TLS see above: after would_block
  // the next call must start with the same bytes.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, error_code& ec) {
    if (ssl_ == nullptr) return socket_.write_some(buffers, ec);
    return tls_write_some(buffers, ec);
  }

  // Calls h(error_code) once a read may make progress (the socket readable, or writable if TLS
  // asked for that; at once if a TLS failure waits to be reported).
  template <class Handler>
  void async_wait_readable(Handler&& h) {
    if (ssl_ != nullptr && deferred_) {
      boost::asio::post(socket_.get_executor(),
                        [h = std::forward<Handler>(h)]() mutable { h(error_code()); });
      return;
    }
    socket_.async_wait(read_wants_, std::forward<Handler>(h));
  }
  // Calls h(error_code) once a write may make progress.
  template <class Handler>
  void async_wait_writable(Handler&& h) {
    socket_.async_wait(write_wants_, std::forward<Handler>(h));
  }

  // As the socket's shutdown(); ending the sending direction first sends TLS's close_notify
  // (one non-blocking attempt, best effort).
  void shutdown(tcp::socket::shutdown_type what, error_code& ec);
  // Closes the socket (TLS: close_notify attempted first, if not sent yet) and forgets the TLS
  // state; the stream may connect again.
  void close(error_code& ec);

  // An error this stream reported, for a log or an error reply: OpenSSL's reason, and for a
  // failed certificate check the check's verdict ("certificate verify failed (hostname
  // mismatch)").
  std::string describe(const error_code& ec) const;
  // Whether `ec` is a TLS failure (OpenSSL's), not the socket's.
  static bool is_tls_error(const error_code& ec);

 private:
  bool start_tls(const tls_context& ctx, error_code& ec);
  std::size_t tls_read(const boost::asio::mutable_buffer& buffer, error_code& ec);
  std::size_t tls_write(const void* data, std::size_t len, error_code& ec);
  // write_some with TLS: one record from the buffers. Never inlined, so that write_some, which
  // is, stays the socket's own call plus one branch.
  template <class ConstBufferSequence>
  [[gnu::noinline]] std::size_t tls_write_some(const ConstBufferSequence& buffers, error_code& ec) {
    if (retry_) return tls_write(staged_.data(), staged_.size(), ec);
    auto it = boost::asio::buffer_sequence_begin(buffers);
    const auto end = boost::asio::buffer_sequence_end(buffers);
    while (it != end && boost::asio::const_buffer(*it).size() == 0) ++it;
    if (it == end) {
      ec = {};
      return 0;
    }
    const boost::asio::const_buffer first(*it);
    if (first.size() >= max_record || std::next(it) == end) {
      return tls_write(first.data(), std::min(first.size(), max_record), ec);  // no copy
    }
    staged_.clear();
    for (; it != end && staged_.size() < max_record; ++it) {
      const boost::asio::const_buffer b(*it);
      staged_.append(static_cast<const char*>(b.data()),
                     std::min(b.size(), max_record - staged_.size()));
    }
    return tls_write(staged_.data(), staged_.size(), ec);
  }
  // The outcome of a failed SSL_* call; sets *wants for would_block.
  error_code failure(tcp::socket::wait_type* wants);
  void close_notify();
  void free_tls();

  tcp::socket socket_;
  ssl_st* ssl_ = nullptr;
  tcp::socket::wait_type read_wants_ = tcp::socket::wait_read;
  tcp::socket::wait_type write_wants_ = tcp::socket::wait_write;
  error_code deferred_;     // a read failure after bytes, reported by the next read
  bool retry_ = false;      // OpenSSL was given staged_ and must get it again
  bool broken_ = false;     // a fatal TLS error: OpenSSL forbids even a close_notify now
  std::string staged_;      // gathered small buffers, or the bytes of a write to retry
  long verify_result_ = 0;  // X509_V_OK, or why the peer's certificate was refused
};

}  // namespace puppy::net
