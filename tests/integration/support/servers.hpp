#pragma once
// Real servers for integration tests, each on a loopback port it picks, in its own temp directory.
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "process.hpp"

namespace puppy::test {

// The throwaway test PKI of tests/tls/make_certs.sh (made by the CTest fixture tls_certs):
// its directory, holding ca.crt, server.crt/key (localhost, 127.0.0.1), client.crt/key,
// other-ca.crt, bad.pem. Throws if it has not been made.
std::string test_pki();

// A redis-server serving TLS only, with the test PKI's server certificate and CA.
struct redis_tls {
  std::string auth_clients = "no";  // its tls-auth-clients: no, yes (client.crt) or optional
};

// A redis-server with no persistence.
class redis_server {
 public:
  explicit redis_server(std::vector<std::string> extra_args = {});
  explicit redis_server(const redis_tls& tls, std::vector<std::string> extra_args = {});
  ~redis_server();  // kills it and removes its directory (kept if PUPPY_KEEP_TEST_DIRS is set)
  std::uint16_t port() const { return port_; }
  std::string url() const {
    return (tls_ ? "rediss://127.0.0.1:" : "redis://127.0.0.1:") + std::to_string(port_);
  }
  void stop();   // SIGTERM and wait
  void kill();   // SIGKILL
  void start();  // again, on the same port
  bool running() { return proc_.running(); }
  void pause() { proc_.pause(); }  // stops answering, connections stay open
  void resume() { proc_.signal(SIGCONT); }

 private:
  void pick_port_and_start();

  std::vector<std::string> extra_args_;
  std::optional<redis_tls> tls_;
  std::string dir_;
  std::uint16_t port_ = 0;
  process proc_;
};

// A Redis Cluster of `masters` masters, each with `replicas` replicas, on loopback ports (each
// node's bus on a port of its own, --cluster-port), made with `redis-cli --cluster create`:
// every slot is assigned, every node says cluster_state:ok and every replica is in sync with its
// master before the constructor returns.
class redis_cluster {
 public:
  explicit redis_cluster(int masters = 3, int replicas = 0);
  ~redis_cluster();
  std::size_t size() const { return nodes_.size(); }
  redis_server& node(std::size_t i) { return *nodes_[i]; }
  // redis-cluster://127.0.0.1:<first node>,... (every node a seed).
  std::string url() const;
  // Whether node `i` is a master now (ROLE).
  bool is_master(std::size_t i);
  // The node serving `key`'s slot, and a node's id.
  std::size_t owner_of(const std::string& key);
  std::string node_id(std::size_t i);
  // Moves the slot of `key`, with its keys, to node `to`, as redis-cli --cluster reshard does
  // (IMPORTING/MIGRATING, MIGRATE, then SETSLOT NODE on every node).
  void move_slot(const std::string& key, std::size_t to);

 private:
  std::vector<std::unique_ptr<redis_server>> nodes_;
  std::string dir_;  // redis-cli's log
};

// A memcached server (64 MB, default 1 MB item size limit).
class memcached_server {
 public:
  explicit memcached_server(std::vector<std::string> extra_args = {});
  ~memcached_server();
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void stop();   // SIGTERM and wait
  void start();  // again, on the same port (empty)
  bool running() { return proc_.running(); }
  void pause() { proc_.pause(); }  // stops answering, connections stay open
  void resume() { proc_.signal(SIGCONT); }

 private:
  std::vector<std::string> extra_args_;
  std::string dir_;
  std::uint16_t port_ = 0;
  process proc_;
};

// Called when a stopped proxy's log holds a sanitizer report. The default prints the log and
// aborts; the Catch test mains (main.cpp) make it fail the running test instead. (No Catch here:
// tools like with_servers link this library without it.)
extern void (*on_sanitizer_report)(const std::string& log);

// The puppy-proxy binary under test.
class proxy_server {
 public:
  explicit proxy_server(const std::string& upstream_url, std::vector<std::string> extra_args = {});
  ~proxy_server();
  std::uint16_t port() const { return port_; }
  // The TLS listener's port (--tls-listen), or 0 if there is none.
  std::uint16_t tls_port() const { return tls_port_; }
  // The admin listener's port, when started with --metrics-listen (else 0).
  std::uint16_t metrics_port() const { return metrics_port_; }
  // SIGTERM; returns the exit status.
  int stop();
  void signal(int sig) { proc_.signal(sig); }
  // Waits for the proxy to exit on its own; returns as process::wait() does.
  int wait(std::chrono::milliseconds timeout) { return proc_.wait(timeout); }
  pid_t pid() const { return proc_.pid(); }
  bool running() { return proc_.running(); }
  std::string log() const { return read_file(dir_ + "/proxy.log"); }
  // The proxy the tests run: $PUPPY_TEST_PROXY_BINARY if set, else built_binary().
  static std::string binary();
  // The one built with these tests.
  static std::string built_binary();

 private:
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::uint16_t metrics_port_ = 0;
  process proc_;
};

}  // namespace puppy::test

namespace puppy::test {
// Runs the proxy binary with `args` until it exits (at most 20 s); returns {exit code, output}.
std::pair<int, std::string> run_proxy(const std::vector<std::string>& args);
// Whether something accepts connections on 127.0.0.1:6379.
bool raw_client_answers_default();
}  // namespace puppy::test
