#pragma once
// The PGET family's decisions as pure functions of (status, value present, now): the
// specification that the Redis Lua script (script.hpp) implements inside Redis, and that an
// upstream without scripting (memcached) runs in the proxy. Unit-tested with an injected clock.
//
// Status values (the status key's content):
//   current:<compute_ms>                                 value fresh; TTL = timeout
//   lease:<token>:<granted_ms>:<compute_ms>:<fresh_until> a regeneration in flight; TTL =
//   update_time backoff:<compute_ms>                                 regeneration failed; TTL =
//   BACKOFF seconds
// compute_ms is the last regeneration time (PSET time - lease grant time), for BETA (XFetch).
// fresh_until is the end of freshness when a lease was taken early by BETA (0 otherwise).
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
  std::int64_t fresh_until_ms = 0;
};

// Parses a status key's value (nullopt: the key does not exist).
status parse_status(std::optional<std::string_view> text);
std::string format_current(std::int64_t compute_ms);
std::string format_lease(std::string_view token, std::int64_t granted_ms, std::int64_t compute_ms,
                         std::int64_t fresh_until_ms);
std::string format_backoff(std::int64_t compute_ms);

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

// PSET: accepted only while `token` holds the lease. On acceptance, compute_ms is returned.
std::optional<std::int64_t> decide_set(const status& st, std::string_view token,
                                       std::int64_t now_ms);

// PRELEASE: accepted only while `token` holds the lease.
bool decide_release(const status& st, std::string_view token);

}  // namespace puppy::pget
