#pragma once
// Where the Redis primary is now, read by every worker when it connects and changed by the
// thread that watches Redis Sentinel: thread-safe.
// - Fixed (redis://host:port): `host` may be a name, resolved again at every connection
//   (a managed service's endpoint moves to the new primary); the address a connection reached
//   is noted, and a different one than the last counts as a move.
// - Followed (redis-sentinel://): the address the sentinels named last, unknown until they have.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "puppy/upstream/address.hpp"

namespace puppy::upstream {

class primary {
 public:
  primary() : followed_(true) {}  // followed, unknown
  explicit primary(host_port fixed) : where_(std::move(fixed)) {}

  // Where to connect (a name or an address), or nullopt while a followed primary is unknown.
  std::optional<host_port> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return where_;
  }
  // The primary's address as last known, "ip:port" (empty: none yet).
  std::string address() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return address_;
  }
  // Moves seen so far (not counting the first address learned): failovers.
  std::uint64_t moves() const { return moves_.load(std::memory_order_relaxed); }

  // Followed: takes `where` as the primary; returns whether that moved it.
  bool set(const host_port& where) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (where_ && where_->host == where.host && where_->port == where.port) return false;
    const bool moved = !address_.empty();
    where_ = where;
    address_ = where.host + ":" + std::to_string(where.port);
    if (moved) moves_.fetch_add(1, std::memory_order_relaxed);
    return moved;
  }
  // Fixed: a connection reached `address` ("ip:port"); returns whether that is a move (another
  // address than the last one reached).
  bool reached(const std::string& address) {
    if (followed_) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    const bool moved = !address_.empty() && address_ != address;
    address_ = address;
    if (moved) moves_.fetch_add(1, std::memory_order_relaxed);
    return moved;
  }
  // A connection to the primary failed, or the primary refused a write (-READONLY): whoever
  // follows it (sentinel_watch) looks again. The hook is set once, before any worker runs.
  void on_suspect(std::function<void()> hook) { suspect_ = std::move(hook); }
  void suspect() const {
    if (suspect_) suspect_();
  }

 private:
  const bool followed_ = false;
  mutable std::mutex mutex_;
  std::optional<host_port> where_;
  std::string address_;
  std::atomic<std::uint64_t> moves_{0};
  std::function<void()> suspect_;
};

}  // namespace puppy::upstream
