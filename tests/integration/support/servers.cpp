#include "servers.hpp"

#include <unistd.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "client.hpp"

#ifndef PUPPY_PROXY_BINARY
#error "PUPPY_PROXY_BINARY must name the puppy-proxy binary"
#endif

namespace puppy::test {
namespace {

// Fails the running test (or, outside Catch, aborts the program) if the proxy's log holds a
// sanitizer report. A sanitized build dir runs its sanitized proxy; the proxy is usually killed
// rather than exited, so its exit code cannot be relied on to carry the report.
void check_no_sanitizer_report(const std::string& log) {
  const char* const markers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                 "runtime error:", "WARNING: ThreadSanitizer"};
  if (std::none_of(std::begin(markers), std::end(markers),
                   [&](const char* m) { return log.find(m) != std::string::npos; })) {
    return;
  }
  on_sanitizer_report(log);
}

void print_and_abort(const std::string& log) {
  std::fprintf(stderr, "puppy-proxy reported a sanitizer error; its log:\n%s\n", log.c_str());
  std::abort();
}

}  // namespace

void (*on_sanitizer_report)(const std::string& log) = print_and_abort;

std::string test_pki() {
  const std::string dir = PUPPY_TLS_DIR;
  if (access((dir + "/ca.crt").c_str(), R_OK) != 0) {
    throw std::runtime_error("no test PKI in " + dir + ": run tests/tls/make_certs.sh " + dir +
                             " (CTest's fixture tls_certs does)");
  }
  return dir;
}

redis_server::redis_server(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), dir_(make_temp_dir("puppy-test-redis")) {
  pick_port_and_start();
}

redis_server::redis_server(const redis_tls& tls, std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), tls_(tls), dir_(make_temp_dir("puppy-test-redis")) {
  pick_port_and_start();
}

void redis_server::pick_port_and_start() {
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;  // the picked port was taken meanwhile: pick another
    }
  }
}

void redis_server::start() {
  client_options ping_options;
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   tls_ ? "0" : std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--enable-debug-command",
                                   "yes"};
  if (tls_) {
    const std::string pki = test_pki();
    argv.insert(argv.end(),
                {"--tls-port", std::to_string(port_), "--tls-cert-file", pki + "/server.crt",
                 "--tls-key-file", pki + "/server.key", "--tls-ca-cert-file", pki + "/ca.crt",
                 "--tls-auth-clients", tls_->auth_clients});
    ping_options.tls = true;
    ping_options.ca_file = pki + "/ca.crt";
    if (tls_->auth_clients == "yes") {
      ping_options.cert_file = pki + "/client.crt";
      ping_options.key_file = pki + "/client.key";
    }
  }
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = process(argv, dir_ + "/redis.log");
  if (!wait_until([&] { return !proc_.running() || answers_ping(port_, ping_options); }, 20s) ||
      !proc_.running()) {
    proc_.stop(9, 5s);
    throw std::runtime_error("redis-server did not start on port " + std::to_string(port_) + ": " +
                             read_file(dir_ + "/redis.log"));
  }
}

redis_cluster::redis_cluster(int masters, int replicas)
    : dir_(make_temp_dir("puppy-test-cluster")) {
  std::vector<std::string> create = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < masters * (1 + replicas); ++i) {
    // The cluster bus needs a port too: one picked here, not port + 10000 (which may be taken,
    // or beyond 65535).
    nodes_.push_back(std::make_unique<redis_server>(std::vector<std::string>{
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
        "2000", "--cluster-port", std::to_string(free_port())}));
    create.push_back("127.0.0.1:" + std::to_string(nodes_.back()->port()));
  }
  create.insert(create.end(), {"--cluster-replicas", std::to_string(replicas), "--cluster-yes"});
  process cli(create, dir_ + "/create.log");
  if (cli.wait(60s) != 0) {
    throw std::runtime_error("redis-cli --cluster create failed: " +
                             read_file(dir_ + "/create.log"));
  }
  // Every node must know every slot's owner (gossip takes a moment after create).
  for (auto& n : nodes_) {
    const bool ok = wait_until(
        [&] {
          try {
            raw_client c(n->port());
            return c.call({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
          } catch (const std::exception&) {
            return false;
          }
        },
        30s);
    if (!ok) throw std::runtime_error("the test cluster did not reach cluster_state:ok");
  }
  // Every node lists every replica in CLUSTER SLOTS (reads from replicas need it). Redis lists
  // a replica only once its replication offset is not 0: a PUBLISH on each master (replicated,
  // no key written) moves it.
  if (replicas > 0) {
    const auto listed = [](const std::string& slots) {
      int count = 0;
      for (auto at = slots.find("\r\n127.0.0.1\r\n"); at != std::string::npos;
           at = slots.find("\r\n127.0.0.1\r\n", at + 1)) {
        ++count;
      }
      return count;
    };
    for (auto& n : nodes_) {
      raw_client c(n->port());
      const bool known = wait_until(
          [&] {
            for (auto& m : nodes_) raw_client(m->port()).call({"PUBLISH", "puppy-test", "x"});
            return listed(c.call({"CLUSTER", "SLOTS"})) == masters * (1 + replicas);
          },
          30s);
      if (!known) throw std::runtime_error("the test cluster's CLUSTER SLOTS lacks replicas");
    }
  }
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (is_master(i)) continue;
    raw_client c(nodes_[i]->port());
    const bool synced = wait_until(
        [&] {
          return c.call({"INFO", "replication"}).find("master_link_status:up") != std::string::npos;
        },
        30s);
    if (!synced) throw std::runtime_error("a replica of the test cluster did not sync");
  }
}

