#pragma once
// The Lua script that runs the PGET family inside Redis, atomically and in one round trip, and
// the requests that call it. It implements decision.hpp's rules (keep the two in step).
//
// Calls: EVALSHA <sha> 2 <data key> <status key> <op> ARGV...
//   get         timeout update_time new_token xfetch_factor(""=off) now_ms
//               -> [state, has_value(0|1), value, token, retry_after_ms]
//   set         token value timeout update_time channel now_ms -> 1 stored | 0 refused
//   release     token backoff_seconds(0=none) channel        -> 1 | 0
//   invalidate  channel                                      -> 1 value existed | 0
//   heal        (no ARGV): drop a current status whose value is gone -> 1 dropped | 0
// Only bulk strings and integers are returned, so RESP2 and RESP3 connections read the same.
// Times are the proxy's clock (now_ms), so that the script and the fast path agree.
#include <cstdint>
#include <string>
#include <string_view>

#include "puppy/pget/request.hpp"

namespace puppy::pget {

const std::string& script_body();
// Lower-case hex SHA1 of script_body(), as SCRIPT LOAD reports it.
const std::string& script_sha1();

// Lower-case hex SHA1 of any bytes (exposed for tests).
std::string sha1_hex(std::string_view data);

// Appends the RESP request that runs `r` through the script to *out: EVALSHA, or EVAL with the
// whole body when `with_body` (after NOSCRIPT).
void encode_call(const request& r, std::string_view status_key, std::string_view new_token,
                 std::string_view xfetch_factor, std::string_view channel, std::int64_t now_ms,
                 bool with_body, std::string* out);

// Appends PGET's fast path, two plain commands in one write (no script):
//   SET <status key> <lease_status> NX GET EX <update_time>   takes the lease if there is no
//                                                             status, else returns the status
//   GET <key>
// The decision is then made by decide_get() on (status, value). Needs Redis 7.0 (SET NX GET).
// The lease status it sets is format_lease(token, now_ms, 0, 0). `get_at`, if given, is set to
// where the GET begins in *out (to send the two apart).
void encode_fast_get(const request& r, std::string_view status_key, std::string_view token,
                     std::int64_t now_ms, std::string* out, std::size_t* get_at = nullptr);

// Appends the read every PGET starts with, one plain command: MGET <key> <status key>. Most
// PGETs are answered from it (decide_read); the seed package, django-puppy-cache, reads the same.
void encode_read(std::string_view key, std::string_view status_key, std::string* out);
// Appends the heal call (see above) for a key whose status is current but whose value is gone.
void encode_heal(std::string_view key, std::string_view status_key, std::string* out);

// Appends "SCRIPT LOAD <body>".
void encode_load(std::string* out);

}  // namespace puppy::pget
