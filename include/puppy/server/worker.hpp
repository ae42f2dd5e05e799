#pragma once
// One worker thread: an io_context that owns its client sessions and their upstream connections,
// the upstream back-off shared by those sessions, and a registry used to close them at shutdown.
#include <spdlog/logger.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "puppy/cache/near_cache.hpp"
#include "puppy/memcached/ketama.hpp"
#include "puppy/metrics/stats.hpp"
#include "puppy/net/tls_context.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/resp/limits.hpp"
#include "puppy/server/read_board.hpp"
#include "puppy/upstream/address.hpp"
#include "puppy/upstream/backoff.hpp"
#include "puppy/upstream/primary.hpp"

namespace puppy::net {
class stream;
}

namespace puppy::server {

class session;
class shared_upstream;
class wake_hub;
class mc_pool;
class cluster_nodes;
class shard_wakes;
class tracking_link;

// What sessions need to know; the same for every worker. Fixed at start-up but for the fields
// copy_reloadable() names, which a SIGHUP may change (docs/operations.md).
struct settings {
  resp::request_limits limits;
  std::size_t max_reply_depth = resp::default_max_reply_depth;
  upstream::host_port upstream;
  // Where a Redis upstream's connections go now (async_connect_upstream): with Redis Sentinel,
  // the primary the sentinels named last (sentinel_watch); else `upstream`'s host, resolved at
  // every connection. Null (a cluster, memcached): `upstream`.
  std::shared_ptr<upstream::primary> primary;
  std::chrono::milliseconds connect_timeout{2000};
  // A shared Redis connection or memcached server with a request unanswered this long is taken
  // as failed (0: no limit). Clients' own connections have none, like Redis (BLPOP 0 waits).
  std::chrono::milliseconds response_timeout{10000};
  std::chrono::milliseconds retry_min{50};
  std::chrono::milliseconds retry_max{2000};
  // Upstream connections each worker shares among clients that use only shareable commands;
  // 0 gives every client its own connection from the start.
  unsigned shared_connections = 1;
  // A request bigger than this is not buffered for a shared connection: it pins its client.
  std::size_t max_shared_request = 512 * 1024;
  // Output waiting for a client (or requests for a shared connection) beyond which reading from
  // the side that produces it pauses until it drains.
  std::size_t max_pending_output = 1024 * 1024;
  // Output waiting for a client beyond which the client is disconnected (0: no limit). Only
  // replies from a shared connection, which cannot pause for one client, can grow this far.
  std::size_t client_output_limit = 256 * 1024 * 1024;
  // Sent first on every upstream connection and its reply checked (AUTH [user] password);
  // empty: nothing. Never logged.
  std::string upstream_login;
  // After the login, ROLE is asked and a node that is not the master refused (the connection
  // fails): --upstream-require-primary, one Redis without Sentinel.
  bool require_primary = false;
  // TLS towards the upstream (rediss:// or --upstream-tls): every upstream connection does the
  // handshake before anything else. Null: plain TCP. (memcached upstreams are always plain.)
  std::shared_ptr<const net::tls_context> upstream_tls;
  // TLS towards the clients of the TLS listener (--tls-listen). Null: no TLS listener.
  std::shared_ptr<const net::tls_context> client_tls;
  // The proxy's own password (requirepass); empty: none. Clients AUTH to the proxy, and
  // AUTH/HELLO AUTH never reach the upstream.
  std::string requirepass;
  // Most client connections at once (Redis's maxclients); more are told so and closed.
  std::size_t max_clients = 10000;
  // Close a client idle this long (0: never), as Redis's `timeout` (not subscribed or blocked
  // ones).
  std::chrono::seconds idle_timeout{0};
  // On SIGTERM/SIGINT, how long in-flight requests may take to be answered before clients close.
  std::chrono::milliseconds drain_timeout{5000};
  // The PGET family: default times, key naming, wake-up channel.
  pget::defaults pget_defaults;
  pget::key_rules pget_keys;
  // The near cache: bytes per worker (0: off), the GET/MGET prefixes it also caches, and the
  // write generations all workers share (set when the near cache is on).
  std::size_t near_cache_budget = 0;
  std::vector<std::string> near_cache_prefixes;
  std::shared_ptr<cache::write_gens> write_gens;
  // A memcached upstream (memcached://...) instead of Redis: its servers and key placement.
  bool memcached = false;
  std::vector<memcached::ketama_server> memcached_servers;
  memcached::key_hash memcached_hash = memcached::key_hash::md5;
  // A Redis Cluster upstream (redis-cluster://...): its seed nodes, and how long a request may
  // wait for a slot to be served again (a failover, TRYAGAIN, CLUSTERDOWN) before the error is
  // returned.
  bool cluster = false;
  std::vector<upstream::host_port> cluster_seeds;
  std::chrono::milliseconds cluster_retry_timeout{5000};
  // How often the topology is read again when nothing prompted it.
  std::chrono::milliseconds cluster_refresh_interval{10000};
  // A primary found through Redis Sentinel (redis-sentinel://): the sentinels (resolved), the
  // name they know it by, and the AUTH they want (RESP; empty: none). `primary` follows it.
  std::vector<upstream::host_port> sentinels;
  std::string sentinel_master;
  std::string sentinel_login;
  // Where reads go in a cluster (--read-from).
  enum class read_from : std::uint8_t {
    master,
    replica,
    prefer_replica
  } cluster_reads = read_from::master;
};

// Copies the fields a configuration reload may change: limits, PGET defaults, timeouts.
void copy_reloadable(const settings& from, settings* to);

class worker {
 public:
  // `clients` counts the client connections of all workers.
  worker(unsigned id, const settings& config, std::shared_ptr<spdlog::logger> log,
         std::atomic<std::size_t>& clients);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned id() const { return id_; }
  boost::asio::io_context& context() { return ioc_; }
  const settings& config() const { return config_; }
  spdlog::logger& log() { return *log_; }
  upstream::backoff& upstream_backoff() { return backoff_; }
  // Records the outcome of an attempt to connect to the upstream and start the connection
  // (back-off, one log line per outage); closes the stream on failure. `detail` overrides the
  // error's text (e.g. "timed out", "TLS handshake failed: ..."). Returns whether it is usable.
  bool upstream_connected(const boost::system::error_code& ec, const std::string& detail,
                          net::stream& stream);
  // A connection to the upstream got -READONLY (it is no longer the primary): counted, and with
  // Sentinel the sentinels are asked again (their watch then moves every connection). Returns
  // whether the connection should move by itself (a fixed upstream: connecting again resolves
  // its name again).
  bool upstream_readonly();
  wake_hub& wakes() { return *wakes_; }
  // The near cache (off when config().near_cache_budget is 0), its tracking connection, and the
  // write generations all workers share.
  cache::near_cache& near() { return near_; }
  tracking_link& tracking() { return *tracking_; }
  cache::write_gens& gens() { return *gens_; }
  bool near_on() const { return near_.enabled(); }
  // Concurrent PGET reads of one key share one (with the near cache on).
  read_board& reads() { return board_; }
  // This worker's counters; only this worker's thread writes them (metrics/stats.hpp).
  metrics::worker_stats& stats() { return stats_; }
  const metrics::worker_stats& stats() const { return stats_; }
  // The whole proxy's figures, for PUPPY STATS (set by the server; safe from this thread).
  std::function<std::string()> stats_text;
  // The memcached servers, when the upstream is memcached (else null).
  mc_pool* memcached() { return mc_.get(); }
  // The cluster's nodes and slot map, when the upstream is a Redis Cluster (else null).
  cluster_nodes* cluster() { return cluster_.get(); }
  // PGET ... WAIT's wake-ups through the cluster's shard channels (with a cluster, else null).
  shard_wakes* shard_wake_hub() { return shard_wakes_.get(); }
  // A new lease token: 128 bits from the kernel's random source, as 32 hex characters.
  static constexpr std::size_t token_size = 32;
  void new_token(char* out);
  std::string new_token();
  // beta * -ln(u) for a uniform u in (0, 1]: XFetch's random early-refresh factor.
  double xfetch_factor(double beta);

