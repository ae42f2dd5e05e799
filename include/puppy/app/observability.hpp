#pragma once
// The admin listener (/metrics, /healthz, /readyz) and the upstream health check behind /readyz,
// on a thread of their own, wired to the server's figures.
#include <spdlog/logger.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <thread>

#include "puppy/admin/http_server.hpp"
#include "puppy/config/options.hpp"
#include "puppy/server/health_check.hpp"
#include "puppy/server/server.hpp"

namespace puppy::app {

class observability {
 public:
  // Binds opt.metrics_listen and starts; throws std::runtime_error (a bad address) or
  // boost::system::system_error (cannot bind).
  observability(const config::options& opt, const server::settings& settings, server::server& srv,
                const std::shared_ptr<spdlog::logger>& log);
  ~observability();
  observability(const observability&) = delete;
  observability& operator=(const observability&) = delete;

  boost::asio::ip::tcp::endpoint endpoint() const { return http_->local_endpoint(); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<puppy::admin::http_server> http_;
  std::unique_ptr<server::health_check> check_;
  std::thread thread_;
};

}  // namespace puppy::app
