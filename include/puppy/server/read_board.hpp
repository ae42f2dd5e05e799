#pragma once
// Concurrent PGET reads of one key on one worker share one read (with the near cache on, when
// a hot key's copy expires or is invalidated, every client misses at once). The first PGET to
// read a key leads: its MGET is on the board; a PGET that wants the same key while it is in
// flight, and while no write through this proxy touched the key since it was sent (the write
// generations), follows: it keeps its place among its client's replies and decides from the
// leader's answer as if it had read it itself. A leader that goes away hands its followers back
// their own reads. Leaders and followers are a session's PGETs (one Redis) or a cluster
// backend's (the key's master): the board knows them only as read_listener and an identity.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "puppy/cache/write_gens.hpp"

namespace puppy::server {

class read_listener;

class read_board {
 public:
  struct follower {
    std::weak_ptr<read_listener> who;
    std::uint64_t slot;  // its reply slot
    std::int64_t timeout;
    std::int64_t update_time;
    double xfetch;
  };

  explicit read_board(const cache::write_gens& gens) : gens_(gens) {}

  // `leader` reads `key` now (its MGET goes out); `taken` its generations before the read.
  // `leader` is only compared: whatever identifies the read (a session, a cluster PGET).
  void lead(const std::string& key, const void* leader, const cache::stamp& taken);
  // Whether a read of `key` is in flight (valid or not), and whether one may be joined.
  bool reading(const std::string& key) const { return reads_.count(key) != 0; }
  bool joinable(const std::string& key) const;
  // Joins the read of `key` in flight (joinable() said so).
  void join(const std::string& key, follower f);
  // The leader's read of `key` was answered with `reply` (the MGET reply bytes): every follower
  // decides from it (read_listener::on_joined_read). Followers that are gone are skipped.
  void done(const std::string& key, const void* leader, std::string_view reply);
  // The leader goes away without an answer: followers read for themselves.
  void abandon(const std::string& key, const void* leader);

 private:
  struct entry {
    const void* leader;
    cache::stamp taken;
    std::vector<follower> followers;
  };
  void release(const std::string& key, const void* leader, const std::string_view* reply);

  const cache::write_gens& gens_;
  std::unordered_map<std::string, entry> reads_;
};

// What follows a read on the board.
class read_listener {
 public:
  // The read of `key` this follower joined was answered (`reply`: the MGET's bytes), or its
  // leader went away (null: read for yourself). `f` is what the follower joined with.
  virtual void on_joined_read(const std::string& key, const read_board::follower& f,
                              const std::string_view* reply) = 0;

 protected:
  ~read_listener() = default;
};

}  // namespace puppy::server
