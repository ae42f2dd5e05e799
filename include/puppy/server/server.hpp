#pragma once
// The listening side: N workers (one io_context and thread each), an acceptor that hands each new
// client to the next worker in turn (and a second one for TLS clients, if configured), and
// SIGINT/SIGTERM handling.
#include <spdlog/logger.h>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "puppy/metrics/stats.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

class sentinel_watch;

class server {
 public:
  // Binds the listening sockets (throws boost::system::system_error if it cannot): `listen` for
  // plain clients, `tls_listen` (if given; config.client_tls must be set) for TLS clients.
  server(const settings& config, unsigned threads, const boost::asio::ip::tcp::endpoint& listen,
         const std::optional<boost::asio::ip::tcp::endpoint>& tls_listen,
         std::shared_ptr<spdlog::logger> log);
  ~server();

  boost::asio::ip::tcp::endpoint local_endpoint() const { return plain_.acceptor.local_endpoint(); }
  // The TLS listener's address, if there is one.
  std::optional<boost::asio::ip::tcp::endpoint> tls_local_endpoint() const;

  // Serves until stop() or a SIGINT/SIGTERM, then returns once every worker has finished.
  void run();
  // Stops accepting, lets every session finish its in-flight requests (at most drain_timeout),
  // then closes what is left. Safe from any thread.
  void stop();

  // SIGHUP calls `hook` on worker 0's thread (a reload: it may call reload()).
  void on_sighup(std::function<void()> hook) { sighup_hook_ = std::move(hook); }
  // Applies `fresh`'s reloadable fields (copy_reloadable) everywhere: new connections and
  // requests use them, no connection is dropped. Safe from any thread.
  void reload(const settings& fresh);

  // The proxy's figures now (metrics/stats.hpp). Safe from any thread.
  metrics::snapshot collect() const;
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  // The upstream health check's verdict (1 reachable, 0 not), which collect() reports; -1 (the
  // default) when no check runs. Safe from any thread.
  void set_upstream_up(int up) { upstream_up_.store(up, std::memory_order_relaxed); }
  int upstream_up() const { return upstream_up_.load(std::memory_order_relaxed); }

 private:
  struct listener {
    listener(boost::asio::io_context& ioc, bool tls_) : acceptor(ioc), retry(ioc), tls(tls_) {}
    boost::asio::ip::tcp::acceptor acceptor;  // open only if configured
    boost::asio::steady_timer retry;          // after a failed accept
    bool tls;
  };

  void accept(listener& l);
  void do_stop();
  void watch_drain();
  void close_everything();
  static void refuse(boost::asio::ip::tcp::socket& client, bool tls);

  settings config_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<std::size_t> clients_{0};  // counted in on accept, out when a session ends
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<sentinel_watch> sentinel_;  // with Redis Sentinel: on worker 0
  listener plain_;
  listener tls_;
  boost::asio::signal_set signals_;
  boost::asio::signal_set hangup_;
  std::function<void()> sighup_hook_;
  void watch_hangup();
  boost::asio::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::size_t next_worker_ = 0;
  metrics::counter accepted_;  // written by worker 0's thread (the acceptor's) only
  metrics::counter refused_;   // connections turned away at max_clients
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<bool> draining_{false};
  std::atomic<int> upstream_up_{-1};
  bool stopping_ = false;
};

}  // namespace puppy::server
