// request_framer: protocol errors with Redis 7.0's exact texts (tests/unit/protocol.tcl and
// networking.c), every limit at limit-1 / limit / limit+1, and NUL bytes hiding a line end the
// way strchr() does.
#include <catch2/catch.hpp>
#include <string>

#include "puppy/resp/request_framer.hpp"
#include "resp_test_support.hpp"

using namespace std::string_literals;
using puppy::resp::frame_error;
using puppy::resp::frame_status;
using puppy::resp::request_framer;
using puppy::resp::request_limits;
using resp_test::check_framing;
using resp_test::complete_run;
using resp_test::error_run;
using resp_test::framer_run;
using resp_test::il;
using resp_test::mb;

namespace {

const std::string invalid_mbulk = "Protocol error: invalid multibulk length";
const std::string invalid_bulk = "Protocol error: invalid bulk length";
const std::string unbalanced = "Protocol error: unbalanced quotes in request";
const std::string big_inline = "Protocol error: too big inline request";
const std::string big_mbulk = "Protocol error: too big mbulk count string";
const std::string big_bulk = "Protocol error: too big bulk count string";

framer_run waiting(std::uint64_t consumed, std::string held, std::uint64_t partial, bool known) {
  framer_run r;
  r.consumed = consumed;
  r.held = std::move(held);
  r.partial_bytes = partial;
  r.name_known = known;
  return r;
}

request_limits limits_with(std::uint64_t max_args, std::uint64_t max_bulk_len,
                           std::size_t max_inline_len) {
  request_limits l;
  l.max_args = max_args;
  l.max_bulk_len = max_bulk_len;
  l.max_inline_len = max_inline_len;
  return l;
}

}  // namespace

TEST_CASE("framer errors: protocol.tcl bad requests") {
  // "Out of range multibulk length"
  check_framing("*3000000000\r\n", error_run({}, 0, frame_error::invalid_mbulk_length,
                                             invalid_mbulk, 0, "*3000000000\r\n"));
  // "Wrong multibulk payload header"
  check_framing("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
                error_run({}, 20, frame_error::expected_dollar,
                          "Protocol error: expected '$', got 'f'", 20, "fooz\r\n", true));
  // "Negative multibulk payload length"
  check_framing(
      "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
      error_run({}, 20, frame_error::invalid_bulk_length, invalid_bulk, 20, "$-10\r\n", true));
  // "Out of range multibulk payload length"
  check_framing("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
                error_run({}, 20, frame_error::invalid_bulk_length, invalid_bulk, 20,
                          "$2000000000\r\n", true));
  // "Non-number multibulk payload length"
  check_framing(
      "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
      error_run({}, 20, frame_error::invalid_bulk_length, invalid_bulk, 20, "$blabla\r\n", true));
  check_framing("*20\r\n$blabla\r\n",
                error_run({}, 5, frame_error::invalid_bulk_length, invalid_bulk, 5, "$blabla\r\n"));
  // "Multi bulk request not followed by bulk arguments"
  check_framing("*1\r\nfoo\r\n", error_run({}, 4, frame_error::expected_dollar,
                                           "Protocol error: expected '$', got 'f'", 4, "foo\r\n"));
  // "Unbalanced number of quotes": the PING after it is never framed.
  const std::string quotes = "set \"\"\"test-key\"\"\" test-value\r\nping\r\n";
  check_framing(quotes, error_run({}, 0, frame_error::unbalanced_quotes, unbalanced, 0, quotes));
}

TEST_CASE("framer errors: commands before the error are framed") {
  check_framing("PING\r\nset \"foo\r\n",
                error_run({il({"PING"}, "ping", 6)}, 6, frame_error::unbalanced_quotes, unbalanced,
                          0, "set \"foo\r\n"));
  check_framing("*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n",
                error_run({mb(1, "ping", 14)}, 18, frame_error::expected_dollar,
                          "Protocol error: expected '$', got ':'", 4, ":1\r\n"));
}

