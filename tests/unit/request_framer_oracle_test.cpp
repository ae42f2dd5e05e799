// request_framer against hiredis 0.14: multibulk requests encoded by redisFormatCommandArgv and
// parsed back by hiredis's reader must be framed with the same boundaries, argument counts, names
// and (for CLIENT) arguments; inline requests must be split like hiredis's sdssplitargs (the same
// code as Redis 7.0's). All inputs are random but seeded, so the tests are deterministic.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "hiredis_oracle.hpp"
#include "puppy/resp/request_framer.hpp"
#include "resp_test_support.hpp"

using puppy::resp::command_kind;
using puppy::resp::request_framer;
using resp_test::framer_run;
using resp_test::rng;
using resp_test::seen_command;

namespace {

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// The few commands the proxy treats specially, independently of the command table.
command_kind expected_kind(const std::string& lower_name) {
  if (lower_name == "client") return command_kind::client;
  if (lower_name == "subscribe" || lower_name == "unsubscribe") return command_kind::pubsub;
  if (lower_name == "monitor") return command_kind::monitor;
  if (lower_name == "reset") return command_kind::reset;
  if (lower_name == "quit") return command_kind::quit;
  if (lower_name == "psync" || lower_name == "sync") return command_kind::replication;
  return command_kind::plain;
}

// Commands whose arguments the framer copies: CLIENT (REPLY OFF|SKIP), AUTH and HELLO (the
// proxy's password), the PGET family (answered by the proxy).
bool expected_capture(const std::string& lower_name) {
  return lower_name == "client" || lower_name == "auth" || lower_name == "hello" ||
         lower_name == "pget" || lower_name == "pset" || lower_name == "prelease" ||
         lower_name == "pinvalidate";
}

std::string expected_name(const std::string& first_arg) {
  return first_arg.size() <= 32 ? ascii_lower(first_arg) : "";
}

std::string random_bytes(rng& r, std::size_t max_len) {
  std::string s;
  const std::size_t len = r.below(max_len + 1);
  for (std::size_t i = 0; i < len; ++i) {
    static const char special[] = {'\r', '\n', '$', '*', '\0', ' ', '"'};
    s += r.percent(30) ? special[r.below(sizeof special)] : static_cast<char>(r.below(256));
  }
  return s;
}

std::vector<std::string> random_command(rng& r) {
  static const std::vector<std::string> names = {"GET",
                                                 "set",
                                                 "Client",
                                                 "CLIENT",
                                                 "client",
                                                 "subscribe",
                                                 "UnSubscribe",
                                                 "MONITOR",
                                                 "ping",
                                                 "PSYNC",
                                                 "sync",
                                                 "reset",
                                                 "",
                                                 "x",
                                                 "mset",
                                                 "HELLO",
                                                 std::string(32, 'N'),
                                                 std::string(33, 'N')};
  std::vector<std::string> args;
  const std::size_t argc = 1 + r.below(7);
  args.push_back(r.percent(70) ? names[r.below(names.size())] : random_bytes(r, 40));
  for (std::size_t i = 1; i < argc; ++i) {
    args.push_back(random_bytes(r, r.percent(5) ? 5000 : 30));
  }
  return args;
}

// What the framer must report for `in`, according to hiredis's reader.
framer_run expected_from_hiredis(const std::string& in, std::size_t requests) {
  std::vector<resp_test::oracle_reply> replies;
  std::string error;
  const bool ok = resp_test::hiredis_replies(in, &replies, &error);
  INFO("hiredis error: " << error);
  REQUIRE(ok);
  REQUIRE(replies.size() == requests);
  framer_run run;
  std::size_t prev = 0;
  for (const auto& o : replies) {
    REQUIRE(o.type == REDIS_REPLY_ARRAY);
    REQUIRE(o.element_strs.size() == o.elements);
    REQUIRE(o.elements > 0);
    seen_command c;
    c.argc = o.elements;
    c.name = expected_name(o.element_strs[0]);
    c.wire_size = o.end - prev;
    c.kind = expected_kind(c.name);
    c.capture_args = expected_capture(c.name);
    if (c.capture_args) c.args = o.element_strs;
    run.commands.push_back(c);
    prev = o.end;
  }
  run.consumed = in.size();
  return run;
}

}  // namespace

