// reply_scanner against hiredis 0.14's reply reader: on RESP2 fixtures and on randomly generated
// (seeded, deterministic) nested RESP2 replies, the scanner must find the reply boundaries hiredis
// finds, with the same types and heads. hiredis 0.14 knows no RESP3, so it judges RESP2 only.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "hiredis_oracle.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "resp_test_support.hpp"

using puppy::resp::reply_scanner;
using resp_test::oracle_reply;
using resp_test::rng;
using resp_test::scanner_run;

namespace {

// What the scanner must report, according to hiredis.
scanner_run expected_from_hiredis(const std::string& in) {
  std::vector<oracle_reply> replies;
  std::string error;
  const bool ok = resp_test::hiredis_replies(in, &replies, &error);
  INFO("hiredis error: " << error);
  REQUIRE(ok);
  scanner_run run;
  std::size_t start = 0;
  for (const auto& o : replies) {
    resp_test::seen_reply r;
    r.end = o.end;
    switch (o.type) {
      case REDIS_REPLY_STATUS:
        r.type = '+';
        r.head = o.str.substr(0, reply_scanner::head_capacity);
        break;
      case REDIS_REPLY_ERROR:
        r.type = '-';
        r.head = o.str.substr(0, reply_scanner::head_capacity);
        break;
      case REDIS_REPLY_INTEGER:
        r.type = ':';
        break;
      case REDIS_REPLY_STRING:
        r.type = '$';
        break;
      case REDIS_REPLY_ARRAY:
        r.type = '*';
        break;
      case REDIS_REPLY_NIL:
        // $-1 or *-1: hiredis does not say which.
        r.type = in[start];
        CHECK((r.type == '$' || r.type == '*'));
        break;
      default:
        FAIL("unexpected hiredis reply type " << o.type);
    }
    run.replies.push_back(r);
    start = o.end;
  }
  REQUIRE(start == in.size());  // the inputs here are whole replies
  run.consumed = in.size();
  return run;
}

std::string random_text(rng& r, std::size_t max_len) {
  static const std::string chars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_:$*+.,'\"()";
  std::string s;
  const std::size_t len = r.below(max_len + 1);
  for (std::size_t i = 0; i < len; ++i) s += chars[r.below(chars.size())];
  return s;
}

std::string random_bytes(rng& r, std::size_t max_len) {
  std::string s;
  const std::size_t len = r.below(max_len + 1);
  for (std::size_t i = 0; i < len; ++i) {
    // Plenty of CR, LF and RESP type bytes inside bulk data.
    static const char special[] = {'\r', '\n', '$', '*', '+', '-', ':', '\0'};
    s += r.percent(30) ? special[r.below(sizeof special)] : static_cast<char>(r.below(256));
  }
  return s;
}

// A random RESP2 reply. hiredis 0.14 refuses arrays nested more than 7 deep; stay below.
void random_reply(rng& r, int depth, std::string* out) {
  const std::size_t kinds = depth >= 6 ? 6 : 8;
  switch (r.below(kinds)) {
    case 0:
      *out += "+" + random_text(r, 30) + "\r\n";
      break;
    case 1:
      *out += "-ERR " + random_text(r, 30) + "\r\n";
      break;
    case 2: {
      const long long v = static_cast<long long>(r.next() >> (1 + r.below(63)));
      *out += ":" + std::to_string(r.percent(50) ? v : -v) + "\r\n";
      break;
    }
    case 3:
    case 4: {
      const std::string data = random_bytes(r, r.percent(10) ? 3000 : 20);
      *out += "$" + std::to_string(data.size()) + "\r\n" + data + "\r\n";
      break;
    }
    case 5:
      *out += r.percent(50) ? "$-1\r\n" : "*-1\r\n";
      break;
    default: {
      const std::size_t n = r.below(6);
      *out += "*" + std::to_string(n) + "\r\n";
      for (std::size_t i = 0; i < n; ++i) random_reply(r, depth + 1, out);
    }
  }
}

void check_against_hiredis(const std::string& in, rng& r, bool bytewise) {
  INFO("input: \"" << resp_test::escape(in.substr(0, 300)) << (in.size() > 300 ? "...\"" : "\""));
  const scanner_run expected = expected_from_hiredis(in);
  CHECK(resp_test::scan_whole(in) == expected);
  if (bytewise) {
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < in.size(); ++i) bytes.push_back(std::string_view(in).substr(i, 1));
    reply_scanner s;
    CHECK(resp_test::scan_chunks(s, bytes) == expected);
  }
  for (const std::size_t max_chunk : {2, 7, 64}) {
    INFO("random chunks of at most " << max_chunk << " bytes");
    reply_scanner s;
    CHECK(resp_test::scan_chunks(s, resp_test::random_chunks(in, r, max_chunk)) == expected);
  }
}

}  // namespace

