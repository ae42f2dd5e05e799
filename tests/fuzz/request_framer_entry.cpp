// request_framer under fuzzing. The same bytes are fed whole, split in two, in small chunks and
// (when short) one byte at a time, like a session does (it keeps the unconsumed tail and offers it
// again with more bytes); every way must frame the same requests and stop in the same state. Each
// call must respect its contract (consumed within what was offered, wire sizes and partial_bytes
// matching the bytes consumed), and capturing every argument must not change any boundary.
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "entries.hpp"
#include "puppy/resp/request_framer.hpp"
#include "support.hpp"

namespace puppy_fuzz {
namespace {

using puppy::resp::frame_status;
using puppy::resp::request_framer;
using puppy::resp::request_limits;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::size_t digits(std::uint64_t v) {
  return std::to_string(v).size();
}

// What a caller observes; `commands` describes each framed request in one string.
struct outcome {
  std::vector<std::string> commands;
  std::uint64_t consumed = 0;
  std::string held;  // the bytes never consumed: input minus `consumed`
  bool error = false;
  std::string error_message;
  std::uint64_t partial_bytes = 0;
  bool name_known = false;

  bool operator==(const outcome& o) const {
    return commands == o.commands && consumed == o.consumed && held == o.held && error == o.error &&
           error_message == o.error_message && partial_bytes == o.partial_bytes &&
           name_known == o.name_known;
  }
};

std::ostream& operator<<(std::ostream& os, const outcome& o) {
  os << "{" << o.commands.size() << " commands";
  for (const auto& c : o.commands) os << " [" << printable(c, 60) << "]";
  os << " consumed=" << o.consumed << " held=\"" << printable(o.held, 40) << "\"";
  if (o.error) os << " error=\"" << o.error_message << "\"";
  return os << " partial=" << o.partial_bytes << " name_known=" << o.name_known << "}";
}

// Checks one framed request against the bytes it came from and describes it.
std::string describe(const puppy::resp::framed_command& c, std::uint64_t wire, bool all_args) {
  FUZZ_CHECK(c.wire_size == wire, "wire_size " << c.wire_size << " but consumed " << wire);
  FUZZ_CHECK(c.name.size() <= puppy::resp::max_command_name_len, "name " << c.name.size());
  FUZZ_CHECK(lower(c.name) == c.name, "name not lower case: " << printable(c.name));
  const bool args_given = c.is_inline || c.spec.capture_args;
  if (args_given && c.argc > 0) {
    FUZZ_CHECK(c.args.size() == c.argc, "argc " << c.argc << ", args " << c.args.size());
    const std::string first = lower(c.args[0]);
    FUZZ_CHECK(c.name == (first.size() <= puppy::resp::max_command_name_len ? first : ""),
               "name \"" << printable(c.name) << "\" for \"" << printable(first) << "\"");
  }
  if (!c.is_inline && c.argc > 0 && c.spec.capture_args) {
    // Header lines are canonical (Redis's string2ll): the wire size follows from the arguments.
    std::uint64_t expected = 3 + digits(c.argc);
    for (const auto a : c.args) expected += 3 + digits(a.size()) + a.size() + 2;
    FUZZ_CHECK(expected == c.wire_size,
               "multibulk of " << expected << " bytes, wire_size " << c.wire_size);
  }
  std::string d = std::to_string(c.argc) + "|" + std::string(c.name) + "|" +
                  std::to_string(c.wire_size) + (c.is_inline ? "|inline" : "|multibulk");
  if (all_args || c.is_inline) {
    d += "|kind" + std::to_string(static_cast<int>(c.spec.kind));
    for (const auto a : c.args) d += "|" + std::to_string(a.size()) + ":" + std::string(a);
  }
  return d;
}

// Feeds the chunks like a session, checking every call's contract.
outcome feed(const std::vector<std::string_view>& chunks, request_limits limits, bool capture_all) {
  request_framer f(limits);
  f.set_capture_all(capture_all);
  outcome out;
  std::string buf;
  std::uint64_t request_start = 0;  // absolute offset where the current request began
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    buf.append(chunks[i]);
    for (;;) {
      const auto r = f.parse(buf.data(), buf.size());
      FUZZ_CHECK(r.consumed <= buf.size(), r.consumed << " of " << buf.size());
      out.consumed += r.consumed;
      buf.erase(0, r.consumed);
      if (r.status == frame_status::command) {
        FUZZ_CHECK(r.consumed > 0, "a request of zero bytes");
        out.commands.push_back(describe(f.command(), out.consumed - request_start, capture_all));
        request_start = out.consumed;
        continue;
      }
      FUZZ_CHECK(f.partial_bytes() == out.consumed - request_start,
                 "partial_bytes " << f.partial_bytes() << ", consumed of this request "
                                  << out.consumed - request_start);
      out.partial_bytes = f.partial_bytes();
      out.name_known = f.name_known();
      if (r.status == frame_status::error) {
        FUZZ_CHECK(!f.error_message().empty(), "an error without a message");
        out.error = true;
        out.error_message = f.error_message();
        out.held = buf;
        for (std::size_t j = i + 1; j < chunks.size(); ++j) out.held.append(chunks[j]);
        return out;
      }
      break;
    }
  }
  out.held = buf;
  return out;
}

void check_all_ways(std::string_view in, request_limits limits) {
  const std::uint64_t seed = input_seed(in);
  const outcome whole = feed({in}, limits, false);
  FUZZ_CHECK(whole.consumed + whole.held.size() == in.size(), whole);
  const outcome two = feed(split_in_two(in, seed), limits, false);
  FUZZ_CHECK(two == whole, "split in two: " << two << " whole: " << whole);
  for (const std::size_t max_chunk : {3, 17}) {
    const outcome chunked = feed(random_chunks(in, seed + max_chunk, max_chunk), limits, false);
    FUZZ_CHECK(chunked == whole,
               "chunks of <= " << max_chunk << ": " << chunked << " whole: " << whole);
  }
  if (in.size() <= 512) {
    const outcome bytes = feed(bytewise(in), limits, false);
    FUZZ_CHECK(bytes == whole, "byte by byte: " << bytes << " whole: " << whole);
  }
  // Capturing every argument (a memcached upstream) changes no boundary and no error.
  outcome captured = feed({in}, limits, true);
  const outcome captured_two = feed(split_in_two(in, seed + 1), limits, true);
  FUZZ_CHECK(captured_two == captured,
             "captured, split: " << captured_two << " whole: " << captured);
  FUZZ_CHECK(captured.commands.size() == whole.commands.size(), captured << " vs " << whole);
  for (std::size_t i = 0; i < whole.commands.size(); ++i) {
    const std::string& c = captured.commands[i];
    FUZZ_CHECK(c.compare(0, whole.commands[i].size(), whole.commands[i]) == 0,
               "captured " << printable(c) << " vs " << printable(whole.commands[i]));
  }
  captured.commands = whole.commands;
  FUZZ_CHECK(captured == whole, captured << " vs " << whole);
}

}  // namespace

void request_framer_entry(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_all_ways(in, request_limits{});
  // Small limits (not the inline length: whether a long line is refused depends on how it
  // arrives, exactly as in Redis).
  request_limits small;
  small.max_args = 3;
  small.max_bulk_len = 10;
  check_all_ways(in, small);
}

}  // namespace puppy_fuzz