TEST_CASE("framer errors: unbalanced quotes in inline requests") {
  for (const std::string line : {"set \"foo", "set 'foo", "\"foo\"bar", "'foo'bar", "a \"b\"\"c\"",
                                 "echo \"abc\\\"", "echo 'it\\'", "x \"\\x4"}) {
    for (const std::string end : {"\r\n", "\n"}) {
      check_framing(line + end,
                    error_run({}, 0, frame_error::unbalanced_quotes, unbalanced, 0, line + end));
    }
  }
}

TEST_CASE("framer errors: a multibulk count must be what string2ll accepts, up to INT_MAX") {
  for (const std::string bad :
       {"", "01", "+1", " 1", "1 ", "-0", "1a", "a", "0x10", "--1", "9223372036854775808",
        "-9223372036854775809", "2147483648", "99999999999999999999999"}) {
    const std::string in = "*" + bad + "\r\n";
    check_framing(in, error_run({}, 0, frame_error::invalid_mbulk_length, invalid_mbulk, 0, in));
  }
}

TEST_CASE("framer errors: a bulk length must be a string2ll number in [0, max_bulk_len]") {
  for (const std::string bad : {"", "-1", "-0", "01", "+1", " 1", "1 ", "x", "1.5", "-10",
                                "9223372036854775808", "536870913"}) {
    const std::string header = "$" + bad + "\r\n";
    // In the name position (name not known yet) and after the name.
    check_framing("*1\r\n" + header,
                  error_run({}, 4, frame_error::invalid_bulk_length, invalid_bulk, 4, header));
    check_framing(
        "*2\r\n$4\r\necho\r\n" + header,
        error_run({}, 14, frame_error::invalid_bulk_length, invalid_bulk, 14, header, true));
  }
}

TEST_CASE("framer errors: every bulk header must start with '$'") {
  struct bad_header {
    std::string line;
    char got;
  };
  for (const auto& b :
       {bad_header{":1\r\n", ':'}, bad_header{"*1\r\n", '*'}, bad_header{"\r\n", '\r'},
        bad_header{" $1\r\n", ' '}, bad_header{"+OK\r\n", '+'}, bad_header{"PING\r\n", 'P'}}) {
    const std::string message = "Protocol error: expected '$', got '"s + b.got + "'";
    check_framing("*1\r\n" + b.line,
                  error_run({}, 4, frame_error::expected_dollar, message, 4, b.line));
    check_framing("*3\r\n$3\r\nset\r\n$1\r\nk\r\n" + b.line,
                  error_run({}, 20, frame_error::expected_dollar, message, 20, b.line, true));
  }
}

TEST_CASE("framer limits: max_args at limit-1, limit, limit+1 (custom 3)") {
  const auto l = limits_with(3, 512, 1024);
  check_framing("*2\r\n$1\r\na\r\n$1\r\nb\r\n", complete_run({mb(2, "a", 18)}), l);
  check_framing("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", complete_run({mb(3, "a", 25)}), l);
  check_framing(
      "*4\r\n$1\r\na\r\n",
      error_run({}, 0, frame_error::invalid_mbulk_length, invalid_mbulk, 0, "*4\r\n$1\r\na\r\n"),
      l);
  // Negative counts stay empty requests whatever the limit.
  check_framing("*-4\r\n", complete_run({resp_test::empty_request(5, false)}), l);
}

TEST_CASE("framer limits: max_args default is INT_MAX") {
  CHECK(puppy::resp::default_max_args == 2147483647u);
  check_framing("*2147483646\r\n", waiting(13, "", 13, false));
  check_framing("*2147483647\r\n", waiting(13, "", 13, false));
  check_framing("*2147483648\r\n", error_run({}, 0, frame_error::invalid_mbulk_length,
                                             invalid_mbulk, 0, "*2147483648\r\n"));
}

