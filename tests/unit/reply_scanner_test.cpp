// reply_scanner: RESP2 and RESP3 fixtures (boundaries, type, push flag, head), malformed input and
// the nesting limit. Every fixture is scanned whole, one byte at a time and split at every offset
// (see check_scanning in resp_test_support.cpp).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/resp/reply_scanner.hpp"
#include "resp_test_support.hpp"

using namespace std::string_literals;
using puppy::resp::reply_scanner;
using puppy::resp::scan_status;
using resp_test::check_scanning;
using resp_test::scanner_run;

namespace {

// One top-level reply of a stream, delimited by hand.
struct part {
  std::string bytes;
  char type;
  std::string head = "";
  bool push = false;
};

// Scans the concatenated parts and expects one reply per part, ending where the part ends.
void check_stream(const std::vector<part>& parts,
                  std::size_t max_depth = puppy::resp::default_max_reply_depth) {
  std::string in;
  scanner_run expected;
  for (const auto& p : parts) {
    in += p.bytes;
    expected.replies.push_back({in.size(), p.type, p.push, p.head});
  }
  expected.consumed = in.size();
  check_scanning(in, expected, max_depth);
}

scanner_run failed(std::vector<resp_test::seen_reply> replies, std::uint64_t consumed,
                   std::string message) {
  scanner_run r;
  r.replies = std::move(replies);
  r.consumed = consumed;
  r.error = true;
  r.error_message = std::move(message);
  r.at_boundary = false;
  return r;
}

scanner_run unfinished(std::uint64_t consumed) {
  scanner_run r;
  r.consumed = consumed;
  r.at_boundary = false;
  return r;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("scanner: RESP2 simple replies") {
  check_stream({{"+OK\r\n", '+', "OK"}});
  check_stream({{"+\r\n", '+', ""}});
  check_stream({{"-ERR unknown command 'foo'\r\n", '-', "ERR unknown comm"}});
  check_stream({{"+0123456789abcdef\r\n", '+', "0123456789abcdef"}});
  check_stream({{"+0123456789abcdefg\r\n", '+', "0123456789abcdef"}});
  check_stream({{":1000\r\n", ':'}, {":-1\r\n", ':'}, {":0\r\n", ':'}});
  check_stream({{"+RESET\r\n", '+', "RESET"}});
}

TEST_CASE("scanner: RESP2 bulk strings and arrays") {
  check_stream({{"$5\r\nhello\r\n", '$'}, {"$0\r\n\r\n", '$'}, {"$-1\r\n", '$'}});
  check_stream({{"$6\r\na\r\nb\r\n\r\n", '$'}, {"$2\r\n+x\r\n", '$'}});
  check_stream({{"*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n", '*'}, {"*0\r\n", '*'}, {"*-1\r\n", '*'}});
  check_stream({{"*2\r\n*1\r\n:1\r\n*0\r\n", '*'}, {"*3\r\n$-1\r\n*-1\r\n:5\r\n", '*'}});
  // Only a top-level + or - has a head.
  check_stream({{"*2\r\n+OK\r\n-ERR x\r\n", '*'}, {"-ERR y\r\n", '-', "ERR y"}});
  check_stream({{"*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n-c\r\n", '*'}, {"+d\r\n", '+', "d"}});
}

TEST_CASE("scanner: RESP3 simple types") {
  check_stream({{"_\r\n", '_'}, {"#t\r\n", '#'}, {"#f\r\n", '#'}});
  check_stream({{",3.14\r\n", ','},
                {",inf\r\n", ','},
                {",-inf\r\n", ','},
                {",nan\r\n", ','},
                {",1.5e-10\r\n", ','}});
  check_stream({{"(3492890328409238509324850943850943825024385\r\n", '('},
                {"(-1\r\n", '('},
                {"(1234567999999999999999999999999999999\r\n", '('}});
}

TEST_CASE("scanner: RESP3 blob error and verbatim string") {
  check_stream({{"!21\r\nSYNTAX invalid syntax\r\n", '!'}, {"!0\r\n\r\n", '!'}});
  check_stream(
      {{"=15\r\ntxt:Some string\r\n", '='}, {"=29\r\ntxt:This is a verbatim\nstring\r\n", '='}});
}

TEST_CASE("scanner: RESP3 maps and sets") {
  check_stream({{"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", '%'}, {"%0\r\n", '%'}});
  check_stream({{"~3\r\n+a\r\n:1\r\n$1\r\nb\r\n", '~'}, {"~0\r\n", '~'}});
  check_stream({{"%1\r\n+k\r\n*2\r\n:1\r\n%1\r\n_\r\n#t\r\n", '%'}, {":9\r\n", ':'}});
  check_stream(
      {{"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\n"
        "proto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\n"
        "role\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
        '%'}});
}

TEST_CASE("scanner: RESP3 pushes interleaved with replies") {
  check_stream({{">3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$5\r\nhello\r\n", '>', "", true}});
  check_stream({{"+OK\r\n", '+', "OK"},
                {">2\r\n+a\r\n+b\r\n", '>', "", true},
                {":1\r\n", ':'},
                {">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n", '>', "", true},
                {">0\r\n", '>', "", true},
                {"$-1\r\n", '$'}});
  // A push inside an array is just an element.
  check_stream({{"*1\r\n>1\r\n+x\r\n", '*'}});
}

TEST_CASE("scanner: RESP3 attributes belong to the reply they precede") {
  // The example of the RESP3 specification.
  check_stream(
      {{"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
        "*2\r\n:2039123\r\n:9543892\r\n",
        '*'}});
  check_stream({{"|1\r\n+k\r\n+v\r\n+OK\r\n", '+', "OK"}, {"+next\r\n", '+', "next"}});
  check_stream({{"|0\r\n:1\r\n", ':'}});
  check_stream({{"|1\r\n+k\r\n*2\r\n:1\r\n:2\r\n:7\r\n", ':'}});
  check_stream({{"|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n-ERR x\r\n", '-', "ERR x"}});
  check_stream({{"|1\r\n+a\r\n+b\r\n>1\r\n+x\r\n", '>', "", true}});
  check_stream({{"|1\r\n+a\r\n+b\r\n$-1\r\n", '$'}});
}

TEST_CASE("scanner: RESP3 attributes inside aggregates are not elements") {
  check_stream({{"*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n:3\r\n", '*'}, {"+OK\r\n", '+', "OK"}});
  check_stream({{"*1\r\n|0\r\n:1\r\n", '*'}, {":2\r\n", ':'}});
  check_stream({{"%1\r\n+k\r\n|1\r\n+a\r\n+b\r\n+v\r\n", '%'}, {"_\r\n", '_'}});
  check_stream({{"*2\r\n|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n:1\r\n:2\r\n", '*'}, {"#f\r\n", '#'}});
}

TEST_CASE("scanner: RESP3 streamed strings") {
  check_stream({{"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n", '$'}, {":1\r\n", ':'}});
  check_stream({{"$?\r\n;0\r\n", '$'}});
  check_stream({{"$?\r\n;2\r\n\r\n\r\n;0\r\n", '$'}});
  check_stream({{"*2\r\n$?\r\n;1\r\na\r\n;0\r\n:1\r\n", '*'}});
}

TEST_CASE("scanner: RESP3 streamed aggregates") {
  check_stream({{"*?\r\n:1\r\n:2\r\n.\r\n", '*'}, {"%?\r\n+a\r\n:1\r\n.\r\n", '%'}});
  check_stream({{"~?\r\n+x\r\n.\r\n", '~'}, {"*?\r\n.\r\n", '*'}});
  check_stream(
      {{"*?\r\n*?\r\n.\r\n$?\r\n;1\r\na\r\n;0\r\n*1\r\n:1\r\n.\r\n", '*'}, {"+x\r\n", '+', "x"}});
  check_stream({{"*1\r\n*?\r\n:1\r\n.\r\n", '*'}, {"*?\r\n|1\r\n+a\r\n+b\r\n:1\r\n.\r\n", '*'}});
}

TEST_CASE("scanner: RESP2 nulls") {
  check_stream({{"*-1\r\n", '*'}, {"$-1\r\n", '$'}, {"*2\r\n$-1\r\n*-1\r\n", '*'}});
}

TEST_CASE("scanner: malformed input is an error at the offending byte") {
  struct bad {
    std::string in;
    std::uint64_t consumed;
    std::string message;
  };
  const std::string unknown = "unknown reply type byte";
  const std::string malformed = "malformed length";
  const std::string negative = "negative length";
  const std::string blob = "blob not followed by CRLF";
  const std::string crlf = "CR without LF";
  for (const auto& b : {
           bad{"?\r\n", 0, unknown},
           bad{" +OK\r\n", 0, unknown},
           bad{".\r\n", 0, unknown},
           bad{"*1\r\n.\r\n", 4, unknown},
           bad{"*1\r\n\r\n", 4, unknown},
           bad{"$abc\r\n", 1, malformed},
           bad{"$\r\n", 3, malformed},
           bad{"*1x\r\n", 2, malformed},
           bad{"*-\r\n", 4, malformed},
           bad{"$1-\r\n", 2, malformed},
           bad{"$?1\r\n", 5, malformed},
           bad{"$?\r\n;?\r\n", 5, malformed},
           bad{"$-2\r\n", 5, negative},
           bad{"$-0\r\n", 5, negative},
           bad{"%-1\r\n", 5, negative},
           bad{"~-1\r\n", 5, negative},
           bad{"!-1\r\n", 5, negative},
           bad{"=-1\r\n", 5, negative},
           bad{">-1\r\n", 5, negative},
           bad{"|-1\r\n", 5, negative},
           bad{"$?\r\n;-1\r\n", 9, negative},
           bad{"$3\r\nfooXY", 7, blob},
           bad{"$3\r\nfoo\rY", 8, blob},
           bad{"$0\r\nX", 4, blob},
           bad{"+OK\rX", 4, crlf},
           bad{"_\r\r", 2, crlf},
           bad{"$1\r\r", 3, crlf},
           bad{"$?\r\n+x", 4, "expected ';' in a streamed string"},
           bad{"$?\r\n;1\r\na\r\n+x", 11, "expected ';' in a streamed string"},
           bad{"!?\r\n", 4, "streamed length on a non-string type"},
           bad{"=?\r\n", 4, "streamed length on a non-string type"},
           bad{"*?\r\n.X", 5, "malformed end of streamed aggregate"},
           bad{"*?\r\n.\rX", 6, "malformed end of streamed aggregate"},
           bad{"$99999999999999999999\r\n", 19, "length too large"},
       }) {
    check_scanning(b.in, failed({}, b.consumed, b.message));
  }
  // After good replies.
  check_scanning("+OK\r\n:1\r\n?", failed({{5, '+', false, "OK"}, {9, ':', false, ""}}, 9,
                                          "unknown reply type byte"));
}

TEST_CASE("scanner: lengths and counts are refused from 2^62 on") {
  // 2^62 - 1 is accepted (the reply is then simply unfinished) ...
  check_scanning("%4611686018427387903\r\n", unfinished(22));
  check_scanning("*4611686018427387903\r\n", unfinished(22));
  check_scanning("$4611686018427387903\r\n", unfinished(22));
  // ... 2^62 is not: a map of 2^62 pairs would overflow the element counter into a streamed one.
  check_scanning("%4611686018427387904\r\n:1\r\n.\r\n", failed({}, 19, "length too large"));
  check_scanning("*4611686018427387904\r\n", failed({}, 19, "length too large"));
  check_scanning("$4611686018427387904\r\n", failed({}, 19, "length too large"));
  check_scanning("|9223372036854775807\r\n", failed({}, 19, "length too large"));
}

TEST_CASE("scanner: nesting at depth limit-1, limit, limit+1 (custom 4)") {
  const std::size_t max = 4;
  check_stream({{repeat("*1\r\n", 3) + ":1\r\n", '*'}}, max);
  check_stream({{repeat("*1\r\n", 4) + ":1\r\n", '*'}, {"+OK\r\n", '+', "OK"}}, max);
  check_scanning(repeat("*1\r\n", 5) + ":1\r\n", failed({}, 20, "reply nesting too deep"), max);
  // An empty aggregate is one more level too.
  check_stream({{repeat("*1\r\n", 3) + "*0\r\n", '*'}}, max);
  check_scanning(repeat("*1\r\n", 4) + "*0\r\n", failed({}, 20, "reply nesting too deep"), max);
  // Maps, sets, pushes and streamed aggregates count the same way.
  check_stream({{repeat("%1\r\n+k\r\n", 4) + ":1\r\n", '%'}}, max);
  check_scanning(repeat("%1\r\n+k\r\n", 5) + ":1\r\n", failed({}, 36, "reply nesting too deep"),
                 max);
  check_stream({{">1\r\n~1\r\n*?\r\n%?\r\n.\r\n.\r\n", '>', "", true}}, max);
  check_scanning(">1\r\n~1\r\n*?\r\n%?\r\n*?\r\n", failed({}, 20, "reply nesting too deep"), max);
  check_stream({{repeat("*?\r\n", 4) + repeat(".\r\n", 4), '*'}}, max);
  check_scanning(repeat("*?\r\n", 5), failed({}, 20, "reply nesting too deep"), max);
  // So do attributes.
  check_stream({{"*1\r\n*1\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n", '*'}}, max);
  check_scanning("*1\r\n*1\r\n*1\r\n*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n",
                 failed({}, 20, "reply nesting too deep"), max);
}

namespace {

// Inputs too long to split at every offset: scanned whole, split at each of `cuts`, and in random
// chunks of up to 4 KiB.
void check_scanning_long(const std::string& in, const scanner_run& expected,
                         const std::vector<std::size_t>& cuts) {
  CHECK(resp_test::scan_whole(in) == expected);
  for (const std::size_t at : cuts) {
    if (at > in.size()) continue;
    INFO("split at " << at);
    reply_scanner s;
    CHECK(resp_test::scan_chunks(s, {std::string_view(in).substr(0, at),
                                     std::string_view(in).substr(at)}) == expected);
  }
  resp_test::rng r(7);
  reply_scanner s;
  CHECK(resp_test::scan_chunks(s, resp_test::random_chunks(in, r, 4096)) == expected);
}

}  // namespace

TEST_CASE("scanner: nesting at the default depth limit 1,000,000") {
  const std::size_t limit = 1000000;
  CHECK(puppy::resp::default_max_reply_depth == limit);
  const std::string deepest = repeat("*1\r\n", limit);
  const std::vector<std::size_t> cuts = {1, 4 * limit - 3, 4 * limit, 4 * limit + 2};
  scanner_run one;
  one.replies = {{4 * limit, '*', false, ""}};
  one.consumed = 4 * limit;
  check_scanning_long(repeat("*1\r\n", limit - 1) + ":1\r\n", one, cuts);  // limit-1 levels
  check_scanning_long(repeat("*1\r\n", limit - 1) + "*0\r\n", one, cuts);  // limit levels
  one.replies[0].end = one.consumed = 4 * limit + 3;
  check_scanning_long(deepest + "_\r\n", one, cuts);
  check_scanning_long(deepest + "*0\r\n", failed({}, 4 * limit + 4, "reply nesting too deep"),
                      cuts);  // limit+1
  check_scanning_long(deepest + "%1\r\n", failed({}, 4 * limit + 4, "reply nesting too deep"),
                      cuts);
}

TEST_CASE("scanner: Redis's own deep replies (a Lua table holding itself) pass at the default") {
  // EVAL "local a = {}; local b = {a}; a[1] = b; return a" 0 on Redis 7.0: 7,995 levels, ended
  // by the error Lua's stack limit gave, then the next reply.
  check_stream({{repeat("*1\r\n", 7995) + "-ERR reached lua stack limit\r\n", '*'},
                {"+PONG\r\n", '+', "PONG"}});
  // The same through RESP3 maps (HELLO 3, {map={k=...}}): 2,665 levels, the deepest map holding
  // the error as both its key and its value.
  check_stream({{repeat("%1\r\n$1\r\nk\r\n", 2664) + "%1\r\n" +
                     "-ERR reached lua stack limit\r\n-ERR reached lua stack limit\r\n",
                 '%'}});
}

TEST_CASE("scanner: 8 bytes a level while a deep reply is in progress, given back after it") {
  reply_scanner s;
  const std::size_t levels = 100000;
  const std::string open = repeat("*2\r\n", levels);
  auto r = s.scan(open.data(), open.size());
  REQUIRE(r.status == scan_status::need_more);
  CHECK(s.depth() == levels);
  CHECK(s.stack_bytes() >= 8 * levels);
  CHECK(s.stack_bytes() <= 2 * 8 * levels);  // the vector's growth, at most doubling
  // Close every level: each *2 needs two elements.
  std::string close = ":1\r\n";
  for (std::size_t i = 0; i < levels; ++i) close += ":2\r\n";
  r = s.scan(close.data(), close.size());
  CHECK(r.status == scan_status::reply);
  CHECK(r.consumed == close.size());
  CHECK(s.at_boundary());
  CHECK(s.stack_bytes() <= 8 * 1024);
  // And the same after reset() in the middle of one.
  r = s.scan(open.data(), open.size());
  CHECK(s.stack_bytes() >= 8 * levels);
  s.reset();
  CHECK(s.stack_bytes() <= 8 * 1024);
}

TEST_CASE("scanner: scan() stops after each top-level reply") {
  reply_scanner s;
  const std::string in = "+a\r\n:1\r\n*1\r\n$1\r\nx\r\n+b";
  auto r = s.scan(in.data(), in.size());
  CHECK(r.status == scan_status::reply);
  CHECK(r.consumed == 4);
  CHECK(s.type() == '+');
  CHECK(s.head() == "a");
  r = s.scan(in.data() + 4, in.size() - 4);
  CHECK(r.status == scan_status::reply);
  CHECK(r.consumed == 4);
  CHECK(s.type() == ':');
  CHECK(s.head().empty());
  r = s.scan(in.data() + 8, in.size() - 8);
  CHECK(r.status == scan_status::reply);
  CHECK(r.consumed == 11);
  CHECK(s.type() == '*');
  r = s.scan(in.data() + 19, in.size() - 19);
  CHECK(r.status == scan_status::need_more);
  CHECK(r.consumed == 2);
  r = s.scan(in.data() + 21, 0);
  CHECK(r.status == scan_status::need_more);
  CHECK(r.consumed == 0);
}

TEST_CASE("scanner: at_boundary() is false while a reply, or its attribute, is in progress") {
  reply_scanner s;
  CHECK(s.at_boundary());
  auto feed = [&s](const std::string& bytes) { return s.scan(bytes.data(), bytes.size()); };
  CHECK(feed("+O").status == scan_status::need_more);
  CHECK_FALSE(s.at_boundary());
  CHECK(feed("K\r").status == scan_status::need_more);
  CHECK_FALSE(s.at_boundary());
  CHECK(feed("\n").status == scan_status::reply);
  CHECK(s.at_boundary());
  CHECK(feed("*2\r\n:1\r\n").status == scan_status::need_more);
  CHECK_FALSE(s.at_boundary());
  CHECK(feed(":2\r\n").status == scan_status::reply);
  CHECK(s.at_boundary());
  // A complete top-level attribute: its value is still to come.
  CHECK(feed("|1\r\n+a\r\n+b\r\n").status == scan_status::need_more);
  CHECK_FALSE(s.at_boundary());
  CHECK(feed("+OK\r\n").status == scan_status::reply);
  CHECK(s.at_boundary());
  CHECK(s.head() == "OK");
  CHECK(feed("|0\r\n").status == scan_status::need_more);
  CHECK_FALSE(s.at_boundary());
  CHECK(feed(">1\r\n:1\r\n").status == scan_status::reply);
  CHECK(s.is_push());
  CHECK(s.at_boundary());
  CHECK(feed("$?\r\n;0\r\n").status == scan_status::reply);
  CHECK(s.at_boundary());
  CHECK(feed("|1\r\n+a\r\n").status == scan_status::need_more);
  s.reset();
  CHECK(s.at_boundary());
}

TEST_CASE("scanner: reset() after an error") {
  reply_scanner s;
  const std::string bad = "*1\r\n?";
  CHECK(s.scan(bad.data(), bad.size()).status == scan_status::error);
  CHECK(std::string(s.error_message()) == "unknown reply type byte");
  s.reset();
  CHECK(std::string(s.error_message()).empty());
  CHECK(s.at_boundary());
  const std::string ok = "-ERR again\r\n";
  const auto r = s.scan(ok.data(), ok.size());
  CHECK(r.status == scan_status::reply);
  CHECK(r.consumed == ok.size());
  CHECK(s.type() == '-');
  CHECK_FALSE(s.is_push());
  CHECK(s.head() == "ERR again");
}
