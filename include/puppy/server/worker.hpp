#pragma once
// One worker thread: an io_context that owns its client sessions and their upstream connections,
// the upstream back-off shared by those sessions, and a registry used to close them at shutdown.
#include <spdlog/logger.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <unordered_set>

#include "puppy/resp/limits.hpp"
#include "puppy/upstream/address.hpp"
#include "puppy/upstream/backoff.hpp"

namespace puppy::server {

class session;

// What sessions need to know; the same for every worker, fixed at start-up.
struct settings {
  resp::request_limits limits;
  std::size_t max_reply_depth = resp::default_max_reply_depth;
  upstream::host_port upstream;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds retry_min{50};
  std::chrono::milliseconds retry_max{2000};
};

class worker {
 public:
  worker(unsigned id, const settings& config, std::shared_ptr<spdlog::logger> log);
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  unsigned id() const { return id_; }
  boost::asio::io_context& context() { return ioc_; }
  const settings& config() const { return config_; }
  spdlog::logger& log() { return *log_; }
  upstream::backoff& upstream_backoff() { return backoff_; }

  // Starts a session for an accepted client. Must run on this worker's thread.
  void start_session(boost::asio::ip::tcp::socket client);
  // Closes every session of this worker. Must run on this worker's thread.
  void close_all();
  std::size_t session_count() const { return sessions_.size(); }

  // Called by sessions on this worker's thread.
  void attach(session* s) { sessions_.insert(s); }
  void detach(session* s) { sessions_.erase(s); }

 private:
  unsigned id_;
  const settings& config_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context ioc_{1};
  upstream::backoff backoff_;
  std::unordered_set<session*> sessions_;
};

}  // namespace puppy::server
