#pragma once
// memcached's responses to meta commands (mg, ms, md, ma, mn) and to flush_all, read from bytes
// (no I/O). A response is one line, plus a data block for VA:
//   VA <size> <flags>*\r\n<data>\r\n | HD <flags>* | EN | NS | EX | NF | MN | OK
//   ERROR | CLIENT_ERROR <message> | SERVER_ERROR <message>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace puppy::memcached {

enum class code : std::uint8_t {
  va,            // a value follows
  hd,            // success, no value
  en,            // not found (mg)
  ns,            // not stored (ms)
  ex,            // exists: CAS mismatch
  nf,            // not found (ms/md/ma)
  mn,            // end of a pipeline (mn)
  ok,            // flush_all, version ...
  error,         // unknown command
  client_error,  // bad request; `flags` holds the message
  server_error,  // e.g. out of memory, object too large; `flags` holds the message
  unavailable    // not from memcached: the server could not be reached; `flags` says why
};

// One response; views point into the bytes given to parse_response().
struct response {
  code what = code::error;
  std::string_view flags;  // the rest of the line: flag tokens, or an error's message
  std::string_view data;   // VA only

  // The value of flag `letter` ("t123" -> "123"; "W" -> ""), or nullopt if absent.
  std::optional<std::string_view> flag(char letter) const;
  // A flag's value as an integer (nullopt if absent or not a number).
  std::optional<std::int64_t> number(char letter) const;
};

enum class parse_status : std::uint8_t { complete, need_more, invalid };

struct parse_result {
  parse_status status;
  std::size_t consumed;
};

// Parses the response at the start of [data, data+size). `max_value` bounds a VA's size.
parse_result parse_response(const char* data, std::size_t size, std::size_t max_value,
                            response* out);

}  // namespace puppy::memcached
