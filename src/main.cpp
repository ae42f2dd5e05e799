// puppy-proxy: wiring only. Options -> logger -> upstream -> server.
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "puppy/admin/http_server.hpp"

#include "puppy/config/options.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/runtime/embedded_redis.hpp"
#include "puppy/runtime/fd_limit.hpp"
#include "puppy/runtime/logging.hpp"
#include "puppy/server/health_check.hpp"
#include "puppy/server/server.hpp"
#include "puppy/server/upstream_login.hpp"
#include "puppy/upstream/address.hpp"

namespace {

using puppy::config::options;

// Resolves host names once at start-up; the data path only ever connects to addresses.
bool resolve_host(puppy::upstream::host_port* hp, std::string* error) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(hp->host, ec);
  if (!ec) return true;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
  if (ec || results.empty()) {
    *error = "cannot resolve '" + hp->host + "': " + ec.message();
    return false;
  }
  hp->host = results.begin()->endpoint().address().to_string();
  return true;
}

// Line 1: the client listener's host:port; line 2, with --metrics-listen: "metrics host:port".
void write_ready_file(const std::string& path, const boost::asio::ip::tcp::endpoint& ep,
                      const boost::asio::ip::tcp::endpoint* metrics) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << ep.address().to_string() << ':' << ep.port() << '\n';
    if (metrics != nullptr) {
      out << "metrics " << metrics->address().to_string() << ':' << metrics->port() << '\n';
    }
  }
  std::filesystem::rename(tmp, path);
}

