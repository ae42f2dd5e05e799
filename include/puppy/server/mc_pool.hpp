#pragma once
// The memcached servers behind a worker: one pipelined connection to each (pipelined_link:
// requests written in order, responses matched in order, reconnected with a per-server back-off),
// and ketama placement of keys. A server that is down answers its requests with
// code::unavailable at once (asynchronously); the other servers are not affected, and keys are
// not moved elsewhere.
#include <memory>
#include <string_view>
#include <vector>

#include "puppy/memcached/ketama.hpp"
#include "puppy/server/link_protocols.hpp"
#include "puppy/server/pipelined_link.hpp"

namespace puppy::server {

class worker;

// One pipelined connection to a memcached server (pipelined_link.hpp).
using mc_connection = pipelined_link<memcached_protocol>;

class mc_pool {
 public:
  mc_pool(worker& owner, const std::vector<memcached::ketama_server>& servers,
          memcached::key_hash hash);
  std::size_t size() const { return servers_.size(); }
  mc_connection& at(std::size_t i) { return *servers_[i]; }
  mc_connection& for_key(std::string_view key) { return *servers_[ring_.server_for(key)]; }
  void close();

 private:
  std::vector<std::unique_ptr<mc_connection>> servers_;
  memcached::ketama ring_;
};

}  // namespace puppy::server