TEST_CASE("framer vs hiredis: random multibulk requests") {
  rng r(0xBEEF);
  std::size_t total = 0;
  for (int round = 0; round < 200; ++round) {
    std::string in;
    const std::size_t n = 1 + r.below(12);
    for (std::size_t i = 0; i < n; ++i) in += resp_test::hiredis_format(random_command(r));
    total += n;
    INFO("round " << round << ", " << in.size() << " bytes");
    const framer_run expected = expected_from_hiredis(in, n);
    CHECK(resp_test::run_whole(in) == expected);
    if (round % 10 == 0) CHECK(resp_test::run_bytewise(in) == expected);
    for (const std::size_t max_chunk : {3, 16, 200}) {
      INFO("random chunks of at most " << max_chunk << " bytes");
      request_framer f;
      CHECK(resp_test::feed(f, resp_test::random_chunks(in, r, max_chunk)) == expected);
    }
  }
  CHECK(total > 1000);
}

TEST_CASE("framer vs hiredis: requests with many arguments") {
  rng r(99);
  std::vector<std::string> args = {"DEL"};
  for (int i = 0; i < 5000; ++i) args.push_back(random_bytes(r, 12));
  std::string in = resp_test::hiredis_format(args);
  args[0] = "client";
  in += resp_test::hiredis_format(args);
  const framer_run expected = expected_from_hiredis(in, 2);
  CHECK(expected.commands[0].argc == 5001);
  CHECK(expected.commands[1].args.size() == 5001);
  CHECK(resp_test::run_whole(in) == expected);
  request_framer f;
  CHECK(resp_test::feed(f, resp_test::random_chunks(in, r, 100)) == expected);
}

TEST_CASE("framer vs hiredis: random inline requests are split like sdssplitargs") {
  // No LF (it ends the line) and no NUL (it would hide the line end) inside a line.
  const std::string alphabet = "abcGETSclient \t\v\f\r\"\"''\\\\xn41\xff";
  rng r(0x1A1A);
  int good = 0, bad = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string line;
    const std::size_t len = r.below(30);
    for (std::size_t j = 0; j < len; ++j) line += alphabet[r.below(alphabet.size())];
    const std::string end = r.percent(50) ? "\r\n" : "\n";
    const std::string in = line + end;
    // Redis drops one CR before the LF, then splits the rest.
    std::string content = in.substr(0, in.size() - 1);
    if (!content.empty() && content.back() == '\r') content.pop_back();
    std::vector<std::string> args;
    framer_run expected;
    if (resp_test::hiredis_splitargs(content, &args)) {
      ++good;
      seen_command c;
      c.argc = args.size();
      c.name = args.empty() ? "" : expected_name(args[0]);
      c.kind = expected_kind(c.name);
      c.capture_args = expected_capture(c.name);
      c.is_inline = true;
      c.wire_size = in.size();
      c.args = args;
      expected = resp_test::complete_run({c});
    } else {
      ++bad;
      expected = resp_test::error_run({}, 0, puppy::resp::frame_error::unbalanced_quotes,
                                      "Protocol error: unbalanced quotes in request", 0, in);
    }
    INFO("line: \"" << resp_test::escape(in) << '"');
    REQUIRE(resp_test::run_whole(in) == expected);
    REQUIRE(resp_test::run_bytewise(in) == expected);
    REQUIRE(resp_test::run_split(in, r.below(in.size() + 1)) == expected);
  }
  CHECK(good > 500);
  CHECK(bad > 500);
}