// The admin listener (/metrics, /healthz, /readyz) and the upstream health check behind /readyz,
// on a thread of their own.
class admin {
 public:
  admin(const options& opt, const puppy::server::settings& settings, puppy::server::server& srv,
        const std::shared_ptr<spdlog::logger>& log)
      : work_(ioc_.get_executor()) {
    std::string error;
    const auto hp = puppy::upstream::parse_host_port(opt.metrics_listen, 9121, &error);
    if (!hp) throw std::runtime_error(error);
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address(hp->host, ec);
    if (ec) throw std::runtime_error("not an IP address");
    srv.set_upstream_up(0);  // not ready until the first check has passed
    puppy::admin::routes routes;
    routes.metrics = [&srv] { return puppy::metrics::render_prometheus(srv.collect()); };
    routes.not_ready = [&srv]() -> std::string {
      if (srv.draining()) return "draining";
      if (srv.upstream_up() != 1) return "upstream unreachable";
      return {};
    };
    http_ = std::make_unique<puppy::admin::http_server>(
        ioc_, boost::asio::ip::tcp::endpoint(ip, hp->port), std::move(routes), log);
    check_ = std::make_unique<puppy::server::health_check>(
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
  boost::asio::ip::tcp::endpoint endpoint() const { return http_->local_endpoint(); }
  ~admin() {
    boost::asio::post(ioc_, [this] {
      http_->stop();
      check_->stop();
      work_.reset();
      ioc_.stop();
    });
    thread_.join();
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<puppy::admin::http_server> http_;
  std::unique_ptr<puppy::server::health_check> check_;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (const auto code = puppy::config::parse_options(argc, argv, &opt)) return *code;

  auto log = puppy::runtime::make_logger(opt.log_format, opt.log_level);

  std::string error;
  const bool upstream_given = !opt.upstream.empty();
  auto address = puppy::upstream::parse_address(
      upstream_given ? opt.upstream : puppy::config::default_upstream, &error);
  if (!address) {
    log->critical("{}", error);
    return 2;
  }
  if (address->kind == puppy::upstream::scheme::rediss) {
    log->critical("upstream {}: TLS upstreams (rediss://) are not supported by this build",
                  address->text());
    return 2;
  }
  const bool memcached = address->kind == puppy::upstream::scheme::memcached;
  auto listen = puppy::upstream::parse_host_port(opt.listen, 6380, &error);
  if (!listen) {
    log->critical("--listen {}", error);
    return 2;
  }

  std::unique_ptr<puppy::runtime::embedded_redis> embedded;
  auto& target = address->servers.front();
  if (!upstream_given && !memcached && opt.embedded_upstream == "auto" &&
      !puppy::runtime::tcp_answers(target.host, target.port, 500)) {
    try {
      embedded = puppy::runtime::embedded_redis::start(opt.redis_server);
    } catch (const std::exception& e) {
      log->critical("nothing answers at {} and no private redis-server could be started: {}",
                    address->text(), e.what());
      return 1;
    }
    target.port = embedded->port();
    log->warn(
        "nothing answers at {}: started a private redis-server (pid {}) on 127.0.0.1:{}; "
        "its data is not kept, and it stops with the proxy",
        puppy::config::default_upstream, embedded->pid(), embedded->port());
  }
  for (auto& server : address->servers) {
    if (!resolve_host(&server, &error)) {
      log->critical("upstream {}", error);
      return 2;
    }
  }

  puppy::server::settings settings;
  settings.limits.max_args = opt.max_args;
  settings.limits.max_bulk_len = opt.max_bulk_len;
  settings.limits.max_inline_len = opt.max_inline_len;
  settings.max_reply_depth = opt.max_reply_depth;
  settings.upstream = target;
  settings.memcached = memcached;
  for (const auto& server : address->servers) {
    settings.memcached_servers.push_back({server.host, server.port, 1});
  }
  settings.memcached_hash = opt.memcached_hash == "fnv1a_64" ? puppy::memcached::key_hash::fnv1a_64
                                                             : puppy::memcached::key_hash::md5;
  settings.shared_connections = opt.shared_connections;
  settings.max_shared_request = opt.max_shared_request;
  settings.client_output_limit = opt.client_output_limit;
  settings.requirepass = opt.requirepass;
  {
    const std::string user = opt.upstream_user.empty() ? address->user : opt.upstream_user;
    const std::string password =
        opt.upstream_password.empty() ? address->password : opt.upstream_password;
    if (!password.empty() && !memcached) {
      settings.upstream_login = puppy::server::login_request(user, password);
    } else if (!user.empty() || (!password.empty() && memcached)) {
      log->critical(
          "--upstream-user/--upstream-password: {}",
          memcached ? "memcached has no password authentication" : "a user needs a password");
      return 2;
    }
  }
  {
    const auto budget = puppy::runtime::fit_open_files(opt.max_clients);
    if (budget.max_clients != opt.max_clients) {
      log->warn("{}", budget.note);
    } else if (!budget.note.empty()) {
      log->info("{}", budget.note);
    }
    settings.max_clients = budget.max_clients;
  }
  settings.idle_timeout = std::chrono::seconds(opt.timeout);
  settings.drain_timeout = std::chrono::milliseconds(opt.drain_timeout_ms);
  settings.pget_defaults.timeout = opt.pget_timeout;
  settings.pget_defaults.update_time = opt.pget_update_time;
  settings.pget_keys.status_prefix = opt.pget_status_prefix;
  settings.pget_keys.cluster = opt.pget_cluster_keys;
  settings.pget_keys.wake_channel = opt.pget_channel;
  {
    std::string key, why;
    if (!puppy::pget::status_key("x", settings.pget_keys, &key, &why)) {
      log->critical("--pget-status-prefix '{}': {}", opt.pget_status_prefix, why);
      return 2;
    }
  }
  settings.connect_timeout = std::chrono::milliseconds(opt.upstream_connect_timeout_ms);
  settings.response_timeout = std::chrono::milliseconds(opt.upstream_timeout_ms);
  settings.retry_min = std::chrono::milliseconds(opt.upstream_retry_min_ms);
  settings.retry_max = std::chrono::milliseconds(opt.upstream_retry_max_ms);

  boost::system::error_code ec;
  const auto listen_ip = boost::asio::ip::make_address(listen->host, ec);
  if (ec) {
    log->critical("--listen {}: not an IP address", opt.listen);
    return 2;
  }
  std::unique_ptr<puppy::server::server> srv;
  try {
    srv = std::make_unique<puppy::server::server>(
        settings, opt.threads, boost::asio::ip::tcp::endpoint(listen_ip, listen->port), log);
  } catch (const boost::system::system_error& e) {
    log->critical("cannot listen on {}: {}", opt.listen, e.code().message());
    return 1;
  }
  const auto bound = srv->local_endpoint();
  log->info(
      "puppy-proxy {} listening on {}:{}, upstream {}, {} thread{}, {} shared upstream "
      "connection{} per thread",
      PUPPY_VERSION, bound.address().to_string(), bound.port(), address->text(), opt.threads,
      opt.threads == 1 ? "" : "s", memcached ? 0u : opt.shared_connections,
      opt.shared_connections == 1 ? "" : "s");
  std::unique_ptr<admin> observability;
  if (!opt.metrics_listen.empty()) {
    try {
      observability = std::make_unique<admin>(opt, settings, *srv, log);
    } catch (const std::exception& e) {
      log->critical("--metrics-listen {}: {}", opt.metrics_listen, e.what());
      return e.what() == std::string("not an IP address") ? 2 : 1;
    }
  }
  if (!opt.ready_file.empty()) {
    const auto metrics =
        observability ? observability->endpoint() : boost::asio::ip::tcp::endpoint();
    write_ready_file(opt.ready_file, bound, observability ? &metrics : nullptr);
  }
  srv->run();
  observability.reset();
  log->info("stopped");
  return 0;
}
