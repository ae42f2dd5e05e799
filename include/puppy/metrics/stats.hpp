#pragma once
// The proxy's counters and their Prometheus text rendering. No sockets.
//
// Each worker thread owns one `worker_stats` and is its only writer, so a counter is bumped
// with a relaxed load and store (a plain increment on x86, no locked instruction) and read from
// any thread with a relaxed load: the metrics endpoint and PUPPY STATS sum the workers' counters
// into a `snapshot` while the workers run. A sum taken mid-update may lag by an in-flight
// increment, never tear or go backwards.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace puppy::metrics {

class counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value set by its one writer (a size, a count of things held), read from any thread.
class gauge {
 public:
  void set(std::uint64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A near cache's figures (cache/near_cache.hpp); its worker is the only writer.
struct near_stats {
  counter hits;           // answered from a copy
  counter misses;         // looked up, no valid copy
  counter invalidations;  // copies dropped by Redis's invalidation messages or a lost link
  counter evictions;      // copies dropped for room
  counter fills;          // copies stored
  gauge bytes;            // charged for the copies held
  gauge entries;          // copies held
};

// Errors, by kind: the `kind` label of puppy_errors_total.
enum class error_kind : std::uint8_t {
  protocol,              // a client sent bytes that are not RESP (its connection is closed)
  upstream_unavailable,  // a request answered -ERR because no upstream connection could be had
  upstream_lost,         // an established upstream connection failed (closed, reset)
  upstream_protocol,     // an upstream sent bytes that are not RESP (or memcached's protocol)
  upstream_timeout,      // an upstream connection had a request unanswered too long
  output_limit,          // a client dropped at the client output buffer limit
  idle_timeout,          // a client closed after --timeout seconds idle
  auth,                  // a wrong password given to the proxy (AUTH / HELLO AUTH)
  count_
};
const char* error_kind_name(error_kind k);

// The PGET family, as the proxy answered it.
enum class pget_outcome : std::uint8_t { fresh, stale, lease, miss, count_ };
const char* pget_outcome_name(pget_outcome o);

// Upper bounds of the upstream round-trip histogram's buckets, in seconds (+Inf is implied).
inline constexpr std::array<double, 14> latency_bounds_s = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

class histogram {
 public:
  void observe(std::chrono::nanoseconds d) noexcept;
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].value(); }  // not cumulative
  std::uint64_t sum_ns() const { return sum_ns_.value(); }

 private:
  std::array<counter, latency_bounds_s.size() + 1> buckets_;  // the last one is +Inf
  counter sum_ns_;
};

// Times one request at a time on a connection, so that a pipeline of any depth costs two clock
// reads per round trip, not two per request: the request that starts a sample is the last one
// sent so far, and the sample ends when the replies reach it. Requests are counted by the
// connection (sent and replied, from the connection's start).
class rtt_sampler {
 public:
  void on_sent(std::uint64_t sent) {
    if (active_) return;
    active_ = true;
    until_ = sent;
    start_ = std::chrono::steady_clock::now();
  }
  void on_replied(std::uint64_t replied, histogram& h) {
    if (!active_ || replied < until_) return;
    active_ = false;
    h.observe(std::chrono::steady_clock::now() - start_);
  }
  void reset() { active_ = false; }

 private:
  bool active_ = false;
  std::uint64_t until_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// One node of a Redis Cluster upstream, as one worker saw it: requests sent to it, requests
// answered with a connection error (unreachable, lost), redirections it answered (MOVED, ASK).
struct node_stats {
  counter requests;
  counter errors;
  counter redirects;
};

// One worker thread's counters (it is their only writer).
struct worker_stats {
  counter commands;   // requests read from clients (each command of a pipeline counts)
  counter bytes_in;   // bytes read from clients
  counter bytes_out;  // bytes queued to clients
  std::array<counter, static_cast<std::size_t>(error_kind::count_)> errors;
  std::array<counter, static_cast<std::size_t>(pget_outcome::count_)> pget;
  counter pget_waits;                 // PGET ... WAIT requests that had to wait for a value
  counter pset_accepted;              // PSET answered 1
  counter pset_refused;               // PSET answered 0: its lease had expired or was cancelled
  counter upstream_connects;          // upstream connections established (and logged in)
  counter upstream_connect_failures;  // attempts that failed (refused, timed out, login failed)
  histogram upstream_latency;         // request-to-reply time, sampled (docs/operations.md)
  // A Redis Cluster upstream: topology reads (all; those prompted by an unreachable node),
  // redirections followed, requests retried after TRYAGAIN, CLUSTERDOWN or an unreachable node.
  counter cluster_refreshes;
  counter cluster_failure_refreshes;
  counter cluster_moved;
  counter cluster_ask;
  counter cluster_retries;
  // Upstream connections given up because the upstream answered -READONLY (it is no longer the
  // primary): a shared connection moved, a client on its own connection closed.
  counter upstream_readonly;
  near_stats near;  // the worker's near cache

