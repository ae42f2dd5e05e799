#pragma once
// Redis commands over memcached, as state machines without I/O: a command says which memcached
// requests to send (each to the server its key maps to, or to every server), is given their
// responses, and either asks for more or finishes with the RESP reply a Redis user expects.
// docs/memcached.md lists every command and every difference from Redis.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/memcached/response.hpp"
#include "puppy/pget/keys.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/resp/client_state.hpp"
#include "puppy/resp/encode.hpp"

namespace puppy::memcached {

// Longest key memcached takes (KEY_MAX_LENGTH).
inline constexpr std::size_t max_key_len = 250;
// memcached's relative TTLs end at 30 days; larger numbers are absolute Unix times.
inline constexpr std::int64_t max_relative_ttl = 60 * 60 * 24 * 30;
// memcached keeps times in 32 bits: a later absolute expiry is stored as this (January 2038).
inline constexpr std::int64_t max_absolute_ttl = 2147483647;

struct request {
  std::string key;         // the Redis key: decides the server (unless broadcast)
  bool broadcast = false;  // to every server; one response per server, in server order
  std::string bytes;       // one memcached command, which gets exactly one response
};

struct step {
  std::vector<request> requests;  // to send now; their responses come back in this order
  bool done = false;
  std::string reply;                // the RESP reply, once done
  std::int64_t wake_after_ms = -1;  // no requests: call next({}) after this long (PGET WAIT)
};

// What a client connection remembers between commands.
using client_state = resp::client_state;

struct settings {
  std::size_t servers = 1;
  pget::defaults pget_defaults;
  pget::key_rules pget_keys;
};

class command {
 public:
  virtual ~command() = default;
  virtual step begin() = 0;
  // The responses to the last step's requests, in order. A request that could not reach its
  // server gets a response of code::unavailable whose flags hold the reason.
  virtual step next(const std::vector<response>& responses) = 0;
};

// Translates one request (args[0] is the command name, any case). Returns the command to run, or
// nullptr when the reply needs no server: then *reply holds it.
std::unique_ptr<command> translate(const std::vector<std::string_view>& args, client_state& state,
                                   const settings& cfg, std::int64_t now_ms, std::string* reply);

// ---- helpers shared by the command implementations (translate_*.cpp) --------------------------

namespace resp_out = resp::encode;

// The key as memcached takes it: as is if printable without blanks, else base64 with the
// meta protocol's "b" flag. Fails (with a Redis-style error reply) for an empty key or one over
// max_key_len bytes.
bool encode_key(std::string_view key, std::string* out, std::string* error_reply);

// A memcached TTL flag value for a Redis expiry in milliseconds from now (> 0; rounded up to
// whole seconds; beyond 30 days as an absolute Unix time, at most max_absolute_ttl).
std::int64_t ttl_seconds(std::int64_t ms_from_now, std::int64_t now_ms);
// The same for an absolute Unix time in milliseconds (in the past: expired at once).
std::int64_t ttl_at(std::int64_t at_ms);
// Redis's checks of an expiry argument, without overflow: `v` in seconds (`seconds`) or ms,
// relative to now (`relative`) or absolute. Sets *ms (relative: ms from now; absolute: Unix
// ms) and returns true, or returns false where Redis says "invalid expire time".
bool expiry_ms(long long v, bool seconds, bool relative, std::int64_t now_ms, std::int64_t* ms);

// The reply for a response that is an error (ERROR, CLIENT_ERROR, SERVER_ERROR, unavailable).
std::string error_for(const response& r);
bool is_error(const response& r);

}  // namespace puppy::memcached
