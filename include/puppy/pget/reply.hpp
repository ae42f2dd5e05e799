#pragma once
// Reading the script's replies and writing the PGET family's replies (RESP2 only, so a generic
// execute_command in any client can read them).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "puppy/pget/decision.hpp"

namespace puppy::pget {

// The script's answer to a get. Views point into the bytes given to parse_get_reply().
struct get_reply {
  state answer = state::miss;
  bool has_value = false;
  std::string_view value;
  std::string_view token;
  std::int64_t retry_after_ms = -1;
};

// What a whole script reply is.
enum class reply_kind : std::uint8_t {
  ok,        // parsed
  error,     // an error reply (its text in *error, without the leading '-' and CRLF)
  noscript,  // -NOSCRIPT: the script is not loaded on that connection
  malformed  // not what the script returns
};

// Parses the reply to a get call (RESP2 or RESP3 bytes of one whole reply).
reply_kind parse_get_reply(std::string_view bytes, get_reply* out, std::string* error);
// Parses the reply to a set/release/invalidate call: an integer.
reply_kind parse_int_reply(std::string_view bytes, std::int64_t* out, std::string* error);

// Parses a bulk string or nil reply (RESP2 $-1 or RESP3 _), as GET and SET ... GET answer.
// On ok, *out holds the string or nullopt for nil; views point into `bytes`.
reply_kind parse_bulk_reply(std::string_view bytes, std::optional<std::string_view>* out,
                            std::string* error);

// Parses MGET's reply for two keys: an array of two bulk strings or nils (RESP2 or RESP3).
reply_kind parse_pair_reply(std::string_view bytes, std::optional<std::string_view>* first,
                            std::optional<std::string_view>* second, std::string* error);
// Appends PGET's reply: *3 [state, value or nil, token or nil].
void encode_pget_reply(state s, const std::string_view* value, const std::string_view* token,
                       std::string* out);
// The state of a reply encode_pget_reply() made (nullopt: an error or anything else).
std::optional<state> pget_reply_state(std::string_view reply);

}  // namespace puppy::pget