  void error(error_kind k) noexcept { errors[static_cast<std::size_t>(k)].add(); }
  void pget_answer(pget_outcome o) noexcept { pget[static_cast<std::size_t>(o)].add(); }
  // A cluster node's counters ("host:port"), made on first use; the reference stays valid.
  node_stats& node(const std::string& address) {
    std::lock_guard<std::mutex> lock(nodes_mutex_);
    auto& n = nodes_[address];
    if (!n) n = std::make_unique<node_stats>();
    return *n;
  }
  template <class Fn>
  void each_node(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(nodes_mutex_);
    for (const auto& [address, n] : nodes_) fn(address, *n);
  }

 private:
  mutable std::mutex nodes_mutex_;  // the map only: its counters are bumped without it
  std::map<std::string, std::unique_ptr<node_stats>> nodes_;
};

// Everything /metrics and PUPPY STATS show, summed over the workers at one moment.
struct snapshot {
  std::string version;
  unsigned threads = 0;
  double uptime_s = 0;
  std::uint64_t connections_current = 0;
  std::uint64_t connections_total = 0;     // accepted
  std::uint64_t connections_rejected = 0;  // refused at max clients
  std::uint64_t commands = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(error_kind::count_)> errors{};
  std::array<std::uint64_t, static_cast<std::size_t>(pget_outcome::count_)> pget{};
  std::uint64_t pget_waits = 0;
  std::uint64_t pset_accepted = 0;
  std::uint64_t pset_refused = 0;
  std::uint64_t upstream_connects = 0;
  std::uint64_t upstream_connect_failures = 0;
  bool cluster = false;  // a Redis Cluster upstream (its lines are shown)
  std::uint64_t cluster_refreshes = 0;
  std::uint64_t cluster_failure_refreshes = 0;
  std::uint64_t cluster_moved = 0;
  std::uint64_t cluster_ask = 0;
  std::uint64_t cluster_retries = 0;
  // Per cluster node ("host:port"): requests, errors, redirections (node_stats).
  std::map<std::string, std::array<std::uint64_t, 3>> cluster_nodes;
  std::array<std::uint64_t, latency_bounds_s.size() + 1> latency_buckets{};  // not cumulative
  std::uint64_t near_hits = 0;
  std::uint64_t near_misses = 0;
  std::uint64_t near_invalidations = 0;
  std::uint64_t near_evictions = 0;
  std::uint64_t near_fills = 0;
  std::uint64_t near_bytes = 0;
  std::uint64_t near_entries = 0;
  std::uint64_t near_budget = 0;  // --near-cache-size (0: off, and no near-cache lines)
  std::uint64_t latency_sum_ns = 0;
  int upstream_up = -1;  // the health check's verdict: 1, 0, or -1 when it does not run
  bool draining = false;
  // One Redis (not a cluster, not memcached): failovers seen (the primary moved: Sentinel named
  // another, or the upstream's name reached another address), where the primary is now
  // ("ip:port", empty while none is known), connections given up for -READONLY.
  bool has_primary = false;
  std::uint64_t primary_moves = 0;
  std::string primary;
  std::uint64_t upstream_readonly = 0;

  void add(const worker_stats& w);
};

// The Prometheus text exposition format (version 0.0.4) of `s`.
std::string render_prometheus(const snapshot& s);

}  // namespace puppy::metrics