TEST_CASE("framer limits: max_bulk_len at limit-1, limit, limit+1 (custom 10)") {
  const auto l = limits_with(100, 10, 1024);
  check_framing("*2\r\n$3\r\nset\r\n$9\r\n012345678\r\n", complete_run({mb(2, "set", 28)}), l);
  check_framing("*2\r\n$3\r\nset\r\n$10\r\n0123456789\r\n", complete_run({mb(2, "set", 30)}), l);
  check_framing("*2\r\n$3\r\nset\r\n$11\r\n01234567890\r\n",
                error_run({}, 13, frame_error::invalid_bulk_length, invalid_bulk, 13,
                          "$11\r\n01234567890\r\n", true),
                l);
  // The limit applies to the command name too.
  const auto tiny = limits_with(100, 3, 1024);
  check_framing("*1\r\n$3\r\nget\r\n", complete_run({mb(1, "get", 13)}), tiny);
  check_framing(
      "*1\r\n$4\r\nping\r\n",
      error_run({}, 4, frame_error::invalid_bulk_length, invalid_bulk, 4, "$4\r\nping\r\n"), tiny);
}

TEST_CASE("framer limits: max_bulk_len default is proto-max-bulk-len, 512 MiB") {
  CHECK(puppy::resp::default_max_bulk_len == 536870912u);
  check_framing("*2\r\n$3\r\nset\r\n$536870911\r\n", waiting(25, "", 25, true));
  check_framing("*2\r\n$3\r\nset\r\n$536870912\r\n", waiting(25, "", 25, true));
  check_framing("*2\r\n$3\r\nset\r\n$536870913\r\n",
                error_run({}, 13, frame_error::invalid_bulk_length, invalid_bulk, 13,
                          "$536870913\r\n", true));
  // As a name: too long to be a known command, so a plain request whose name is known.
  check_framing("*1\r\n$536870912\r\n", waiting(16, "", 16, true));
  check_framing("*1\r\n$536870913\r\n", error_run({}, 4, frame_error::invalid_bulk_length,
                                                  invalid_bulk, 4, "$536870913\r\n"));
}

TEST_CASE("framer limits: max_inline_len at limit-1, limit, limit+1 (custom 8)") {
  const auto l = limits_with(100, 100, 8);
  // Inline: more than 8 bytes buffered without LF is an error.
  check_framing("abcdefg", waiting(0, "abcdefg", 0, false), l);
  check_framing("abcdefgh", waiting(0, "abcdefgh", 0, false), l);
  check_framing("abcdefghi",
                error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, "abcdefghi"),
                l);
  check_framing("abcdefg\r\r",
                error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, "abcdefg\r\r"),
                l);
  check_framing("abcdefgh\n", complete_run({il({"abcdefgh"}, "abcdefgh", 9)}), l);
  // Multibulk count line: more than 8 bytes without CR.
  check_framing("*1234567", waiting(0, "*1234567", 0, false), l);
  check_framing("*12345678",
                error_run({}, 0, frame_error::too_big_mbulk_count, big_mbulk, 0, "*12345678"), l);
  check_framing("*1234567\r", waiting(0, "*1234567\r", 0, false), l);  // the CR is there
  // Bulk count line: more than 8 bytes without CR.
  check_framing("*1\r\n$1234567", waiting(4, "$1234567", 4, false), l);
  check_framing("*1\r\n$12345678",
                error_run({}, 4, frame_error::too_big_bulk_count, big_bulk, 4, "$12345678"), l);
  check_framing("*2\r\n$1\r\na\r\n$1234567", waiting(11, "$1234567", 11, true), l);
  check_framing("*2\r\n$1\r\na\r\n$12345678",
                error_run({}, 11, frame_error::too_big_bulk_count, big_bulk, 11, "$12345678", true),
                l);
}

