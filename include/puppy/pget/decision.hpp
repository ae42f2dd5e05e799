#pragma once
// The PGET family's decisions as pure functions of (status, value present, now): the
// specification that the Redis Lua script (script.hpp) implements inside Redis, and that an
// upstream without scripting (memcached) runs in the proxy. Unit-tested with an injected clock.
//
// Status values (the status key's content):
//   current:<compute_ms>:<fresh_until>                     value fresh; TTL = timeout
//   lease:<token>:<granted_ms>:<compute_ms>:<fresh_until>  a regeneration in flight;
//                                                          TTL = update_time
//   backoff:<compute_ms>                                   regeneration failed; TTL = BACKOFF s
// compute_ms is the last regeneration time (PSET time - lease grant time), for BETA (XFetch).
// fresh_until (the writer's wall clock, ms) is when freshness ends: PSET's time + timeout, so
// that a reader decides BETA's early refresh (and the near cache how long a copy may answer)
// from one read of the status, without asking for its TTL; in a lease, the end of freshness
// when BETA took the lease early (0 otherwise). Also understood, as written by others:
//   current:<compute_ms>   (puppy-proxy before the deadline was stored) fresh, deadline unknown
//   current                (django-puppy-cache) fresh, compute time 0, deadline unknown
//   updating               (django-puppy-cache) a lease held by someone whose token nobody knows:
//                          parsed as unknown, like any other foreign value
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace puppy::pget {

enum class state : std::uint8_t { fresh, stale, lease, miss };
const char* state_name(state s);

struct status {
  enum class kind : std::uint8_t { none, current, lease, backoff, unknown } what = kind::none;
  std::string token;
  std::int64_t granted_ms = 0;
  std::int64_t compute_ms = 0;
  std::int64_t fresh_until_ms = 0;  // 0: unknown (current) or not early (lease)
};

// Parses a status key's value (nullopt: the key does not exist).
status parse_status(std::optional<std::string_view> text);
std::string format_current(std::int64_t compute_ms, std::int64_t fresh_until_ms);
std::string format_lease(std::string_view token, std::int64_t granted_ms, std::int64_t compute_ms,
                         std::int64_t fresh_until_ms);
std::string format_backoff(std::int64_t compute_ms);

// A status puppy-proxy did not write (django-puppy-cache's "updating" during a rolling migration,
// another writer's marker) is a lease whose end nobody publishes: a waiting PGET looks again at
// least this often, as the seed's own readers poll (its PUPPY_SLEEP, 0.1 s).
inline constexpr std::int64_t foreign_lease_poll_ms = 100;

struct get_decision {
  state answer = state::miss;
  bool take_lease = false;  // write `new_status` with TTL update_time (seconds)
  std::string new_status;
  std::int64_t retry_after_ms = -1;  // for miss/stale: when the status ends (-1: unknown)
};

// PGET. `status_pttl_ms` is the status key's remaining life (ignored if absent);
// `xfetch_factor` is beta * -ln(u) for a uniform u in (0, 1], or 0 without BETA.
get_decision decide_get(const status& st, std::int64_t status_pttl_ms, bool has_value,
                        std::int64_t now_ms, std::string_view new_token, double xfetch_factor);

// What a PGET decides from one plain read of its value and status (MGET key status), before
// anything is written: most reads (a fresh value, a stale one while someone else regenerates)
// are answered from it at once; the rest need an atomic step, which is then decided again in
// Redis (decide_get) on what it finds at that moment.
enum class read_next : std::uint8_t {
  answer,      // answer `answer` (fresh, stale, or miss) with the value read
  take_lease,  // no status: try to take the lease (SET status NX GET + GET, or the script)
  heal,        // a current status without its value (evicted): answer miss, drop the status
  atomic       // BETA may refresh early, or a status whose deadline is unknown: the script
};
struct read_decision {
  read_next next = read_next::answer;
  state answer = state::miss;
};
// `xfetch_factor` as for decide_get (0 without BETA).
read_decision decide_read(const status& st, bool has_value, std::int64_t now_ms,
                          double xfetch_factor);

// PSET: accepted only while `token` holds the lease. On acceptance, compute_ms is returned.
std::optional<std::int64_t> decide_set(const status& st, std::string_view token,
                                       std::int64_t now_ms);

// PRELEASE: accepted only while `token` holds the lease.
bool decide_release(const status& st, std::string_view token);

}  // namespace puppy::pget
