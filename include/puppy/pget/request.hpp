#pragma once
// The PGET family's arguments: parsing and validation (no I/O). See docs/pget.md.
//
//   PGET key [timeout] [update_time] [WAIT ms] [BETA b]
//   PSET key token value [timeout] [update_time]
//   PRELEASE key token [BACKOFF seconds]
//   PINVALIDATE key
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puppy::pget {

// Largest timeout/update_time/backoff accepted, in seconds (about 31 years); keeps
// timeout + 2 * update_time far from overflow and within what Redis's EX takes.
inline constexpr std::int64_t max_seconds = 1'000'000'000;

enum class op : std::uint8_t { get, set, release, invalidate };

// Defaults for the optional times, from the proxy's configuration.
struct defaults {
  std::int64_t timeout = 300;
  std::int64_t update_time = 30;
};

// One parsed request. Views point into the arguments given to parse().
struct request {
  op kind = op::get;
  std::string_view key;
  std::string_view token;  // PSET, PRELEASE
  std::string_view value;  // PSET
  std::int64_t timeout = 0;
  std::int64_t update_time = 0;
  std::int64_t wait_ms = 0;  // PGET WAIT; 0: no wait
  double beta = 0;           // PGET BETA; 0: no early refresh
  std::int64_t backoff = 0;  // PRELEASE BACKOFF seconds; 0: none
};

// Whether a lower-case command name is one of the family.
bool is_family(std::string_view lower_name);

// Parses args (args[0] is the command name, any case). Returns an error text for the client
// (without "-ERR " and CRLF), or an empty string on success.
std::string parse(const std::vector<std::string_view>& args, const defaults& d, request* out);

}  // namespace puppy::pget
