#pragma once
// The memcached servers behind a worker: one pipelined connection to each (requests are written
// in order, responses matched in order), reconnected with a per-server back-off, and ketama
// placement of keys. A server that is down answers its requests with code::unavailable at once
// (asynchronously); the other servers are not affected, and keys are not moved elsewhere.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "puppy/memcached/ketama.hpp"
#include "puppy/memcached/response.hpp"
#include "puppy/metrics/stats.hpp"
#include "puppy/server/buffer.hpp"
#include "puppy/server/reply_watchdog.hpp"
#include "puppy/upstream/backoff.hpp"

namespace puppy::server {

class worker;

class mc_connection {
 public:
  // Called with the response, valid only during the call.
  using done_fn = std::function<void(const memcached::response&)>;

  mc_connection(worker& owner, memcached::ketama_server server);
  mc_connection(const mc_connection&) = delete;
  mc_connection& operator=(const mc_connection&) = delete;

  // Sends one memcached command (which gets exactly one response); `done` runs later.
  void send(std::string_view bytes, done_fn done);
  void close();
  std::string name() const;

 private:
  enum class state : std::uint8_t { idle, connecting, up, down };

  void connect();
  void on_connected(const boost::system::error_code& ec);
  void flush();
  void read();
  // Counts `kind` if the connection was up (a failed connect is counted where it fails).
  void fail(const std::string& why, metrics::error_kind kind = metrics::error_kind::upstream_lost);
  void answer_unavailable(done_fn done);

  worker& owner_;
  memcached::ketama_server server_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  state state_ = state::idle;
  std::uint64_t generation_ = 0;
  upstream::backoff backoff_;
  std::string connect_error_;
  std::string out_;      // waiting to be written
  std::string writing_;  // being written
  bool write_scheduled_ = false;
  std::deque<done_fn> waiting_;  // callbacks of requests whose responses have not arrived
  std::deque<done_fn> queued_;   // callbacks of requests waiting for the connection
  buffer in_;
  reply_watchdog watchdog_;
  std::uint64_t sent_ = 0;  // requests sent and responses read on the current connection
  std::uint64_t replied_ = 0;
  metrics::rtt_sampler rtt_;
};

class mc_pool {
 public:
  mc_pool(worker& owner, const std::vector<memcached::ketama_server>& servers,
          memcached::key_hash hash);
  std::size_t size() const { return servers_.size(); }
  mc_connection& at(std::size_t i) { return *servers_[i]; }
  mc_connection& for_key(std::string_view key) { return *servers_[ring_.server_for(key)]; }
  void close();

 private:
  std::vector<std::unique_ptr<mc_connection>> servers_;
  memcached::ketama ring_;
};

}  // namespace puppy::server
