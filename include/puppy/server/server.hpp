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
#include <memory>
#include <optional>
#include <vector>

#include "puppy/server/worker.hpp"

namespace puppy::server {

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
  listener plain_;
  listener tls_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::size_t next_worker_ = 0;
  std::size_t refused_ = 0;  // connections turned away at max_clients
  bool stopping_ = false;
};

}  // namespace puppy::server
