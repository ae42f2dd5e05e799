#pragma once
// The admin listener (--metrics-listen): HTTP/1.1 on Boost.Beast, serving
//   GET /metrics  the Prometheus text of the proxy's figures
//   GET /healthz  200 while the process serves (liveness)
//   GET /readyz   200 while the upstream answers and the proxy is not draining, else 503
// It runs on an io_context of its own (its own thread), so a slow scraper never delays a
// client; what it shows comes from the routes' callbacks, which must be safe from that thread.
#include <spdlog/logger.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace puppy::admin {

struct routes {
  std::function<std::string()> metrics;
  // Empty if ready; else why not (one line, for the 503's body).
  std::function<std::string()> not_ready;
};

struct reply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool allow_header = false;  // 405: say which methods are allowed
};

// What a request gets: routing without sockets. `target` may carry a query string (ignored).
reply answer(std::string_view method, std::string_view target, const routes& r);

inline constexpr std::size_t max_connections = 64;         // more are closed at once
inline constexpr std::size_t max_header_bytes = 8 * 1024;  // a bigger request is refused
inline constexpr int idle_seconds = 10;                    // an idle or slow connection is closed

class http_server {
 public:
  // Binds (throws boost::system::system_error if it cannot).
  http_server(boost::asio::io_context& ioc, const boost::asio::ip::tcp::endpoint& listen, routes r,
              std::shared_ptr<spdlog::logger> log);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void start();
  void stop();

 private:
  class connection;
  void accept();

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  routes routes_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<std::size_t> open_;  // connections open now (shared with them)
};

}  // namespace puppy::admin