  // Starts a session for an accepted client socket (a native handle, so that it is registered
  // with this worker's reactor by this worker's thread), speaking TLS if it came to the TLS
  // listener. Must run on this worker's thread.
  void start_session(boost::asio::ip::tcp::socket::native_handle_type fd,
                     boost::asio::ip::tcp protocol, bool tls);
  // Closes every session of this worker. Must run on this worker's thread.
  void close_all();
  // Stops reading new requests; each session closes once its in-flight replies are out.
  void drain();
  // A configuration reload: takes `fresh`'s reloadable fields. Must run on this worker's thread.
  void reconfigure(const settings& fresh);
  // The primary moved to a new address (Redis Sentinel): the shared connections move once what
  // is in flight on them is answered, clients on connections of their own end after what was
  // answered, the PGET wake-up subscription and the near cache's tracking connection (and with
  // it every copy) start again. Must run on this worker's thread.
  void on_primary_moved();
  bool draining() const { return draining_; }
  std::size_t session_count() const { return sessions_.size(); }

  // Called by sessions on this worker's thread.
  void attach(session* s) { sessions_.insert(s); }
  // The acceptor counted the client in before handing it over; it is counted out here.
  void detach(session* s) {
    sessions_.erase(s);
    --clients_;
  }

 private:
  void sweep_idle();

  unsigned id_;
  settings config_;  // this worker's copy: a reload changes it on this worker's thread only
  std::shared_ptr<spdlog::logger> log_;
  // One thread runs it; only post() comes from other threads, so the reactor needs no locks.
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  upstream::backoff backoff_;
  metrics::worker_stats stats_;
  std::unordered_set<session*> sessions_;
  std::atomic<std::size_t>& clients_;
  bool draining_ = false;
  boost::asio::steady_timer idle_sweep_;  // closes idle clients once a second (idle_timeout)
  bool sweeping_ = false;
  std::vector<std::unique_ptr<shared_upstream>> shared_;
  std::size_t next_shared_ = 0;
  std::unique_ptr<wake_hub> wakes_;
  std::shared_ptr<cache::write_gens> gens_;
  cache::near_cache near_;  // after stats_, which it counts into
  std::unique_ptr<tracking_link> tracking_;
  read_board board_;
  std::unique_ptr<mc_pool> mc_;
  std::unique_ptr<cluster_nodes> cluster_;
  std::unique_ptr<shard_wakes> shard_wakes_;  // after cluster_, which it uses
  unsigned char random_pool_[4096];
  std::size_t random_left_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace puppy::server
