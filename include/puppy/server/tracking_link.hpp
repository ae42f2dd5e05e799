#pragma once
// The near cache's connection to one Redis: RESP3 (HELLO 3) with CLIENT TRACKING ON, so that
// Redis tells it when any key it read changes, expires, is evicted or leaves Redis's tracking
// table. One per worker (to the upstream) or, in front of a Redis Cluster, one per worker and
// master it fills from (cluster_nodes::tracking_for). The near cache's fills are read on this
// connection itself: a reply and the invalidation pushes share one ordered stream, so an
// invalidation can never overtake the read it concerns (the race of two-connection tracking).
// Writes through this proxy are handled apart, by the write generations (cache/write_gens.hpp),
// without waiting for Redis.
//
// Opened by the first fill, never by itself; when it is lost every copy of the worker is dropped
// (what changed meanwhile is unknown) and the next fill opens it again. A connection that stalls
// without closing (a partition) would silence the invalidations: while up it sends PING every
// heartbeat_interval, and one unanswered for heartbeat_timeout counts as lost.
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cache/near_cache.hpp"
#include "puppy/net/stream.hpp"
#include "puppy/server/reply_reader.hpp"
#include "puppy/upstream/address.hpp"

namespace puppy::server {

class worker;

class tracking_link {
 public:
  // To `target` (an empty host: where the upstream is now, async_connect_upstream), with TLS and
  // login as every upstream connection (upstream_start.hpp).
  // `keep_missing`: whether a GET fill of a key that does not exist is kept (a nil copy). Not in
  // front of a cluster: a missing key leaves nothing on its node that a slot migration deletes,
  // so no invalidation would tell of a write made on the slot's new node.
  tracking_link(worker& owner, upstream::host_port target, bool keep_missing = true);
  tracking_link(const tracking_link&) = delete;
  tracking_link& operator=(const tracking_link&) = delete;

  // Reads `key` and its status key (MGET) into the near cache if the value is fresh, unless a
  // fill of the key is in flight. `taken`: the key's write generations from before the PGET's
  // own read, so that a write since refuses the copy.
  void fill_pget(std::string_view key, std::string_view status_key, const cache::stamp& taken);
  // Reads `key` (GET) into the near cache.
  void fill_get(std::string_view key, const cache::stamp& taken);
  // Whether fills are read and invalidations heard now.
  bool up() const { return state_ == state::up; }
  // Ends the connection as if it was lost (every copy dropped), unless it is not open.
  void drop(const std::string& why);
  void close();

 private:
  enum class state : std::uint8_t { idle, connecting, starting, up };
  struct fill {
    cache::space space;
    std::string key;
    cache::stamp taken;
  };
  // Most fills queued while the connection is being made; more are dropped.
  static constexpr std::size_t max_waiting = 4096;
  static constexpr std::chrono::milliseconds heartbeat_interval{1000};
  static constexpr std::chrono::milliseconds heartbeat_timeout{3000};
  // What a reply in the stream answers.
  enum class reply_for : std::uint8_t { pget, get_value, get_ttl, ping };
  struct awaited {
    reply_for what;
    fill f;
  };

  void request(cache::space s, std::string_view key, std::string_view status_key,
               const cache::stamp& taken);
  void send_fill(const fill& f, std::string_view status_key);
  void connect();
  void on_connected(const boost::system::error_code& ec);
  void on_ready(const boost::system::error_code& ec, const std::string& why);
  void write();
  void read();
  void on_message(std::string_view bytes, bool push);
  void on_invalidation(std::string_view bytes);
  void on_fill_reply(const awaited& a, std::string_view bytes);
  void heartbeat();
  void lost(const std::string& why);

  worker& owner_;
  upstream::host_port target_;
  bool keep_missing_;
  net::stream socket_;
  boost::asio::steady_timer timer_;
  state state_ = state::idle;
  std::uint64_t generation_ = 0;
  std::string out_;
  std::size_t out_off_ = 0;
  bool write_waiting_ = false;
  detail::reply_reader reader_;    // replies and invalidation pushes
  unsigned handshake_left_ = 0;    // replies to HELLO 3 and CLIENT TRACKING ON still to come
  std::deque<awaited> in_flight_;  // sent, their replies awaited in order
  boost::asio::steady_timer heartbeat_;
  bool ping_outstanding_ = false;
  std::chrono::steady_clock::time_point ping_sent_;
  std::optional<std::string> got_value_;  // a GET fill's value, until its PTTL comes
  bool got_ok_ = false;
  std::vector<std::pair<fill, std::string>> waiting_;  // (fill, status key) asked while starting
  std::vector<std::string_view> keys_;                 // scratch for invalidated keys
  std::vector<std::string_view> data_keys_;
};

}  // namespace puppy::server