TEST_CASE("scanner vs hiredis: RESP2 fixtures") {
  const std::vector<std::string> fixtures = {
      "+OK\r\n",
      "+\r\n",
      "-ERR unknown command 'foo', with args beginning with:\r\n",
      "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
      ":0\r\n:-1\r\n:9223372036854775807\r\n",
      "$5\r\nhello\r\n$0\r\n\r\n$-1\r\n",
      "$6\r\na\r\nb\r\n\r\n",
      "$5\r\n*1\r\n:\r\n",
      "*0\r\n*-1\r\n",
      "*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n",
      "*3\r\n:1\r\n*2\r\n+a\r\n-b\r\n$-1\r\n",
      "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
      "*2\r\n*-1\r\n*0\r\n+after\r\n",
      "*3\r\n$9\r\nsubscribe\r\n$3\r\nch1\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$3\r\nch1\r\n$"
      "2\r\nhi\r\n",
      "+RESET\r\n-ERR x\r\n+OK\r\n",
  };
  rng r(7);
  for (const auto& f : fixtures) check_against_hiredis(f, r, true);
}

TEST_CASE("scanner vs hiredis: random nested RESP2 replies") {
  rng r(0xC0FFEE);
  std::size_t total_replies = 0;
  for (int round = 0; round < 300; ++round) {
    std::string in;
    const std::size_t n = 1 + r.below(15);
    for (std::size_t i = 0; i < n; ++i) random_reply(r, 0, &in);
    total_replies += n;
    INFO("round " << round);
    check_against_hiredis(in, r, round % 10 == 0);
  }
  CHECK(total_replies > 1500);
}

TEST_CASE("scanner vs hiredis: one long pipelined stream") {
  rng r(42);
  std::string in;
  for (int i = 0; i < 2000; ++i) random_reply(r, 0, &in);
  const scanner_run expected = expected_from_hiredis(in);
  CHECK(expected.replies.size() == 2000);
  CHECK(resp_test::scan_whole(in) == expected);
  reply_scanner s;
  CHECK(resp_test::scan_chunks(s, resp_test::random_chunks(in, r, 1500)) == expected);
}

TEST_CASE("the oracle stops before an array count hiredis 0.14 would allocate for") {
  // Found by fuzzing: "*1536870912\r\n" made hiredis calloc 12 GB.
  std::vector<oracle_reply> replies;
  std::string error;
  const std::string huge = "*" + std::to_string(resp_test::max_oracle_elements + 1) + "\r\n";
  CHECK_FALSE(resp_test::hiredis_replies("+OK\r\n:1\r\n" + huge + "+X\r\n", &replies, &error));
  CHECK(error == "oracle: not judged past an array count above max_oracle_elements");
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].end == 9);
  // At the limit hiredis still judges (and allocates 8 MiB).
  replies.clear();
  const std::string at_limit = "*" + std::to_string(resp_test::max_oracle_elements) + "\r\n";
  CHECK(resp_test::hiredis_replies("+OK\r\n" + at_limit, &replies, &error));
  CHECK(replies.size() == 1);
}
