// reply_scanner under fuzzing. The same bytes are scanned whole, split in two, in small chunks and
// (when short) one byte at a time, with the default and a small nesting limit; every way must find
// the same replies and stop in the same state. Then hiredis's reader (RESP2 only, nesting up to 7)
// judges: for every reply both complete, the boundaries, types and heads must agree, and neither
// may see fewer replies than the other unless it stopped at an error.
#include <hiredis/hiredis.h>

#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "entries.hpp"
#include "hiredis_oracle.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "support.hpp"

namespace puppy_fuzz {
namespace {

using puppy::resp::reply_scanner;
using puppy::resp::scan_status;

struct reply {
  std::uint64_t end = 0;  // offset just past it
  char type = 0;
  std::string head;  // of + and -
  bool operator==(const reply& o) const { return end == o.end && type == o.type && head == o.head; }
};

struct outcome {
  std::vector<reply> replies;
  std::uint64_t consumed = 0;
  bool error = false;
  std::string error_message;
  bool at_boundary = true;
  bool operator==(const outcome& o) const {
    return replies == o.replies && consumed == o.consumed && error == o.error &&
           error_message == o.error_message && at_boundary == o.at_boundary;
  }
};

std::ostream& operator<<(std::ostream& os, const outcome& o) {
  os << "{" << o.replies.size() << " replies";
  for (const auto& r : o.replies) os << " [" << r.type << "@" << r.end << "]";
  os << " consumed=" << o.consumed;
  if (o.error) os << " error=\"" << o.error_message << "\"";
  return os << " at_boundary=" << o.at_boundary << "}";
}

outcome scan(const std::vector<std::string_view>& chunks, std::size_t max_depth) {
  reply_scanner s(max_depth);
  outcome out;
  for (const auto chunk : chunks) {
    std::size_t pos = 0;
    while (pos < chunk.size()) {
      const auto r = s.scan(chunk.data() + pos, chunk.size() - pos);
      FUZZ_CHECK(r.consumed <= chunk.size() - pos, r.consumed << " of " << chunk.size() - pos);
      pos += r.consumed;
      out.consumed += r.consumed;
      if (r.status == scan_status::error) {
        out.error = true;
        out.error_message = s.error_message();
        FUZZ_CHECK(!out.error_message.empty(), "an error without a message");
        out.at_boundary = s.at_boundary();
        return out;
      }
      if (r.status == scan_status::need_more) {
        FUZZ_CHECK(pos == chunk.size(), "need_more with " << chunk.size() - pos << " bytes left");
        break;
      }
      FUZZ_CHECK(r.consumed > 0, "a reply of zero bytes");
      FUZZ_CHECK(s.at_boundary(), "not at a boundary after a reply");
      FUZZ_CHECK(s.is_push() == (s.type() == '>'), "is_push " << s.is_push());
      reply seen;
      seen.end = out.consumed;
      seen.type = s.type();
      seen.head = std::string(s.head());
      FUZZ_CHECK(seen.head.size() <= reply_scanner::head_capacity, seen.head.size());
      out.replies.push_back(seen);
    }
  }
  out.at_boundary = s.at_boundary();
  return out;
}

void check_all_ways(std::string_view in, std::size_t max_depth, outcome* result) {
  const std::uint64_t seed = input_seed(in);
  const outcome whole = scan({in}, max_depth);
  FUZZ_CHECK(whole.error || whole.consumed == in.size(), whole);
  const outcome two = scan(split_in_two(in, seed), max_depth);
  FUZZ_CHECK(two == whole, "split in two: " << two << " whole: " << whole);
  for (const std::size_t max_chunk : {2, 13}) {
    const outcome chunked = scan(random_chunks(in, seed + max_chunk, max_chunk), max_depth);
    FUZZ_CHECK(chunked == whole,
               "chunks of <= " << max_chunk << ": " << chunked << " whole: " << whole);
  }
  if (in.size() <= 512) {
    const outcome bytes = scan(bytewise(in), max_depth);
    FUZZ_CHECK(bytes == whole, "byte by byte: " << bytes << " whole: " << whole);
  }
  *result = whole;
}

// What hiredis's reply corresponds to in the scanner's terms. hiredis does not say whether a
// REDIS_REPLY_NIL was $-1 or *-1: the reply's first byte does.
reply from_hiredis(const resp_test::oracle_reply& o, std::string_view in, std::size_t start) {
  static const std::pair<int, char> types[] = {{REDIS_REPLY_STATUS, '+'},
                                               {REDIS_REPLY_ERROR, '-'},
                                               {REDIS_REPLY_INTEGER, ':'},
                                               {REDIS_REPLY_STRING, '$'},
                                               {REDIS_REPLY_ARRAY, '*'}};
  reply r;
  r.end = o.end;
  r.type = in[start];
  for (const auto& [hiredis_type, type] : types) {
    if (o.type == hiredis_type) r.type = type;
  }
  if (r.type == '+' || r.type == '-') r.head = o.str.substr(0, reply_scanner::head_capacity);
  return r;
}

void check_against_hiredis(std::string_view in, const outcome& mine) {
  std::vector<resp_test::oracle_reply> theirs;
  std::string error;
  const bool hiredis_ok = resp_test::hiredis_replies(in, &theirs, &error);
  const std::size_t common = std::min(theirs.size(), mine.replies.size());
  std::size_t start = 0;
  for (std::size_t i = 0; i < common; ++i) {
    const reply expected = from_hiredis(theirs[i], in, start);
    const reply& got = mine.replies[i];
    FUZZ_CHECK(got == expected, "reply " << i << ": scanner " << got.type << "@" << got.end << " \""
                                         << printable(got.head) << "\", hiredis " << expected.type
                                         << "@" << expected.end << " \"" << printable(expected.head)
                                         << "\"");
    start = expected.end;
  }
  // Where one stopped without an error, the other may not have completed more replies.
  FUZZ_CHECK(mine.error || mine.replies.size() >= theirs.size(),
             "hiredis completed " << theirs.size() << " replies, the scanner " << mine);
  FUZZ_CHECK(
      !hiredis_ok || theirs.size() >= mine.replies.size(),
      "hiredis completed " << theirs.size() << " replies without error, the scanner " << mine);
}

}  // namespace

void reply_scanner_entry(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  outcome whole;
  check_all_ways(in, puppy::resp::default_max_reply_depth, &whole);
  outcome shallow;
  check_all_ways(in, 3, &shallow);
  // A nesting limit only ever turns a reply into an error, never moves a boundary.
  FUZZ_CHECK(shallow.replies.size() <= whole.replies.size(), shallow << " vs " << whole);
  for (std::size_t i = 0; i < shallow.replies.size(); ++i) {
    FUZZ_CHECK(shallow.replies[i] == whole.replies[i], "reply " << i);
  }
  FUZZ_CHECK(shallow.error || shallow == whole, shallow << " vs " << whole);
  if (size <= 4096) check_against_hiredis(in, whole);
}

}  // namespace puppy_fuzz