TEST_CASE("framer limits: the inline limit counts what is buffered, as Redis does") {
  const auto l = limits_with(100, 100, 8);
  // 10 bytes with the LF last: fine when they arrive together, an error when the first 9 are
  // buffered before the LF arrives (Redis behaves the same way, depending on its reads).
  const std::string line = "abcdefghi\n";
  CHECK(resp_test::run_whole(line, l) == complete_run({il({"abcdefghi"}, "abcdefghi", 10)}));
  CHECK(resp_test::run_bytewise(line, l) ==
        error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, line));
  const std::string header = "*12345678\r";
  CHECK(resp_test::run_whole(header, l) == waiting(0, header, 0, false));
  CHECK(resp_test::run_bytewise(header, l) ==
        error_run({}, 0, frame_error::too_big_mbulk_count, big_mbulk, 0, header));
}

TEST_CASE("framer limits: the default inline limit is 64 KiB (PROTO_INLINE_MAX_SIZE)") {
  CHECK(puppy::resp::default_max_inline_len == 65536u);
  auto check_big = [](const std::string& in, const framer_run& expected) {
    INFO("input of " << in.size() << " bytes");
    CHECK(resp_test::run_whole(in) == expected);
    CHECK(resp_test::run_bytewise(in) == expected);
    for (std::size_t at :
         {std::size_t{0}, std::size_t{1}, in.size() / 2, in.size() - 1, in.size()}) {
      INFO("split at " << at);
      CHECK(resp_test::run_split(in, at) == expected);
    }
  };
  const std::string a65535(65535, 'a'), a65536(65536, 'a'), a65537(65537, 'a');
  check_big(a65535, waiting(0, a65535, 0, false));
  check_big(a65536, waiting(0, a65536, 0, false));
  check_big(a65537, error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, a65537));
  // CRs without LF do not end an inline line.
  std::string crs;
  while (crs.size() < 65537) crs += "x\r";
  crs.resize(65537);
  check_big(crs, error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, crs));
  // A 65536-byte argument whose LF arrives with it is fine.
  check_big(a65536 + "\n", complete_run({il({a65536}, "", 65537)}));

  const std::string m65536 = "*" + std::string(65535, '1');
  check_big(m65536, waiting(0, m65536, 0, false));
  check_big(m65536 + "1",
            error_run({}, 0, frame_error::too_big_mbulk_count, big_mbulk, 0, m65536 + "1"));
  const std::string b65536 = "$" + std::string(65535, '9');
  check_big("*1\r\n" + b65536, waiting(4, b65536, 4, false));
  check_big("*1\r\n" + b65536 + "9",
            error_run({}, 4, frame_error::too_big_bulk_count, big_bulk, 4, b65536 + "9"));
}

TEST_CASE("framer: a NUL byte hides the rest of a line, like strchr in Redis") {
  // The line end after the NUL is never seen: the request waits.
  check_framing("PING\0\r\nPING\r\n"s, waiting(0, "PING\0\r\nPING\r\n"s, 0, false));
  check_framing("\0PING\r\n"s, waiting(0, "\0PING\r\n"s, 0, false));
  check_framing("*1\0\r\n$4\r\nPING\r\n"s, waiting(0, "*1\0\r\n$4\r\nPING\r\n"s, 0, false));
  check_framing("*1\r\n$4\0\r\nPING\r\n"s, waiting(4, "$4\0\r\nPING\r\n"s, 4, false));
  check_framing("*2\r\n$4\r\necho\r\n$\0\r\nx\r\n"s, waiting(14, "$\0\r\nx\r\n"s, 14, true));
  // ... until more than 64 KiB (here 8 bytes) are buffered.
  const auto l = limits_with(100, 100, 8);
  check_framing(
      "PIN\0\r\n\r\n\n"s,
      error_run({}, 0, frame_error::too_big_inline_request, big_inline, 0, "PIN\0\r\n\r\n\n"s), l);
  check_framing(
      "*1\0\r\n\r\n\r\n"s,
      error_run({}, 0, frame_error::too_big_mbulk_count, big_mbulk, 0, "*1\0\r\n\r\n\r\n"s), l);
  check_framing("*1\r\n$1\0\r\nxy\r\n"s,
                error_run({}, 4, frame_error::too_big_bulk_count, big_bulk, 4, "$1\0\r\nxy\r\n"s),
                l);
  // A NUL inside bulk data is just data; a NUL after a found CR is the byte after it.
  check_framing("*2\r\n$4\r\necho\r\n$3\r\na\0b\r\n"s, complete_run({mb(2, "echo", 23)}));
}

