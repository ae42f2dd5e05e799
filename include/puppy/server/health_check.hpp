#pragma once
// Whether the upstream answers, for /readyz and puppy_upstream_up. One connection per upstream
// server, kept open, sends PING (memcached: version) every interval and expects +PONG (VERSION)
// within the connect timeout; a server is up while its last check passed, and is reconnected
// at the next interval when it failed. The verdict: the Redis upstream is up, or at least one
// memcached server is (a pool with a server down still serves the other servers' keys), or a
// Redis Cluster's seed node answers CLUSTER INFO with cluster_state:ok (every slot served).
// Runs on whatever io_context it is given (the admin listener's thread), never a worker's.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "puppy/server/worker.hpp"

namespace puppy::server {

class health_check {
 public:
  // `on_change(up)` is called on this io_context's thread when the verdict changes (first
  // with the first one).
  health_check(boost::asio::io_context& ioc, const settings& config,
               std::chrono::milliseconds interval, std::function<void(bool)> on_change);
  ~health_check();
  health_check(const health_check&) = delete;
  health_check& operator=(const health_check&) = delete;

  void start();
  void stop();

 private:
  class probe;
  void on_probe(std::size_t index, bool up);

  std::vector<std::unique_ptr<probe>> probes_;
  std::vector<int> verdicts_;  // per probe: -1 not yet known, 0 down, 1 up
  int verdict_ = -1;
  std::function<void(bool)> on_change_;
};

}  // namespace puppy::server
