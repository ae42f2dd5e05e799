#include "puppy/config/options.hpp"

#include <CLI/CLI.hpp>
#include <cctype>
#include <iostream>
#include <sstream>

#include "puppy/resp/limits.hpp"

namespace puppy::config {

namespace {

// The configuration text with passwords replaced by ***.
std::string masked_config(const std::string& text) {
  std::istringstream in(text);
  std::string out, line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    const std::string key = eq == std::string::npos ? "" : line.substr(0, eq);
    const auto trimmed = key.substr(0, key.find_last_not_of(' ') + 1);
    if (trimmed == "print-config") continue;
    if ((trimmed == "requirepass" || trimmed == "upstream-password" ||
         trimmed == "sentinel-password") &&
        line.find_first_not_of(" \"'", eq + 1) != std::string::npos) {
      line = trimmed + "=\"***\"";
    } else if (trimmed == "upstream") {
      const auto at = line.rfind('@');
      const auto scheme = line.find("://");
      if (at != std::string::npos && scheme != std::string::npos && scheme < at) {
        const auto colon = line.find(':', scheme + 3);
        const auto secret_from = colon != std::string::npos && colon < at ? colon + 1 : scheme + 3;
        line = line.substr(0, secret_from) + "***" + line.substr(at);
      }
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::optional<int> parse_options(int argc, char** argv, options* out, std::string* effective) {
  CLI::App app{
      "puppy-proxy: a Redis-protocol caching proxy. Every command is forwarded unchanged to the\n"
      "upstream over a connection pinned to its client, replies come back unchanged and in order."};
  app.set_version_flag("--version", std::string("puppy-proxy ") + PUPPY_VERSION);
  app.set_config("--config", "", "Read options from this TOML or INI file (keys are option names)");
  app.get_formatter()->column_width(38);
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // last one wins

  out->max_args = resp::default_max_args;
  out->max_bulk_len = resp::default_max_bulk_len;
  out->max_inline_len = resp::default_max_inline_len;
  out->max_reply_depth = resp::default_max_reply_depth;

  app.add_option("-l,--listen", out->listen,
                 "Address to accept clients on; port 0 picks a free port")
      ->capture_default_str()
      ->group("Network");
  app.add_option(
         "-u,--upstream", out->upstream,
         "Upstream server URL, redis://[[user]:password@]host:port (default "
         "redis://127.0.0.1:6379), redis-cluster://host:port[,host:port...] (a Redis Cluster's "
         "seed nodes; rediss-cluster:// with TLS) or memcached://host:port[,host:port...]")
      ->group("Network");
  app.add_option("--embedded-upstream", out->embedded_upstream,
                 "With no --upstream and nothing answering at the default address: 'auto' starts a "
                 "private redis-server (stopped on exit), 'never' does not")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "never"}))
      ->group("Network");
  app.add_option("--redis-server", out->redis_server,
                 "redis-server binary for the embedded upstream")
      ->capture_default_str()
      ->group("Network");
  app.add_option("-t,--threads", out->threads,
                 "Worker threads; each owns its clients and their upstream connections")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u))
      ->group("Server");
  app.add_option("--log-level", out->log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->group("Server");
  app.add_option("--log-format", out->log_format,
                 "text (one line per event) or json (one JSON object per line)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}))
      ->group("Server");
  app.add_option("--metrics-listen", out->metrics_listen,
                 "HOST:PORT of an HTTP listener serving /metrics (Prometheus), /healthz and "
                 "/readyz; none by default")
      ->group("Observability");
  app.add_option("--health-check-interval-ms", out->health_check_interval_ms,
                 "How often the admin listener checks the upstream for /readyz (PING; version on "
                 "memcached)")
      ->capture_default_str()
      ->check(CLI::Range(100u, 60000u))
      ->group("Observability");
  app.add_option("--ready-file", out->ready_file,
                 "Once listening, write the bound host:port to this file (for scripts and tests)")
      ->group("Server");

  app.add_option("--shared-connections", out->shared_connections,
                 "Upstream connections per thread shared by clients that so far used only "
                 "stateless data commands; 0 gives every client its own connection at once")
      ->capture_default_str()
      ->check(CLI::Range(0u, 64u))
      ->group("Server");
  app.add_option("--memcached-hash", out->memcached_hash,
                 "Key hash for ketama placement on a memcached upstream: md5 (libmemcached's "
                 "ketama) or fnv1a_64 (twemproxy's default)")
      ->capture_default_str()
      ->check(CLI::IsMember({"md5", "fnv1a_64"}))
      ->group("Network");
  app.add_option("--max-shared-request", out->max_shared_request,
                 "A request bigger than this gives its client its own upstream connection")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->group("Limits");
  app.add_option("--client-output-limit", out->client_output_limit,
                 "Disconnect a client whose unread replies exceed this (0: no limit)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->group("Limits");
  app.add_option("--max-clients", out->max_clients,
                 "Most client connections at once (Redis's maxclients); more get "
                 "'-ERR max number of clients reached' and are closed. 0: no limit")
      ->capture_default_str()
      ->check(CLI::Range(0u, 10000000u))
      ->group("Limits");
  app.add_option("--timeout", out->timeout,
                 "Close a client idle this many seconds (Redis's timeout; 0: never). Subscribed "
                 "clients and clients waiting for a reply are not idle")
      ->capture_default_str()
      ->check(CLI::Range(0u, 100000000u))
      ->group("Limits");
  app.add_option("--drain-timeout-ms", out->drain_timeout_ms,
                 "On SIGTERM/SIGINT, stop accepting and give in-flight requests this long to be "
                 "answered before the remaining clients are closed")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600000u))
      ->group("Server");

  app.add_option("--max-args", out->max_args, "Most arguments in one request (Redis: 2147483647)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, resp::default_max_args))
      ->group("Limits");
  app.add_option(
         "--max-bulk-len", out->max_bulk_len,
         "Longest argument of a request in bytes (512MB like proto-max-bulk-len; 1k, 4MB accepted)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->group("Limits");
  app.add_option("--max-inline-len", out->max_inline_len,
                 "Longest inline command line and request header line, in bytes")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->group("Limits");
  app.add_option("--max-reply-depth", out->max_reply_depth,
                 "Deepest nesting of an upstream reply; deeper is taken as a broken upstream "
                 "(Redis's own replies nest up to about 8,000 levels)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{resp::max_reply_depth_option}))
      ->group("Limits");

  app.add_option("--pget-timeout", out->pget_timeout,
                 "PGET/PSET default freshness in seconds, when the command gives none")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000000))
      ->group("PGET");
  app.add_option("--pget-update-time", out->pget_update_time,
                 "PGET/PSET default time in seconds a lease holder has to regenerate a value")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000000))
      ->group("PGET");
  app.add_option("--pget-status-prefix", out->pget_status_prefix,
                 "Status keys are this prefix + the data key (django-puppy-cache: puppy:)")
      ->capture_default_str()
      ->group("PGET");
  app.add_flag("--pget-cluster-keys", out->pget_cluster_keys,
               "Name status keys so they share the data key's Redis Cluster slot (prefix{key})")
      ->group("PGET");
  app.add_option("--pget-channel", out->pget_channel,
                 "Pub/sub channel on which PSET/PRELEASE/PINVALIDATE wake waiting PGETs")
      ->capture_default_str()
      ->group("PGET");

  app.add_option(
         "--near-cache-size", out->near_cache_size,
         "Keep fresh PGET values, and GET replies of keys under --near-cache-prefix, in the "
         "proxy's memory, up to this many bytes over all threads, and answer from them "
         "without Redis; Redis's client-side caching invalidates them (0: off)")
      ->capture_default_str()
      ->transform(CLI::AsSizeValue(false))
      ->group("Near cache");
  app.add_option("--near-cache-prefix", out->near_cache_prefixes,
                 "Also cache GET/MGET replies of keys starting with this prefix; repeatable, and "
                 "only with a near cache size")
      ->group("Near cache");

  app.add_option("--requirepass", out->requirepass,
                 "Password clients must give (AUTH password, or AUTH default password, or HELLO "
                 "3 AUTH default password) before any other command, as Redis's requirepass. "
                 "Separate from the upstream's credentials. Also from $PUPPY_REQUIREPASS")
      ->envname("PUPPY_REQUIREPASS")
      ->group("Security");
  app.add_option("--upstream-user", out->upstream_user,
                 "User the proxy authenticates as on each upstream connection (Redis ACL); "
                 "overrides the URL's. Also from $PUPPY_UPSTREAM_USER")
      ->envname("PUPPY_UPSTREAM_USER")
      ->group("Security");
  app.add_option("--upstream-password", out->upstream_password,
                 "Password the proxy sends (AUTH) on each upstream connection; overrides the "
                 "URL's; never logged. Also from $PUPPY_UPSTREAM_PASSWORD")
      ->envname("PUPPY_UPSTREAM_PASSWORD")
      ->group("Security");
  app.add_option("--sentinel-user", out->sentinel_user,
                 "User the proxy authenticates as with the sentinels of a redis-sentinel:// "
                 "upstream (the URL's credentials are the data nodes'). Also from "
                 "$PUPPY_SENTINEL_USER")
      ->envname("PUPPY_SENTINEL_USER")
      ->group("Security");
  app.add_option("--sentinel-password", out->sentinel_password,
                 "Password the proxy sends (AUTH) to the sentinels; never logged. Also from "
                 "$PUPPY_SENTINEL_PASSWORD")
      ->envname("PUPPY_SENTINEL_PASSWORD")
      ->group("Security");

  app.add_option("--upstream-connect-timeout-ms", out->upstream_connect_timeout_ms,
                 "Give up connecting to the upstream after this long")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600000u))
      ->group("Upstream");
  app.add_option("--upstream-timeout-ms", out->upstream_timeout_ms,
                 "A shared upstream connection or memcached server that leaves a request "
                 "unanswered this long is taken as failed: its clients are closed or answered "
                 "with an error, and it is reconnected (0: never). For Redis only if a new "
                 "connection's PING gets no answer either (a long script is not a failure). "
                 "Clients' own connections have no limit, as with Redis (BLPOP 0 waits)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 3600000u))
      ->group("Upstream");
  app.add_option("--upstream-retry-min-ms", out->upstream_retry_min_ms,
                 "After a failed connect, commands get an error at once for at least this long")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600000u))
      ->group("Upstream");
  app.add_option("--upstream-retry-max-ms", out->upstream_retry_max_ms,
                 "Longest wait between connection attempts (doubles from the minimum, jittered)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 600000u))
      ->group("Upstream");
  app.add_flag("--upstream-require-primary", out->upstream_require_primary,
               "One Redis (redis://, rediss://): ask every new upstream connection's node for "
               "its ROLE after the login and refuse a replica (the connection fails, and the "
               "next attempt resolves the host name again): for a managed endpoint whose name "
               "may still reach the demoted primary after a failover. Needs the user to be "
               "allowed ROLE. (Sentinel checks the primary with ROLE anyway.)")
      ->group("Upstream");
  app.add_option("--cluster-retry-timeout-ms", out->cluster_retry_timeout_ms,
                 "Redis Cluster: how long a request whose slot is not served (a failover, "
                 "TRYAGAIN, CLUSTERDOWN, its master unreachable) is retried before the error is "
                 "returned (0: at once)")
      ->capture_default_str()
      ->check(CLI::Range(0u, 600000u))
      ->group("Upstream");
  app.add_option("--cluster-refresh-interval-ms", out->cluster_refresh_interval_ms,
                 "Redis Cluster: the topology (CLUSTER SLOTS) is read at least this often; also "
                 "after -MOVED and when a node cannot be reached")
      ->capture_default_str()
      ->check(CLI::Range(100u, 3600000u))
      ->group("Upstream");
  app.add_option("--read-from", out->read_from,
                 "Redis Cluster: where reads (commands COMMAND flags readonly, outside "
                 "transactions) go: master; replica (a replica of the slot, the master if it has "
                 "none); prefer-replica (a replica that is not known to be down, else the "
                 "master). Replicas may lag behind their master")
      ->capture_default_str()
      ->check(CLI::IsMember({"master", "replica", "prefer-replica"}))
      ->group("Upstream");

  app.add_option("--tls-listen", out->tls_listen,
                 "Also accept clients over TLS here (host:port; port 0 picks a free port) with "
                 "the certificate of --tls-cert-file and --tls-key-file as well. --listen stays "
                 "plain")
      ->group("TLS");
  app.add_option("--tls-cert-file", out->tls_cert_file,
                 "PEM certificate (chain) the TLS listener presents")
      ->group("TLS");
  app.add_option("--tls-key-file", out->tls_key_file,
                 "PEM private key of --tls-cert-file (unencrypted)")
      ->group("TLS");
  app.add_option("--tls-ca-cert-file", out->tls_ca_cert_file,
                 "PEM CA certificates that client certificates must be signed by")
      ->group("TLS");
  app.add_option("--tls-auth-clients", out->tls_auth_clients,
                 "Client certificates on the TLS listener, as Redis's tls-auth-clients: 'no' "
                 "(not asked for), 'yes' (required), 'optional' (checked if sent)")
      ->capture_default_str()
      ->check(CLI::IsMember({"no", "yes", "optional"}))
      ->group("TLS");
  app.add_flag("--upstream-tls", out->upstream_tls,
               "Connect to the upstream over TLS (as a rediss:// URL does)")
      ->group("TLS");
  app.add_option("--upstream-tls-ca-cert-file", out->upstream_tls_ca_cert_file,
                 "PEM CA certificates the upstream's certificate must be signed by (default: the "
                 "system's CAs)")
      ->group("TLS");
  app.add_option("--upstream-tls-server-name", out->upstream_tls_server_name,
                 "Name sent as SNI and required in the upstream's certificate (default: the "
                 "upstream URL's host; an IP address is matched against the certificate's IP "
                 "addresses and not sent)")
      ->group("TLS");
  app.add_option("--upstream-tls-cert-file", out->upstream_tls_cert_file,
                 "PEM client certificate the proxy presents to the upstream (tls-auth-clients)")
      ->group("TLS");
  app.add_option("--upstream-tls-key-file", out->upstream_tls_key_file,
                 "PEM private key of --upstream-tls-cert-file (unencrypted)")
      ->group("TLS");
  app.add_option("--upstream-tls-verify", out->upstream_tls_verify,
                 "Check the upstream's certificate and name: 'yes', or 'no' (testing only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"yes", "no"}))
      ->group("TLS");

  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "Print the effective configuration (flags, environment, config file and defaults "
               "combined; secrets masked) in config-file form, then exit")
      ->group("Server");

  // Every option can also come from the environment: --max-clients from PUPPY_MAX_CLIENTS.
  for (CLI::Option* opt : app.get_options()) {
    if (opt->get_lnames().empty() || !opt->get_envname().empty()) continue;
    const std::string& name = opt->get_lnames().front();
    if (name == "help" || name == "version" || name == "print-config") continue;
    std::string env = "PUPPY_";
    for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    opt->envname(env);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (print_config) {
    std::cout << masked_config(app.config_to_str(true, false));
    return 0;
  }
  if (effective != nullptr) *effective = masked_config(app.config_to_str(true, false));
  if (out->max_bulk_len == 0 || out->max_inline_len == 0) {
    std::cerr << "--max-bulk-len and --max-inline-len must be at least 1\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace puppy::config
