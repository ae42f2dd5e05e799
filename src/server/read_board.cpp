#include "puppy/server/read_board.hpp"

namespace puppy::server {

void read_board::lead(const std::string& key, const void* leader, const cache::stamp& taken) {
  reads_[key] = entry{leader, taken, {}};
}

bool read_board::joinable(const std::string& key) const {
  const auto it = reads_.find(key);
  return it != reads_.end() && it->second.taken.current(gens_);
}

void read_board::join(const std::string& key, follower f) {
  reads_.at(key).followers.push_back(std::move(f));
}

void read_board::done(const std::string& key, const void* leader, std::string_view reply) {
  release(key, leader, &reply);
}

void read_board::abandon(const std::string& key, const void* leader) {
  release(key, leader, nullptr);
}

void read_board::release(const std::string& key, const void* leader,
                         const std::string_view* reply) {
  const auto it = reads_.find(key);
  if (it == reads_.end() || it->second.leader != leader) return;
  const std::vector<follower> followers = std::move(it->second.followers);
  reads_.erase(it);
  for (const auto& f : followers) {
    if (auto s = f.who.lock()) s->on_joined_read(key, f, reply);
  }
}

}  // namespace puppy::server
