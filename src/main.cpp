// puppy-proxy: wiring only. Options -> logger -> upstream -> server.
#include <spdlog/spdlog.h>
#include <boost/asio/ip/tcp.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "puppy/app/observability.hpp"
#include "puppy/app/reload.hpp"

#include "puppy/config/options.hpp"
#include "puppy/net/tls_context.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/runtime/embedded_redis.hpp"
#include "puppy/runtime/logging.hpp"
#include "puppy/server/server.hpp"
#include "puppy/server/upstream_start.hpp"
#include "puppy/upstream/address.hpp"

namespace {

using puppy::config::options;

// Resolves host names at start-up (a name that does not resolve stops the start). Cluster seeds,
// sentinels and memcached servers are kept as addresses; one Redis's connections resolve its
// name again each time (async_connect_upstream).
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

std::string text(const boost::asio::ip::tcp::endpoint& ep) {
  return ep.address().to_string() + ':' + std::to_string(ep.port());
}

// Line 1: the client listener's host:port; then "metrics host:port" with --metrics-listen and
// "tls host:port" with --tls-listen.
void write_ready_file(const std::string& path, const puppy::server::server& srv,
                      const boost::asio::ip::tcp::endpoint* metrics) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << text(srv.local_endpoint()) << '\n';
    if (metrics != nullptr) out << "metrics " << text(*metrics) << '\n';
    if (const auto tls = srv.tls_local_endpoint()) out << "tls " << text(*tls) << '\n';
  }
  std::filesystem::rename(tmp, path);
}

