#pragma once
// Named protocol limits. Each has exactly one definition here; options and tests refer to these.
#include <cstddef>
#include <cstdint>

namespace puppy::resp {

// Largest `*N` a client may send (Redis 7: INT_MAX). The framer never pre-allocates from N.
inline constexpr std::uint64_t default_max_args = 2147483647;
// Largest `$N` a client may send: Redis's proto-max-bulk-len default, 512 MiB.
inline constexpr std::uint64_t default_max_bulk_len = 512ull * 1024 * 1024;
// Longest inline command line, and longest `*N`/`$N` header line without CR
// (PROTO_INLINE_MAX_SIZE).
inline constexpr std::size_t default_max_inline_len = 64 * 1024;
// Deepest nesting of aggregates in an upstream reply. Redis itself nests replies thousands of
// levels deep (a Lua table that contains itself: about 8,000 levels, RESP3 maps about 2,700),
// and modules can go further; the scanner keeps 8 bytes per level, so this bound is only a guard
// against a broken upstream, far beyond anything Redis emits. A reply deeper than this is taken
// as not RESP: the upstream connection is dropped.
inline constexpr std::size_t default_max_reply_depth = 1000000;
// The largest --max-reply-depth accepted (8 bytes a level: 800 MB of scanner stack at most).
inline constexpr std::size_t max_reply_depth_option = 100000000;
// Longest command name the proxy looks up; longer first arguments are forwarded untouched.
inline constexpr std::size_t max_command_name_len = 32;

// Until a client has authenticated (when the proxy requires a password), Redis's pre-auth
// limits apply: at most this many arguments per request and this many bytes per argument.
inline constexpr std::uint64_t pre_auth_max_args = 10;
inline constexpr std::uint64_t pre_auth_max_bulk_len = 16384;

// Limits a request framer enforces; copied into the framer at construction.
struct request_limits {
  std::uint64_t max_args = default_max_args;
  std::uint64_t max_bulk_len = default_max_bulk_len;
  std::size_t max_inline_len = default_max_inline_len;
};

}  // namespace puppy::resp