TEST_CASE("framer: protocol.tcl protocol desync regressions") {
  // Each sequence is followed by 1025-byte chunks ending in a LF the framer must not see.
  struct desync {
    std::string seq;
    frame_error error;
    std::string message;
  };
  for (const auto& d : {desync{"\0"s, frame_error::too_big_inline_request, big_inline},
                        desync{"*\0"s, frame_error::too_big_mbulk_count, big_mbulk},
                        desync{"$\0"s, frame_error::too_big_inline_request, big_inline}}) {
    INFO("sequence \"" << resp_test::escape(d.seq) << '"');
    request_framer f;
    std::string buf = d.seq;
    const std::string payload = std::string(1024, 'A') + "\n";
    auto r = f.parse(buf.data(), buf.size());
    REQUIRE(r.status == frame_status::need_more);
    int chunks = 0;
    while (r.status == frame_status::need_more && chunks < 1000) {
      REQUIRE(r.consumed == 0);
      buf += payload;
      ++chunks;
      r = f.parse(buf.data(), buf.size());
    }
    // seq + 63 chunks is at most 65536 bytes; the 64th chunk crosses the limit.
    CHECK(chunks == 64);
    CHECK(r.status == frame_status::error);
    CHECK(r.consumed == 0);
    CHECK(f.error() == d.error);
    CHECK(f.error_message() == d.message);
  }
}

TEST_CASE("framer errors: Redis's pre-auth limits at their edges") {
  const auto first = [](const std::string& bytes, bool pre_auth) {
    request_framer f;
    f.set_pre_auth(pre_auth);
    const auto r = f.parse(bytes.data(), bytes.size());
    return std::make_pair(r.status, f.error_message());
  };
  using puppy::resp::pre_auth_max_args;
  using puppy::resp::pre_auth_max_bulk_len;
  const std::string at = "*" + std::to_string(pre_auth_max_args) + "\r\n";
  const std::string over = "*" + std::to_string(pre_auth_max_args + 1) + "\r\n";
  CHECK(first("*9\r\n", true).first == frame_status::need_more);
  CHECK(first(at, true).first == frame_status::need_more);
  CHECK(first(over, true) ==
        std::make_pair(frame_status::error, "Protocol error: unauthenticated multibulk length"s));
  CHECK(first(over, false).first == frame_status::need_more);

  const auto bulk = [](std::uint64_t n) { return "*1\r\n$" + std::to_string(n) + "\r\n"; };
  CHECK(first(bulk(pre_auth_max_bulk_len - 1), true).first == frame_status::need_more);
  CHECK(first(bulk(pre_auth_max_bulk_len), true).first == frame_status::need_more);
  CHECK(first(bulk(pre_auth_max_bulk_len + 1), true) ==
        std::make_pair(frame_status::error, "Protocol error: unauthenticated bulk length"s));
  CHECK(first(bulk(pre_auth_max_bulk_len + 1), false).first == frame_status::need_more);
  // Redis checks its absolute limits first.
  CHECK(first("*3000000000\r\n", true).second == invalid_mbulk);
  CHECK(first("*1\r\n$-1\r\n", true).second == invalid_bulk);

  // Authenticating in the middle of a pipeline lifts the limits from the next request on.
  request_framer f;
  f.set_pre_auth(true);
  const std::string pipeline = "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n" + over;
  auto r = f.parse(pipeline.data(), pipeline.size());
  REQUIRE(r.status == frame_status::command);
  f.set_pre_auth(false);
  r = f.parse(pipeline.data() + r.consumed, pipeline.size() - r.consumed);
  CHECK(r.status == frame_status::need_more);
}
