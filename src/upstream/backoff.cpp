#include "puppy/upstream/backoff.hpp"

#include <algorithm>

namespace puppy::upstream {

backoff::backoff(std::chrono::milliseconds min_delay, std::chrono::milliseconds max_delay)
    : min_delay_(min_delay),
      max_delay_(std::max(min_delay, max_delay)),
      rng_(std::random_device{}()) {}

void backoff::failed(clock::time_point now, std::string reason) {
  const unsigned shift = std::min(failures_, 20u);
  const auto ceiling = std::min<std::int64_t>(max_delay_.count(), min_delay_.count() << shift);
  std::uniform_int_distribution<std::int64_t> pick(ceiling / 2, ceiling);
  next_attempt_ = now + std::chrono::milliseconds(pick(rng_));
  ++failures_;
  last_error_ = std::move(reason);
}

void backoff::succeeded() {
  failures_ = 0;
  next_attempt_ = {};
}

std::chrono::milliseconds backoff::remaining(clock::time_point now) const {
  if (now >= next_attempt_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now) +
         std::chrono::milliseconds(1);
}

}  // namespace puppy::upstream
