#pragma once
// Incremental framer for client requests: RESP multibulk (`*N` of `$N` bulks) and inline commands,
// with the exact acceptance rules and error texts of Redis 7.0's processMultibulkBuffer and
// processInlineBuffer. It finds request boundaries and command names; it never re-encodes.
//
// Bulk data is consumed as it streams by (a 64 MiB value never has to be in memory at once). Header
// lines, short command names and inline lines are consumed only when complete, so the caller keeps
// the unconsumed tail and offers it again with more bytes appended.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/resp/command_table.hpp"
#include "puppy/resp/limits.hpp"

namespace puppy::resp {

enum class frame_status : std::uint8_t {
  command,    // a whole request ended at input + consumed; see command()
  need_more,  // everything up to consumed is taken; offer the rest again with more bytes
  error       // a protocol error; see error_message(). The request in progress is abandoned.
};

enum class frame_error : std::uint8_t {
  none,
  too_big_inline_request,
  unbalanced_quotes,
  too_big_mbulk_count,
  invalid_mbulk_length,
  too_big_bulk_count,
  expected_dollar,
  invalid_bulk_length,
  unauthenticated_mbulk_length,  // over pre_auth_max_args before authentication
  unauthenticated_bulk_length    // over pre_auth_max_bulk_len before authentication
};

struct frame_result {
  frame_status status;
  std::size_t consumed;  // bytes of this call's input that the framer is done with
};

// One framed request. Views point into the framer and stay valid until the next parse() or reset().
struct framed_command {
  command_spec spec;
  std::uint64_t argc = 0;       // 0: an empty request (`*0`, `*-1`, blank line) that gets no reply
  std::uint64_t wire_size = 0;  // bytes of the whole request on the wire
  bool is_inline = false;
  std::string_view name;               // lower case; empty if longer than max_command_name_len
  std::vector<std::string_view> args;  // every argument, if spec.capture_args or is_inline
  // args holds the name and only the arguments no longer than set_capture_keys() said (the
  // keys a command may write or a near-cache read asks for), in order, others left out.
  bool keys_only = false;
};

class request_framer {
 public:
  explicit request_framer(request_limits limits = {});

  // Parses from the current state over [data, data+size), up to the end of at most one request.
  frame_result parse(const char* data, std::size_t size);

  // The request that the last parse() completed.
  const framed_command& command() const { return cmd_; }

  // Bytes of the unfinished request consumed so far (after need_more or error).
  std::uint64_t partial_bytes() const { return cmd_bytes_; }
  // Whether the unfinished request's name is known. Until it is, the request's consumed bytes must
  // not be forwarded: the caller keeps them (they are the last partial_bytes() it offered).
  bool name_known() const { return name_known_; }
  // The unfinished request's spec, once name_known().
  command_spec partial_spec() const { return cmd_.spec; }

  frame_error error() const { return error_; }
  // Redis's text for the last error, e.g. "Protocol error: invalid bulk length" (no "-ERR ").
  std::string error_message() const;

  // Forgets any request in progress.
  void reset();
  // Copy every request's arguments (for an upstream that needs them all translated).
  void set_capture_all(bool on) { capture_all_ = on; }
  // Copy the arguments of at most `max_len` bytes of every command that may write keys or is a
  // near-cache read (command_spec), for the near cache's bookkeeping; 0: off.
  void set_capture_keys(std::size_t max_len) { capture_keys_ = max_len; }
  // Apply Redis's pre-auth limits (pre_auth_max_args, pre_auth_max_bulk_len) from the next
  // request header on, as Redis does for a client that has not authenticated yet.
  void set_pre_auth(bool on) { pre_auth_ = on; }
  // New limits, from the next request header on (a configuration reload).
  void set_limits(request_limits limits) { limits_ = limits; }

 private:
  enum class state : std::uint8_t { start, bulk_header, name_data, arg_data };

  frame_result start_request(const char* p, std::size_t n);
  frame_result parse_inline(const char* p, std::size_t n);
  frame_result finish(std::size_t consumed);
  frame_result fail(frame_error e, std::size_t consumed, char got = 0);
  // Finds `term` in [p, p+n) the way strchr does (a NUL byte hides everything after it), resuming
  // the search where the previous call for the same line stopped. Returns n when not found.
  std::size_t find_line_end(const char* p, std::size_t n, char term);
  void take_name(const char* p, std::size_t len);
  void begin_arg(std::uint64_t len);
  bool wants_keys() const {
    return capture_keys_ > 0 && !cmd_.spec.capture_args &&
           (!cmd_.spec.read_only || cmd_.spec.near_read);
  }

  request_limits limits_;
  state state_ = state::start;
  std::uint64_t args_left_ = 0;
  std::uint64_t data_left_ = 0;  // bytes of the current bulk still to skip, CRLF included
  std::uint64_t copy_left_ = 0;  // of those, data bytes still to copy when capturing
  std::uint64_t cmd_bytes_ = 0;
  std::size_t line_searched_ = 0;
  bool line_blocked_ = false;  // a NUL byte was seen in the current line before its end
  bool name_known_ = false;
  bool capture_all_ = false;
  std::size_t capture_keys_ = 0;
  bool pre_auth_ = false;
  frame_error error_ = frame_error::none;
  char error_char_ = 0;

  framed_command cmd_;
  char name_buf_[max_command_name_len];
  std::string arena_;  // captured multibulk arguments, back to back
  std::vector<std::pair<std::size_t, std::size_t>> spans_;
  std::vector<std::string> inline_args_;
};

}  // namespace puppy::resp