bool redis_cluster::is_master(std::size_t i) {
  raw_client c(nodes_[i]->port());
  return c.call({"ROLE"}).rfind("*3\r\n$6\r\nmaster\r\n", 0) == 0;
}

std::string redis_cluster::url() const {
  std::string out = "redis-cluster://";
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    out += (i > 0 ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
  }
  return out;
}

std::size_t redis_cluster::owner_of(const std::string& key) {
  for (std::size_t i = 0; i < size(); ++i) {
    if (!node(i).running() || !is_master(i)) continue;
    raw_client n(node(i).port());
    if (n.call({"GET", key}).rfind("-MOVED", 0) != 0) return i;
  }
  throw std::runtime_error("no node serves " + key);
}

std::string redis_cluster::node_id(std::size_t i) {
  raw_client n(node(i).port());
  const auto r = n.call({"CLUSTER", "MYID"});
  return bulk_strings("*1\r\n" + r).front();
}

void redis_cluster::move_slot(const std::string& key, std::size_t to) {
  const std::size_t from = owner_of(key);
  if (from == to) return;
  raw_client src(node(from).port());
  raw_client dst(node(to).port());
  const std::string slot_reply = src.call({"CLUSTER", "KEYSLOT", key});
  const std::string slot = slot_reply.substr(1, slot_reply.size() - 3);
  const auto ok = [](const std::string& r, const char* what) {
    if (r != "+OK\r\n") throw std::runtime_error(std::string(what) + ": " + r);
  };
  ok(dst.call({"CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(from)}), "IMPORTING");
  ok(src.call({"CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(to)}), "MIGRATING");
  for (;;) {
    const auto keys = bulk_strings(src.call({"CLUSTER", "GETKEYSINSLOT", slot, "100"}));
    if (keys.empty()) break;
    std::vector<std::string> migrate = {
        "MIGRATE", "127.0.0.1", std::to_string(node(to).port()), "", "0", "5000", "KEYS"};
    migrate.insert(migrate.end(), keys.begin(), keys.end());
    ok(src.call(migrate), "MIGRATE");
  }
  for (std::size_t i = 0; i < size(); ++i) {
    raw_client n(node(i).port());
    ok(n.call({"CLUSTER", "SETSLOT", slot, "NODE", node_id(to)}), "SETSLOT NODE");
  }
}

redis_cluster::~redis_cluster() {
  nodes_.clear();
  remove_temp_dir(dir_);
}

redis_server::~redis_server() {
  proc_.stop(9, 10s);
  remove_temp_dir(dir_);
}

void redis_server::stop() {
  proc_.stop(15, 10s);
}
void redis_server::kill() {
  proc_.stop(9, 10s);
}

memcached_server::memcached_server(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), dir_(make_temp_dir("puppy-test-memcached")) {
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    try {
      start();
      return;
    } catch (const std::exception&) {
      if (attempt == 4) throw;
    }
  }
}

memcached_server::~memcached_server() {
  proc_.stop(9, 10s);
  remove_temp_dir(dir_);
}

void memcached_server::start() {
  std::vector<std::string> argv = {
      "memcached", "-p", std::to_string(port_), "-l", "127.0.0.1", "-U", "0", "-m", "64"};
  if (getuid() == 0) {  // memcached refuses to run as root unless told to
    argv.push_back("-u");
    argv.push_back("root");
  }
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  proc_ = process(argv, dir_ + "/memcached.log");
  const bool up = wait_until(
      [&] {
        if (!proc_.running()) return true;
        try {
          raw_client c(port_);
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      20s);
  if (!up || !proc_.running()) {
    proc_.stop(9, 5s);
    throw std::runtime_error("memcached did not start on port " + std::to_string(port_) + ": " +
                             read_file(dir_ + "/memcached.log"));
  }
}

void memcached_server::stop() {
  proc_.stop(15, 10s);
}

std::string proxy_server::binary() {
  // scripts/sanitize.sh points the tests at a sanitized build of the proxy.
  if (const char* other = std::getenv("PUPPY_TEST_PROXY_BINARY"); other != nullptr && *other) {
    return other;
  }
  return built_binary();
}

std::string proxy_server::built_binary() {
  return PUPPY_PROXY_BINARY;
}

proxy_server::proxy_server(const std::string& upstream_url, std::vector<std::string> extra_args)
    : dir_(make_temp_dir("puppy-test-proxy")) {
  const std::string ready = dir_ + "/ready";
  std::vector<std::string> argv = {binary(), "--listen", "127.0.0.1:0", "--ready-file", ready};
  // Debug logs, unless a config file is given: a flag would override the file's log level.
  if (std::find(extra_args.begin(), extra_args.end(), "--config") == extra_args.end()) {
    argv.push_back("--log-level");
    argv.push_back("debug");
  }
  if (!upstream_url.empty()) {
    argv.push_back("--upstream");
    argv.push_back(upstream_url);
  }
  // PUPPY_TEST_PROXY_ARGS adds flags to every proxy a test starts (CTest runs the suite once
  // more with --shared-connections 0, so both upstream modes are covered).
  const bool mode_given =
      std::find(extra_args.begin(), extra_args.end(), "--shared-connections") != extra_args.end();
  // The near cache's options are for one Redis upstream only (a memcached upstream and, for now,
  // a cluster refuse them).
  const bool no_near = upstream_url.rfind("memcached://", 0) == 0 ||
                       upstream_url.rfind("redis-cluster://", 0) == 0 ||
                       upstream_url.rfind("rediss-cluster://", 0) == 0;
  if (const char* more = std::getenv("PUPPY_TEST_PROXY_ARGS"); more != nullptr && !mode_given) {
    std::istringstream words(more);
    for (std::string w; words >> w;) {
      if (no_near && w.rfind("--near-cache", 0) == 0) {
        words >> w;  // and its value
        continue;
      }
      argv.push_back(w);
    }
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  proc_ = process(argv, dir_ + "/proxy.log");
  if (!wait_until([&] { return !proc_.running() || access(ready.c_str(), R_OK) == 0; }, 20s) ||
      !proc_.running()) {
    throw std::runtime_error("puppy-proxy did not start: " + log());
  }
  // One line per listener: "host:port", then "metrics host:port" with --metrics-listen and
  // "tls host:port" with --tls-listen.
  std::istringstream lines(read_file(ready));
  for (std::string line; std::getline(lines, line);) {
    const auto port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
    if (line.rfind("tls ", 0) == 0) {
      tls_port_ = port;
    } else if (line.rfind("metrics ", 0) == 0) {
      metrics_port_ = port;
    } else {
      port_ = port;
    }
  }
}

proxy_server::~proxy_server() {
  proc_.stop(9, 10s);
  check_no_sanitizer_report(log());
  remove_temp_dir(dir_);
}

int proxy_server::stop() {
  return proc_.stop(15, 20s);
}

}  // namespace puppy::test

namespace puppy::test {
std::pair<int, std::string> run_proxy(const std::vector<std::string>& args) {
  const std::string dir = make_temp_dir("puppy-test-cli");
  std::vector<std::string> argv = {proxy_server::binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  process p(argv, dir + "/out.log");
  const int code = p.wait(20s);
  const std::string out = read_file(dir + "/out.log");
  remove_temp_dir(dir);
  return {code, out};
}

bool raw_client_answers_default() {
  try {
    raw_client c(6379);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace puppy::test
