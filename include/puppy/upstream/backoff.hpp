#pragma once
// Jittered exponential back-off between upstream connection attempts, shared by all sessions of a
// worker thread so that a dead upstream is not hammered by every client at once.
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace puppy::upstream {

class backoff {
 public:
  using clock = std::chrono::steady_clock;

  backoff(std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay);

  // Whether a connection attempt may start now.
  bool may_attempt(clock::time_point now) const { return now >= next_attempt_; }
  // Records a failed attempt; the next one is allowed after a delay that doubles per failure
  // (capped at max_delay), drawn uniformly from [delay/2, delay].
  void failed(clock::time_point now, std::string reason);
  // Records a successful connection: the next failure starts from min_delay again.
  void succeeded();

  const std::string& last_error() const { return last_error_; }
  // Time left until the next attempt may start (zero if it may start now).
  std::chrono::milliseconds remaining(clock::time_point now) const;
  unsigned failures() const { return failures_; }

 private:
  std::chrono::milliseconds min_delay_;
  std::chrono::milliseconds max_delay_;
  unsigned failures_ = 0;
  clock::time_point next_attempt_{};
  std::string last_error_;
  std::minstd_rand rng_;
};

}  // namespace puppy::upstream
