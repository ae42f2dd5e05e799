#pragma once
// A blocking RESP client over a raw socket (or TLS over it) that returns replies as the exact
// bytes received.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/resp/reply_scanner.hpp"

struct ssl_st;
struct ssl_ctx_st;

namespace puppy::test {

using namespace std::chrono_literals;

// Encodes arguments as a RESP multibulk request.
std::string encode(const std::vector<std::string>& args);

struct client_options {
  // TLS (OpenSSL, the handshake done in the constructor, which throws if it fails).
  bool tls = false;
  std::string ca_file;    // CAs the server's certificate must be signed by; empty: unchecked
  std::string cert_file;  // a client certificate and its key, if the server asks for one
  std::string key_file;
  std::string server_name;  // SNI; empty: none
  // SO_RCVBUF before connecting (0: the system's): a small one makes the server's writes to
  // this client stop often (would_block, TLS's WANT_WRITE) while it reads.
  int receive_buffer = 0;
};

// Waits (up to 10 s) until the Redis at `redis_port` reports `blocked` clients blocked in a
// command, so a blocking request has been forwarded and is being executed.
bool redis_has_blocked(std::uint16_t redis_port, int blocked);

class raw_client {
 public:
  explicit raw_client(std::uint16_t port, const client_options& options = {});
  ~raw_client();
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send(std::string_view bytes);
  // The bytes of the next whole top-level reply (a push counts as one). Throws std::runtime_error
  // if the connection closes first or nothing complete arrives within `timeout`.
  std::string read_reply(std::chrono::milliseconds timeout = 10s);
  // n replies, concatenated.
  std::string read_replies(std::size_t n, std::chrono::milliseconds timeout = 30s);
  // Sends a request and returns its reply.
  std::string call(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10s);
  // One line, CRLF included (for memcached's text protocol). Throws on close or timeout.
  std::string read_line(std::chrono::milliseconds timeout = 10s);
  // Everything until the peer closes (throws on timeout).
  std::string read_until_closed(std::chrono::milliseconds timeout = 10s);
  // Whether a reply (or any byte) arrives within `timeout`; does not consume it.
  bool has_data(std::chrono::milliseconds timeout);
  void shutdown_write();  // with TLS, close_notify first
  int fd() const { return fd_; }

 private:
  // Reads more bytes into buf_; false on EOF, throws on timeout.
  bool fill(std::chrono::steady_clock::time_point deadline);
  // TLS (client_tls.cpp).
  void start_tls(const client_options& options, std::uint16_t port);
  void send_tls(std::string_view bytes);
  bool fill_tls(std::chrono::steady_clock::time_point deadline);
  bool tls_pending() const;
  void send_close_notify();

  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  std::string buf_;
  std::size_t scanned_ = 0;  // bytes of buf_ the scanner has seen
  resp::reply_scanner scanner_;
};

// Whether a server answers PING on `port` (+PONG, or -NOAUTH from one with requirepass).
bool answers_ping(std::uint16_t port, const client_options& options = {});

// A connection made again whenever it is lost, for polling a server many times a second (a new
// connection per poll would leave thousands of sockets in TIME_WAIT).
class polled_connection {
 public:
  // `password`: sent with AUTH on every new connection (empty: none).
  explicit polled_connection(std::uint16_t port, std::string password = "",
                             client_options options = {});
  // The reply, or "" if the server cannot be reached or does not answer within `timeout`.
  std::string call(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 2s);

 private:
  std::uint16_t port_;
  std::string password_;
  client_options options_;
  std::unique_ptr<raw_client> c_;
};

// The bulk strings of an array reply made of bulk strings (COMMAND GETKEYS, KEYS, SCAN's keys).
std::vector<std::string> bulk_strings(const std::string& reply);

// The value of one sample of the proxy's metrics ("name{labels}"), read with PUPPY STATS on a
// connection of its own; -1 if absent.
double proxy_metric(std::uint16_t proxy_port, const std::string& sample);

}  // namespace puppy::test
