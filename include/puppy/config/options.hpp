#pragma once
// Every run-time option of puppy-proxy, from flags or a TOML/INI config file (CLI11).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace puppy::config {

struct options {
  std::string listen = "127.0.0.1:6380";
  std::string upstream;  // empty: redis://127.0.0.1:6379, or an embedded redis-server (see below)
  std::string embedded_upstream = "auto";  // auto | never
  std::string redis_server = "redis-server";
  unsigned threads = 1;
  std::string log_level = "info";
  std::string ready_file;
  std::string log_format = "text";  // text | json

  std::string metrics_listen;  // HOST:PORT of /metrics, /healthz, /readyz; empty: none
  unsigned health_check_interval_ms = 1000;

  std::uint64_t max_args = 0;  // 0 until parsed; defaults come from puppy/resp/limits.hpp
  std::uint64_t max_bulk_len = 0;
  std::uint64_t max_inline_len = 0;
  std::uint64_t max_reply_depth = 0;

  unsigned shared_connections = 1;
  std::string memcached_hash = "md5";
  std::uint64_t max_shared_request = 512 * 1024;
  std::uint64_t client_output_limit = 256ull * 1024 * 1024;
  unsigned max_clients = 10000;
  unsigned timeout = 0;  // idle client timeout in seconds, 0: never
  unsigned drain_timeout_ms = 5000;

  std::int64_t pget_timeout = 300;
  std::int64_t pget_update_time = 30;
  std::string pget_status_prefix = "puppy:";
  bool pget_cluster_keys = false;
  std::string pget_channel = "puppy:wake";
  std::uint64_t near_cache_size = 0;  // bytes, all threads together; 0: off
  std::vector<std::string> near_cache_prefixes;

  std::string requirepass;        // the proxy's own password for its clients; empty: none
  std::string upstream_user;      // overrides the user in the --upstream URL
  std::string upstream_password;  // overrides the password in the --upstream URL
  std::string sentinel_user;      // redis-sentinel://: the sentinels' credentials
  std::string sentinel_password;
  unsigned upstream_connect_timeout_ms = 2000;
  unsigned upstream_timeout_ms = 10000;
  unsigned upstream_retry_min_ms = 50;
  unsigned upstream_retry_max_ms = 2000;
  bool upstream_require_primary = false;     // one Redis: ROLE on every new connection
  unsigned cluster_retry_timeout_ms = 5000;  // redis-cluster://: how long a request may wait
  unsigned cluster_refresh_interval_ms =
      10000;                         // redis-cluster://: topology read at least this often
  std::string read_from = "master";  // redis-cluster://: master, replica or prefer-replica

  // TLS towards clients: a second listener that speaks only TLS, with this certificate.
  std::string tls_listen;  // empty: none
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_cert_file;         // CAs that sign client certificates
  std::string tls_auth_clients = "no";  // no | yes | optional, as Redis's tls-auth-clients
  // TLS towards the upstream: with a rediss:// URL or this flag.
  bool upstream_tls = false;
  std::string upstream_tls_ca_cert_file;  // empty: the system's CAs
  std::string upstream_tls_server_name;   // empty: the URL's host
  std::string upstream_tls_cert_file;     // the proxy's client certificate, if Redis asks for one
  std::string upstream_tls_key_file;
  std::string upstream_tls_verify = "yes";  // yes | no
};

// The URL used when no upstream is configured.
inline constexpr const char* default_upstream = "redis://127.0.0.1:6379";

// Parses the command line (and the --config file it names) into *out. Returns an exit code when
// the program should stop now (after --help, --version or an invalid option, whose message has
// been printed), or nullopt to go on. `effective`, if given, gets the effective configuration in
// config-file form, secrets masked (what --print-config prints).
std::optional<int> parse_options(int argc, char** argv, options* out,
                                 std::string* effective = nullptr);

}  // namespace puppy::config
