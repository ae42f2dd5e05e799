#pragma once
// Redis Sentinel for integration tests: a primary, its replicas and the sentinels watching it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "servers.hpp"

namespace puppy::test {

struct sentinel_set_options {
  int replicas = 1;
  int sentinels = 3;
  std::string master_name = "puppymaster";
  // The sentinels' requirepass (and sentinel-pass, with which they talk to each other); empty:
  // none.
  std::string sentinel_password;
  // Data nodes serving TLS only (redis_tls, the test PKI) and replicating over TLS; the
  // sentinels reach them, and each other, over TLS (tls-replication) while serving their clients
  // in the clear on port().
  bool tls = false;
};

// A primary redis_server with `replicas` replicas (--replicaof the primary) and `sentinels`
// Redis Sentinels monitoring it as `master_name` (quorum 2 with 3 sentinels or more, a majority
// beyond; 1 with fewer), each sentinel on a loopback port of its own with a config file it may
// rewrite, in a temp directory of its own. down-after-milliseconds 1000, failover-timeout 5000,
// parallel-syncs 1. Before the constructor returns every replica is in sync
// (master_link_status:up) and every sentinel names the primary, lists every replica (flags
// "slave", link ok) and knows every other sentinel: a failover can start at once.
class redis_sentinel_set {
 public:
  explicit redis_sentinel_set(sentinel_set_options options = {});
  ~redis_sentinel_set();  // kills the sentinels, then the nodes; removes the directories
  // Data nodes: 0 is the initial primary, 1.. its replicas.
  std::size_t size() const { return nodes_.size(); }
  redis_server& node(std::size_t i) { return *nodes_[i]; }
  std::size_t sentinels() const { return sentinels_.size(); }
  std::uint16_t sentinel_port(std::size_t i) const;
  const std::string& master_name() const { return master_name_; }
  // redis-sentinel://127.0.0.1:<sentinel 0>,127.0.0.1:<sentinel 1>,.../<master_name>
  // (rediss-sentinel:// with tls).
  std::string url() const;
  // How a raw_client reaches a data node (TLS with the test PKI's CA, or not).
  client_options node_options() const;
  // The index of the one running node that says it is a master (ROLE); nullopt if none does or
  // more than one does (as for a moment during a failover, before the old primary is turned
  // into a replica).
  std::optional<std::size_t> primary();
  // The primary's port as sentinel `sentinel` tells it (SENTINEL get-master-addr-by-name); 0 if
  // it answers nil or cannot be reached.
  std::uint16_t sentinel_primary_port(std::size_t sentinel = 0);
  // SENTINEL FAILOVER <name> to sentinel `sentinel` (a failover without agreement, the primary
  // being up). Throws on an error reply (-INPROG, -NOGOODSLAVE); does not wait for the failover.
  void failover(std::size_t sentinel = 0);
  // Waits until every running sentinel names one same primary whose port is not old_port and
  // that node says it is a master (ROLE). Whether that happened within `timeout`.
  bool await_primary_change(std::uint16_t old_port, std::chrono::milliseconds timeout);
  // SIGKILL to sentinel i (then ignored by await_primary_change).
  void kill_sentinel(std::size_t i);

 private:
  struct sentinel_process;  // its directory, port and process (sentinel_servers.cpp)

  std::string master_name_;
  std::string password_;  // the sentinels'
  bool tls_;
  std::vector<std::unique_ptr<redis_server>> nodes_;
  std::vector<std::unique_ptr<sentinel_process>> sentinels_;
};

}  // namespace puppy::test
