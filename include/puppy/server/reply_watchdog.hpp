#pragma once
// The upstream response timeout of the proxy's own connections (shared Redis connections,
// memcached servers): once a request has been outstanding for `limit` with no reply arriving
// meanwhile, `expired` runs and the owner treats the connection as failed. Costs one clock read
// per reply; the timer only runs while requests are outstanding.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>

namespace puppy::server {

class reply_watchdog {
 public:
  using clock = std::chrono::steady_clock;

  // `limit` 0 turns the watchdog off. `busy` tells whether requests are outstanding.
  reply_watchdog(boost::asio::io_context& ioc, std::chrono::milliseconds limit,
                 std::function<bool()> busy, std::function<void()> expired)
      : timer_(ioc), limit_(limit), busy_(std::move(busy)), expired_(std::move(expired)) {}

  // A request was sent; `was_idle`: none was outstanding before it.
  void sent(bool was_idle) {
    if (limit_.count() == 0) return;
    if (was_idle) last_ = clock::now();
    arm();
  }
  // A reply arrived.
  void replied() {
    if (limit_.count() != 0) last_ = clock::now();
  }
  // After `expired`: the owner found the upstream alive (a slow reply, not a dead server), so
  // the oldest request may take another `limit` before `expired` runs again.
  void keep_waiting() {
    if (limit_.count() == 0) return;
    last_ = clock::now();
    arm();
  }
  // The connection is gone: forget it.
  void stop() {
    ++gen_;
    timer_.cancel();
    armed_ = false;
  }

 private:
  void arm() {
    if (armed_) return;
    armed_ = true;
    timer_.expires_at(last_ + limit_);
    timer_.async_wait([this, gen = gen_](const boost::system::error_code& ec) {
      if (gen != gen_) return;  // stopped meanwhile
      armed_ = false;
      if (ec || !busy_()) return;
      if (clock::now() - last_ >= limit_) {
        expired_();
        return;
      }
      arm();  // replies came meanwhile: wait from the last one
    });
  }

  boost::asio::steady_timer timer_;
  std::chrono::milliseconds limit_;
  std::function<bool()> busy_;
  std::function<void()> expired_;
  clock::time_point last_{};
  bool armed_ = false;
  std::uint64_t gen_ = 0;
};

}  // namespace puppy::server
