// puppy-proxy: wiring only. Options -> logger -> upstream -> server.
#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "puppy/app/observability.hpp"
#include "puppy/app/reload.hpp"

#include "puppy/config/options.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/runtime/embedded_redis.hpp"
#include "puppy/runtime/logging.hpp"
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

}  // namespace

int main(int argc, char** argv) {
  options opt;
  std::string effective;  // the configuration in config-file form, for reloads to compare
  if (const auto code = puppy::config::parse_options(argc, argv, &opt, &effective)) return *code;

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
  puppy::app::apply_reloadable(opt, &settings, *log);  // limits, PGET defaults, timeouts
  settings.max_reply_depth = opt.max_reply_depth;
  settings.upstream = target;
  settings.memcached = memcached;
  for (const auto& server : address->servers) {
    settings.memcached_servers.push_back({server.host, server.port, 1});
  }
  settings.memcached_hash = opt.memcached_hash == "fnv1a_64" ? puppy::memcached::key_hash::fnv1a_64
                                                             : puppy::memcached::key_hash::md5;
  settings.shared_connections = opt.shared_connections;
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
  srv->on_sighup(puppy::app::reloader(argc, argv, effective, settings, *srv, log));
  std::unique_ptr<puppy::app::observability> observability;
  if (!opt.metrics_listen.empty()) {
    try {
      observability = std::make_unique<puppy::app::observability>(opt, settings, *srv, log);
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
