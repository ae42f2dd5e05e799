#pragma once
// What a near cache's copies answer, and which write generations a forwarded command moves
// (docs/near-cache.md): the decisions every kind of upstream connection makes alike (one Redis,
// a Redis Cluster), kept apart from their I/O. Pure: no sockets, an injected clock.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cache/near_cache.hpp"
#include "puppy/cache/write_gens.hpp"
#include "puppy/resp/command_table.hpp"

namespace puppy::cache {

// The copy of `key` a PGET may be answered `fresh` from at `now`, or nullopt (no valid copy, or
// BETA's early refresh is due: the PGET goes to Redis for the lease). `xfetch` is BETA's factor
// (beta * -ln(u), 0 without BETA); the early refresh is decided from the copy's deadline and
// compute time exactly as pget::decide_read() decides it from Redis's status. Counts a hit or a
// miss in `cache` (near_cache::find). The copy's value is valid until the cache's next
// non-const call.
std::optional<near_cache::copy> pget_copy(near_cache& cache, std::string_view key, double xfetch,
                                          near_cache::clock::time_point now);

// Whether `key` starts with one of `prefixes` (--near-cache-prefix).
bool under_prefix(std::string_view key, const std::vector<std::string>& prefixes);

// GET key / MGET key...: `args` as the client sent them, the name first (`mget`: MGET). Whether
// copies may answer it: --near-cache-prefix is set, GET has its one key and MGET at least one,
// every key is under a prefix, and the client does not speak RESP3 (`resp3`: the copies hold
// RESP2 replies). Whether the client may use the near cache at all is the caller's to say.
bool get_eligible(const std::vector<std::string_view>& args, bool mget, bool resp3,
                  const std::vector<std::string>& prefixes);

// GET key / MGET key...: `args` as the client sent them, the name first. If every key has a
// valid copy in `cache`'s GET space, appends the reply Redis would give (RESP2: the bulk, or an
// array of them for `mget`) to `reply` and returns true. Else returns false and lists in
// `missing` the keys that have none (views of `args`), for fills. Every key is looked up (hits
// and misses counted).
bool get_reply(near_cache& cache, const std::vector<std::string_view>& args, bool mget,
               near_cache::clock::time_point now, std::string* reply,
               std::vector<std::string_view>* missing);

// The write generations a command may move: some slots, or all of them (the epoch).
struct write_note {
  std::vector<std::size_t> slots;
  bool all = false;

  bool empty() const { return slots.empty() && !all; }
  void clear() {
    slots.clear();
    all = false;
  }
  // Adds what `other` moves (a transaction's commands, counted at EXEC).
  void add(const write_note& other);
  // Bumps them: once when the command is sent, once when its reply arrived.
  void bump(write_gens& gens) const;
};

// What a command may write, as far as the near cache is concerned: nothing if `spec` says it is
// read-only; everything (the epoch) if it writes every key (FLUSHALL, ...) or its arguments are
// not known (`have_args` false); else the slot of every argument after the name that is short
// enough to be a cached key (near_cache::max_key_size), keys among them (unknown commands
// included: their keys are somewhere in their arguments).
write_note writes_of(const resp::command_spec& spec, const std::vector<std::string_view>& args,
                     bool have_args = true);

// A PGET-family write (PSET, PRELEASE, PINVALIDATE): the key and its status key.
write_note pget_writes(std::string_view key, std::string_view status_key);

}  // namespace puppy::cache
