#pragma once
// Concurrent PGET reads of one key on one worker share one read (with the near cache on, when
// a hot key's copy expires or is invalidated, every client misses at once). The first session
// to read a key leads: its MGET is on the board; a session that wants the same key while it is
// in flight, and while no write through this proxy touched the key since it was sent (the write
// generations), follows: it reserves a reply slot and decides from the leader's answer as if it
// had read it itself. A leader that goes away hands its followers back their own reads.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "puppy/cache/write_gens.hpp"

namespace puppy::server {

class session;

class read_board {
 public:
  struct follower {
    std::weak_ptr<session> who;
    std::uint64_t slot;  // its reply slot
    std::int64_t timeout;
    std::int64_t update_time;
    double xfetch;
  };

  explicit read_board(const cache::write_gens& gens) : gens_(gens) {}

  // `leader` reads `key` now (its MGET goes out); `taken` its generations before the read.
  void lead(const std::string& key, const session* leader, const cache::stamp& taken);
  // Whether a read of `key` is in flight (valid or not), and whether one may be joined.
  bool reading(const std::string& key) const { return reads_.count(key) != 0; }
  bool joinable(const std::string& key) const;
  // Joins the read of `key` in flight (joinable() said so).
  void join(const std::string& key, follower f);
  // The leader's read of `key` was answered with `reply` (the MGET reply bytes): every follower
  // decides from it (session::on_joined_read).
  void done(const std::string& key, const session* leader, std::string_view reply);
  // The leader goes away without an answer: followers read for themselves.
  void abandon(const std::string& key, const session* leader);

 private:
  struct entry {
    const session* leader;
    cache::stamp taken;
    std::vector<follower> followers;
  };
  void release(const std::string& key, const session* leader, const std::string_view* reply);

  const cache::write_gens& gens_;
  std::unordered_map<std::string, entry> reads_;
};

}  // namespace puppy::server
