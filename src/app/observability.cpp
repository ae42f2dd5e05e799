#include "puppy/app/observability.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "puppy/metrics/stats.hpp"
#include "puppy/upstream/address.hpp"

namespace puppy::app {

observability::observability(const config::options& opt, const server::settings& settings,
                             server::server& srv, const std::shared_ptr<spdlog::logger>& log)
    : work_(ioc_.get_executor()) {
  std::string error;
  const auto hp = upstream::parse_host_port(opt.metrics_listen, 9121, &error);
  if (!hp) throw std::runtime_error(error);
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(hp->host, ec);
  if (ec) throw std::runtime_error("not an IP address");
  srv.set_upstream_up(0);  // not ready until the first check has passed
  puppy::admin::routes routes;
  routes.metrics = [&srv] { return metrics::render_prometheus(srv.collect()); };
  routes.not_ready = [&srv]() -> std::string {
    if (srv.draining()) return "draining";
    if (srv.upstream_up() != 1) return "upstream unreachable";
    return {};
  };
  http_ = std::make_unique<puppy::admin::http_server>(
      ioc_, boost::asio::ip::tcp::endpoint(ip, hp->port), std::move(routes), log);
  check_ = std::make_unique<server::health_check>(
      ioc_, settings, std::chrono::milliseconds(opt.health_check_interval_ms),
      [&srv, log](bool up) {
        srv.set_upstream_up(up ? 1 : 0);
        log->info("health check: upstream {}",
                  up ? "reachable (ready)" : "unreachable (not ready)");
      });
  const auto bound = http_->local_endpoint();
  log->info("metrics and health on http://{}:{} (/metrics, /healthz, /readyz)",
            bound.address().to_string(), bound.port());
  http_->start();
  check_->start();
  thread_ = std::thread([this] { ioc_.run(); });
}

observability::~observability() {
  boost::asio::post(ioc_, [this] {
    http_->stop();
    check_->stop();
    work_.reset();
    ioc_.stop();
  });
  thread_.join();
}

}  // namespace puppy::app
