#pragma once
// Shared helpers for the protocol-layer unit tests: a deterministic PRNG, a driver that feeds a
// request_framer the way a real caller does (keeping the unconsumed tail), a driver for the
// reply_scanner, and checks that run a fixture whole, one byte at a time and split at every offset.
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/resp/command_table.hpp"
#include "puppy/resp/limits.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/resp/request_framer.hpp"

namespace resp_test {

// splitmix64: the same sequence with every compiler and standard library (unlike the std::
// distributions), so randomized tests are deterministic everywhere.
class rng {
 public:
  explicit rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform-enough value in [0, n); n > 0.
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool percent(unsigned p) { return below(100) < p; }

 private:
  std::uint64_t state_;
};

// Printable form of a byte string for failure messages.
std::string escape(std::string_view s);

// ---- request_framer -------------------------------------------------------------------------

// A copy of one framed_command, owning its bytes.
struct seen_command {
  std::uint64_t argc = 0;
  std::string name;
  std::uint64_t wire_size = 0;
  bool is_inline = false;
  puppy::resp::command_kind kind = puppy::resp::command_kind::plain;
  bool capture_args = false;
  std::vector<std::string> args;
};
bool operator==(const seen_command& a, const seen_command& b);
std::ostream& operator<<(std::ostream& os, const seen_command& c);

// A multibulk command as the framer should report it (args empty unless captured).
seen_command mb(std::uint64_t argc, std::string name, std::uint64_t wire_size,
                puppy::resp::command_kind kind = puppy::resp::command_kind::plain);
// A multibulk CLIENT command: its arguments are captured.
seen_command mb_client(std::vector<std::string> args, std::uint64_t wire_size);
// An inline command: all arguments are reported.
seen_command il(std::vector<std::string> args, std::string name, std::uint64_t wire_size,
                puppy::resp::command_kind kind = puppy::resp::command_kind::plain);
// An empty request (`*0`, `*-1`, blank inline line).
seen_command empty_request(std::uint64_t wire_size, bool is_inline);

// Everything a caller observes while feeding a framer.
struct framer_run {
  std::vector<seen_command> commands;
  std::uint64_t consumed = 0;  // sum of parse() results' consumed
  std::string held;  // the unconsumed tail the caller holds at the end (at an error: plus the
                     // chunks it never offered), i.e. always the input minus `consumed` bytes
  bool error = false;
  puppy::resp::frame_error error_code = puppy::resp::frame_error::none;
  std::string error_message;
  std::uint64_t partial_bytes = 0;  // at the end (or at the error)
  bool name_known = false;
  std::string driver_fault;  // set when the framer broke its contract (e.g. consumed > offered)
};
bool operator==(const framer_run& a, const framer_run& b);
std::ostream& operator<<(std::ostream& os, const framer_run& r);

// Feeds the chunks in order like a real caller: appends each chunk to the bytes it still holds,
// calls parse() until need_more or error, and drops what was consumed. Stops at the first error.
framer_run feed(puppy::resp::request_framer& f, const std::vector<std::string_view>& chunks);
framer_run run_whole(std::string_view in, puppy::resp::request_limits limits = {});
framer_run run_bytewise(std::string_view in, puppy::resp::request_limits limits = {});
framer_run run_split(std::string_view in, std::size_t at, puppy::resp::request_limits limits = {});

// Checks that `in` gives `expected` fed whole, one byte at a time, and split at every offset.
void check_framing(std::string_view in, const framer_run& expected,
                   puppy::resp::request_limits limits = {});

// The expected run of a complete input that frames into `commands` without error.
framer_run complete_run(std::vector<seen_command> commands);
// The expected run of an input that ends in the error `code` after `commands`.
framer_run error_run(std::vector<seen_command> commands, std::uint64_t consumed,
                     puppy::resp::frame_error code, std::string message,
                     std::uint64_t partial_bytes, std::string held, bool name_known = false);

// ---- reply_scanner --------------------------------------------------------------------------

struct seen_reply {
  std::uint64_t end = 0;  // absolute offset just past the reply
  char type = 0;
  bool push = false;
  std::string head;
};
bool operator==(const seen_reply& a, const seen_reply& b);
std::ostream& operator<<(std::ostream& os, const seen_reply& r);

struct scanner_run {
  std::vector<seen_reply> replies;
  std::uint64_t consumed = 0;
  bool error = false;
  std::string error_message;
  bool at_boundary = true;
  std::string driver_fault;
};
bool operator==(const scanner_run& a, const scanner_run& b);
std::ostream& operator<<(std::ostream& os, const scanner_run& r);

scanner_run scan_chunks(puppy::resp::reply_scanner& s, const std::vector<std::string_view>& chunks);
scanner_run scan_whole(std::string_view in,
                       std::size_t max_depth = puppy::resp::default_max_reply_depth);

// Checks that `in` gives `expected` scanned whole, one byte at a time, and split at every offset.
void check_scanning(std::string_view in, const scanner_run& expected,
                    std::size_t max_depth = puppy::resp::default_max_reply_depth);

// Random cut points: chunks of 1..max_chunk bytes.
std::vector<std::string_view> random_chunks(std::string_view in, rng& r, std::size_t max_chunk);

}  // namespace resp_test
