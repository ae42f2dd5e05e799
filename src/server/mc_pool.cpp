#include "puppy/server/mc_pool.hpp"

namespace puppy::server {

mc_pool::mc_pool(worker& owner, const std::vector<memcached::ketama_server>& servers,
                 memcached::key_hash hash)
    : ring_(servers, hash) {
  for (const auto& s : servers) {
    servers_.push_back(std::make_unique<mc_connection>(owner, upstream::host_port{s.host, s.port}));
  }
}

void mc_pool::close() {
  for (auto& s : servers_) s->close();
}

}  // namespace puppy::server