// The TLS contexts of both sides from the options (before host names are resolved: the
// upstream's name is its certificate's). Returns an error message naming the option at fault.
std::string setup_tls(const options& opt, const puppy::upstream::address& address,
                      puppy::server::settings* settings) {
  using puppy::net::peer_check;
  using puppy::net::tls_options;
  const bool client_side = !opt.tls_cert_file.empty() || !opt.tls_key_file.empty() ||
                           !opt.tls_ca_cert_file.empty() || opt.tls_auth_clients != "no";
  if (client_side && opt.tls_listen.empty()) {
    return "--tls-cert-file, --tls-key-file, --tls-ca-cert-file and --tls-auth-clients are for "
           "the TLS listener: give --tls-listen too";
  }
  const bool upstream_options =
      !opt.upstream_tls_ca_cert_file.empty() || !opt.upstream_tls_server_name.empty() ||
      !opt.upstream_tls_cert_file.empty() || !opt.upstream_tls_key_file.empty() ||
      opt.upstream_tls_verify != "yes";
  const bool upstream_tls = address.kind == puppy::upstream::scheme::rediss;
  if (address.kind == puppy::upstream::scheme::memcached &&
      (upstream_options || opt.upstream_tls)) {
    return "--upstream-tls options: a memcached:// upstream is plain TCP (memcached has no TLS "
           "here)";
  }
  if (upstream_options && !upstream_tls) {
    return "--upstream-tls-* options need a TLS upstream: a rediss:// URL or --upstream-tls";
  }
  try {
    if (!opt.tls_listen.empty()) {
      tls_options o{"--tls",
                    opt.tls_cert_file,
                    opt.tls_key_file,
                    opt.tls_ca_cert_file,
                    opt.tls_auth_clients == "yes"        ? peer_check::required
                    : opt.tls_auth_clients == "optional" ? peer_check::optional
                                                         : peer_check::none,
                    ""};
      settings->client_tls = puppy::net::tls_context::server(o);
    }
    if (upstream_tls && address.sentinel && opt.upstream_tls_verify == "yes" &&
        opt.upstream_tls_server_name.empty()) {
      // The sentinels name the data nodes by address: their certificates cannot be checked
      // against the URL's host (a sentinel's).
      return "rediss-sentinel://: give the name the data nodes' certificates carry "
             "(--upstream-tls-server-name)";
    }
    if (upstream_tls) {
      tls_options o{"--upstream-tls",
                    opt.upstream_tls_cert_file,
                    opt.upstream_tls_key_file,
                    opt.upstream_tls_ca_cert_file,
                    opt.upstream_tls_verify == "yes" ? peer_check::required : peer_check::none,
                    opt.upstream_tls_server_name.empty() ? address.servers.front().host
                                                         : opt.upstream_tls_server_name};
      settings->upstream_tls = puppy::net::tls_context::client(o);
    }
  } catch (const puppy::net::tls_config_error& e) {
    return e.what();
  }
  return {};
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
  if (opt.upstream_tls && address->kind == puppy::upstream::scheme::redis) {
    address->kind = puppy::upstream::scheme::rediss;
  }
  const bool memcached = address->kind == puppy::upstream::scheme::memcached;
  const bool upstream_tls = address->kind == puppy::upstream::scheme::rediss;
  auto listen = puppy::upstream::parse_host_port(opt.listen, 6380, &error);
  if (!listen) {
    log->critical("--listen {}", error);
    return 2;
  }
  std::optional<puppy::upstream::host_port> tls_listen;
  if (!opt.tls_listen.empty()) {
    tls_listen = puppy::upstream::parse_host_port(opt.tls_listen, 6380, &error);
    if (!tls_listen) {
      log->critical("--tls-listen {}", error);
      return 2;
    }
  }
  puppy::server::settings settings;
  if (const std::string why = setup_tls(opt, *address, &settings); !why.empty()) {
    log->critical("{}", why);
    return 2;
  }

  std::unique_ptr<puppy::runtime::embedded_redis> embedded;
  auto& target = address->servers.front();
  if (!upstream_given && !memcached && !address->cluster && !upstream_tls &&
      opt.embedded_upstream == "auto" &&
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
  // One Redis: connections resolve its name each time (a managed service's endpoint moves to a
  // new primary); with Sentinel, the primary is whatever the sentinels name.
  if (!memcached && !address->cluster) {
    settings.primary = address->sentinel ? std::make_shared<puppy::upstream::primary>()
                                         : std::make_shared<puppy::upstream::primary>(target);
  }
  for (auto& server : address->servers) {
    if (!resolve_host(&server, &error)) {
      log->critical("upstream {}", error);
      return 2;
    }
  }

  puppy::app::apply_reloadable(opt, &settings, *log);  // limits, PGET defaults, timeouts
  settings.max_reply_depth = opt.max_reply_depth;
  settings.upstream = target;
  if (address->sentinel) {
    settings.sentinels = address->servers;
    settings.sentinel_master = address->master_name;
    if (!opt.sentinel_password.empty()) {
      settings.sentinel_login =
          puppy::server::login_request(opt.sentinel_user, opt.sentinel_password);
    } else if (!opt.sentinel_user.empty()) {
      log->critical("--sentinel-user: a user needs a password (--sentinel-password)");
      return 2;
    }
  } else if (!opt.sentinel_user.empty() || !opt.sentinel_password.empty()) {
    log->critical("--sentinel-user/--sentinel-password need a redis-sentinel:// upstream");
    return 2;
  }
  if (opt.upstream_require_primary && (memcached || address->cluster)) {
    log->critical("--upstream-require-primary needs one Redis (redis:// or rediss://)");
    return 2;
  }
  // (With Sentinel the watch checks the node with ROLE before any connection goes there.)
  settings.require_primary = opt.upstream_require_primary && !address->sentinel;
  settings.memcached = memcached;
  settings.cluster = address->cluster;
  if (address->cluster) settings.cluster_seeds = address->servers;
  settings.cluster_retry_timeout = std::chrono::milliseconds(opt.cluster_retry_timeout_ms);
  settings.cluster_refresh_interval = std::chrono::milliseconds(opt.cluster_refresh_interval_ms);
  settings.cluster_reads = opt.read_from == "replica" ? puppy::server::settings::read_from::replica
                           : opt.read_from == "prefer-replica"
                               ? puppy::server::settings::read_from::prefer_replica
                               : puppy::server::settings::read_from::master;
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
  // In front of a cluster the status key must share its key's slot: always.
  settings.pget_keys.cluster = opt.pget_cluster_keys || address->cluster;
  settings.pget_keys.wake_channel = opt.pget_channel;
  {
    std::string key, why;
    if (!puppy::pget::status_key("x", settings.pget_keys, &key, &why)) {
      log->critical("--pget-status-prefix '{}': {}", opt.pget_status_prefix, why);
      return 2;
    }
  }
  if (opt.near_cache_size > 0 && memcached) {
    log->critical(
        "--near-cache-size: a memcached upstream cannot tell the proxy when a key changes (no "
        "client-side caching); the near cache needs a Redis upstream");
    return 2;
  }
  if (address->cluster && opt.pget_channel.find('{') != std::string::npos) {
    // The wake-up channel is "<channel>:<status key>", in the key's slot by the key's hash tag;
    // a '{' before it would make the channel's own tag decide the slot.
    log->critical(
        "--pget-channel '{}': with a Redis Cluster upstream the channel must not contain '{{'",
        opt.pget_channel);
    return 2;
  }
  if (!opt.near_cache_prefixes.empty() && opt.near_cache_size == 0) {
    log->critical("--near-cache-prefix needs --near-cache-size");
    return 2;
  }
  if (opt.near_cache_size > 0) {
    settings.near_cache_budget = static_cast<std::size_t>(opt.near_cache_size / opt.threads);
    settings.near_cache_prefixes = opt.near_cache_prefixes;
    settings.write_gens = std::make_shared<puppy::cache::write_gens>();
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
  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint;
  if (tls_listen) {
    const auto ip = boost::asio::ip::make_address(tls_listen->host, ec);
    if (ec) {
      log->critical("--tls-listen {}: not an IP address", opt.tls_listen);
      return 2;
    }
    tls_endpoint.emplace(ip, tls_listen->port);
  }
  // OpenSSL writes to sockets with write(2), which raises SIGPIPE on a closed connection; the
  // error it returns is enough (as Redis does).
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<puppy::server::server> srv;
  try {
    srv = std::make_unique<puppy::server::server>(
        settings, opt.threads, boost::asio::ip::tcp::endpoint(listen_ip, listen->port),
        tls_endpoint, log);
  } catch (const boost::system::system_error& e) {
    log->critical("cannot listen on {}{}: {}", opt.listen,
                  tls_listen ? " and " + opt.tls_listen : std::string(), e.code().message());
    return 1;
  }
  const auto tls_bound = srv->tls_local_endpoint();
  log->info(
      "puppy-proxy {} listening on {}{}, upstream {}, {} thread{}, {} shared upstream "
      "connection{} per thread",
      PUPPY_VERSION, text(srv->local_endpoint()),
      tls_bound ? " and TLS on " + text(*tls_bound) : "", address->text(), opt.threads,
      opt.threads == 1 ? "" : "s", memcached || address->cluster ? 0u : opt.shared_connections,
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
    write_ready_file(opt.ready_file, *srv, observability ? &metrics : nullptr);
  }
  srv->run();
  observability.reset();
  log->info("stopped");
  return 0;
}
