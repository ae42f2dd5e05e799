#pragma once
// One pipelined connection to one upstream server, for requests that each get exactly one
// response, matched in order: a memcached server of the pool (mc_pool), a Redis Cluster node.
// Connected on first use and again after a failure, with a back-off per server; everything sent
// in one turn of the event loop goes out in one write; a response timeout (reply_watchdog). While
// the server is down, requests are answered at once (asynchronously) with the protocol's
// "unavailable" response, and nothing else is affected.
//
// What the bytes mean is the Protocol's (memcached_protocol in mc_pool.hpp, resp_protocol):
//   using response = ...;                    // handed to a callback, valid during the call only
//   static constexpr const char* what;       // "memcached", "redis node": for logs
//   static constexpr bool redis_login;       // TLS and login as every Redis upstream connection
//   void reset();                            // a new connection: forget a partial response
//   link_parse parse(const char* data, std::size_t size, response* out);
//   // `sent`: the request was written (it may have run) before the connection failed.
//   static response unavailable(std::string_view why, std::string* storage, bool sent);
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "puppy/metrics/stats.hpp"
#include "puppy/net/stream.hpp"
#include "puppy/server/buffer.hpp"
#include "puppy/server/reply_watchdog.hpp"
#include "puppy/server/small_function.hpp"
#include "puppy/upstream/address.hpp"
#include "puppy/upstream/backoff.hpp"

namespace puppy::server {

class worker;

struct link_parse {
  enum class status : std::uint8_t { complete, need_more, invalid } what;
  std::size_t consumed;
};

template <class Protocol>
class pipelined_link {
 public:
  using response = typename Protocol::response;
  // Called with the response, valid only during the call. (A request's callback is kept in
  // place, not allocated: small_function.)
  using done_fn = detail::small_function<void(const response&)>;
  using listen_fn = std::function<void(const response&)>;

  // shared: the response timeout applies (reply_watchdog), and the link connects again after a
  // failure. own: a client's own connection, whose server-side state (a transaction, a WATCH)
  // would not survive a new connection: no timeout (a blocking command may wait for ever), and
  // once failed it stays down (every request answered "unavailable").
  enum class use : std::uint8_t { shared, own };

  pipelined_link(worker& owner, upstream::host_port server, use how = use::shared);
  pipelined_link(const pipelined_link&) = delete;
  pipelined_link& operator=(const pipelined_link&) = delete;

  // Sends one request (which gets exactly one response); `done` runs later, never inside send.
  void send(std::string_view bytes, done_fn done);
  // From now on every response goes to `fn`, in order, and not to the callbacks of send()
  // (which may be empty): a connection whose server also sends what nobody asked for (a
  // subscription's messages). The end of the connection hands `fn` the protocol's "connection
  // lost" response, a send() while it is down the "unavailable" one.
  void listen(listen_fn fn) { listener_ = std::move(fn); }
  // Every connection starts with `request` (HELLO 3, READONLY), whose reply is not handed on;
  // a refusal fails the connection. Before the first send().
  void greet_with(std::string_view request) {
    greeting_.append(request);
    ++greetings_;
  }
  void speak_resp3() { greet_with("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n"); }
  // Counts the requests sent and the connection errors answered in `s` (a cluster node's).
  void count_in(metrics::node_stats* s) { node_stats_ = s; }
  void close();
  // Down, and not to be tried again yet: send() would answer "unavailable" without sending.
  bool down() const;
  std::string name() const { return server_.host + ":" + std::to_string(server_.port); }

 private:
  enum class state : std::uint8_t { idle, connecting, up, down };

  void connect();
  void on_connected(const boost::system::error_code& ec);
  void flush();
  void read();
  // Counts `kind` if the connection was up (a failed connect is counted where it fails).
  void fail(const std::string& why, metrics::error_kind kind = metrics::error_kind::upstream_lost);
  void answer_unavailable(done_fn done, bool sent);

  worker& owner_;
  upstream::host_port server_;
  use use_;
  Protocol protocol_;
  net::stream stream_;
  boost::asio::steady_timer timer_;
  state state_ = state::idle;
  std::uint64_t generation_ = 0;
  upstream::backoff backoff_;
  std::string connect_error_;
  std::string out_;          // waiting to be written
  std::string writing_;      // being written
  std::size_t written_ = 0;  // bytes of writing_ the socket took
  bool write_scheduled_ = false;
  bool write_waiting_ = false;   // the socket took no more: a wait for it is armed
  std::deque<done_fn> waiting_;  // callbacks of requests whose responses have not arrived
  std::deque<done_fn> queued_;   // callbacks of requests waiting for the connection
  listen_fn listener_;           // listen(): every response
  metrics::node_stats* node_stats_ = nullptr;
  std::string greeting_;    // greet_with(): sent first on every connection
  unsigned greetings_ = 0;  // requests in greeting_
  unsigned skip_ = 0;       // their responses still to come
  buffer in_;
  reply_watchdog watchdog_;
  std::uint64_t sent_ = 0;  // requests sent and responses read on the current connection
  std::uint64_t replied_ = 0;
  metrics::rtt_sampler rtt_;
};

}  // namespace puppy::server
