// The PGET family's script requests (script.hpp) and replies (reply.hpp): SHA1, the exact bytes
// of EVALSHA/EVAL/SCRIPT LOAD, reading the script's replies, writing PGET's reply.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hiredis_oracle.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/pget/script.hpp"
#include "resp_test_support.hpp"

using namespace puppy::pget;
using namespace std::literals;

namespace {

std::string bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}

request parsed(std::vector<std::string_view> args) {
  request r;
  REQUIRE(parse(args, defaults{}, &r).empty());
  return r;
}

constexpr std::int64_t now_ms = 1'700'000'000'000;
const std::string now_bulk = "$13\r\n1700000000000\r\n";

std::string call(const request& r, bool with_body, std::string_view xfetch = "") {
  std::string out;
  encode_call(r, "puppy:k", "tok-9", xfetch, "puppy:wake", now_ms, with_body, &out);
  return out;
}

// Every argument of a request, read back by hiredis.
std::vector<std::string> read_back(const std::string& bytes) {
  std::vector<resp_test::oracle_reply> replies;
  std::string error;
  REQUIRE(resp_test::hiredis_replies(bytes, &replies, &error));
  REQUIRE(replies.size() == 1);
  REQUIRE(replies[0].end == bytes.size());
  return replies[0].element_strs;
}

}  // namespace

TEST_CASE("pget script: sha1_hex against FIPS 180 test vectors") {
  CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(sha1_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
                 "klmnopqrlmnopqrsmnopqrstnopqrstu") == "a49b2446a02c645bf419f995b67091253a04a259");
  CHECK(sha1_hex(std::string(1'000'000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  CHECK(sha1_hex("The quick brown fox jumps over the lazy dog") ==
        "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

TEST_CASE("pget script: sha1_hex at the padding boundaries and on binary bytes") {
  // Expected values from coreutils sha1sum.
  CHECK(sha1_hex(std::string(55, 'a')) == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  CHECK(sha1_hex(std::string(56, 'a')) == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  CHECK(sha1_hex(std::string(63, 'a')) == "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
  CHECK(sha1_hex(std::string(64, 'a')) == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  CHECK(sha1_hex(std::string(65, 'a')) == "11655326c708d70319be2610e8a57d9a5b959d3b");
  CHECK(sha1_hex(std::string(119, 'a')) == "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
  CHECK(sha1_hex(std::string(120, 'a')) == "f34c1488385346a55709ba056ddd08280dd4c6d6");
  CHECK(sha1_hex("a\0b\r\n\xff"s) == "399f1d89c07f61a0cad13744edcde5fa736e441e");
}

TEST_CASE("pget script: script_sha1 names script_body") {
  const std::string& sha = script_sha1();
  CHECK(sha == sha1_hex(script_body()));
  REQUIRE(sha.size() == 40);
  CHECK(sha.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(&script_sha1() == &sha);  // computed once
  CHECK_FALSE(script_body().empty());
  for (const char* op : {"'get'", "'set'", "'release'", "'invalidate'"}) {
    CHECK(script_body().find(op) != std::string::npos);
  }
}

TEST_CASE("pget script: encode_call for get, EVALSHA and EVAL") {
  const request r = parsed({"PGET", "k", "10", "20", "WAIT", "5", "BETA", "1"});
  const std::string tail = bulk("2") + bulk("k") + bulk("puppy:k") + bulk("get") + bulk("10") +
                           bulk("20") + bulk("tok-9");
  CHECK(call(r, false) ==
        "*11\r\n$7\r\nEVALSHA\r\n" + bulk(script_sha1()) + tail + "$0\r\n\r\n" + now_bulk);
  CHECK(call(r, false, "0.6931") ==
        "*11\r\n$7\r\nEVALSHA\r\n" + bulk(script_sha1()) + tail + "$6\r\n0.6931\r\n" + now_bulk);
  CHECK(call(r, true) ==
        "*11\r\n$4\r\nEVAL\r\n" + bulk(script_body()) + tail + "$0\r\n\r\n" + now_bulk);
  CHECK(call(parsed({"PGET", "k"}), false) ==
        "*11\r\n$7\r\nEVALSHA\r\n$40\r\n" + script_sha1() +
            "\r\n$1\r\n2\r\n$1\r\nk\r\n$7\r\npuppy:k\r\n$3\r\nget\r\n$3\r\n300\r\n$2\r\n30\r\n"
            "$5\r\ntok-9\r\n$0\r\n\r\n" +
            now_bulk);
}

TEST_CASE("pget script: encode_call for set, release, invalidate") {
  const std::string value = "line1\r\nline2\0end"s;
  const std::vector<std::string_view> pset = {"PSET", "k", "tok-1", value, "60", "7"};
  CHECK(call(parsed(pset), false) == "*12\r\n" + bulk("EVALSHA") + bulk(script_sha1()) + bulk("2") +
                                         bulk("k") + bulk("puppy:k") + bulk("set") + bulk("tok-1") +
                                         bulk(value) + bulk("60") + bulk("7") + bulk("puppy:wake") +
                                         now_bulk);
  CHECK(call(parsed({"PSET", "k", "tok-1", ""}), true) ==
        "*12\r\n" + bulk("EVAL") + bulk(script_body()) + bulk("2") + bulk("k") + bulk("puppy:k") +
            bulk("set") + bulk("tok-1") + "$0\r\n\r\n" + bulk("300") + bulk("30") +
            bulk("puppy:wake") + now_bulk);

  CHECK(call(parsed({"PRELEASE", "k", "tok-1"}), false) ==
        "*9\r\n" + bulk("EVALSHA") + bulk(script_sha1()) + bulk("2") + bulk("k") + bulk("puppy:k") +
            "$7\r\nrelease\r\n$5\r\ntok-1\r\n$1\r\n0\r\n$10\r\npuppy:wake\r\n");
  CHECK(call(parsed({"PRELEASE", "k", "tok-1", "BACKOFF", "15"}), false) ==
        "*9\r\n" + bulk("EVALSHA") + bulk(script_sha1()) + bulk("2") + bulk("k") + bulk("puppy:k") +
            "$7\r\nrelease\r\n$5\r\ntok-1\r\n$2\r\n15\r\n$10\r\npuppy:wake\r\n");

  CHECK(
      call(parsed({"PINVALIDATE", "k"}), false) ==
      "*7\r\n$7\r\nEVALSHA\r\n$40\r\n" + script_sha1() +
          "\r\n$1\r\n2\r\n$1\r\nk\r\n$7\r\npuppy:k\r\n$10\r\ninvalidate\r\n$10\r\npuppy:wake\r\n");
  CHECK(call(parsed({"PINVALIDATE", "k"}), true) == "*7\r\n" + bulk("EVAL") + bulk(script_body()) +
                                                        bulk("2") + bulk("k") + bulk("puppy:k") +
                                                        bulk("invalidate") + bulk("puppy:wake"));
}

TEST_CASE("pget script: encode_call and encode_load agree with hiredis and append") {
  const std::string value = "v\r\n*1\r\n$1\r\nx"s;
  const std::vector<std::string_view> pset = {"PSET", "k", "tok-1", value};
  CHECK(call(parsed(pset), true) ==
        resp_test::hiredis_format({"EVAL", script_body(), "2", "k", "puppy:k", "set", "tok-1",
                                   value, "300", "30", "puppy:wake", "1700000000000"}));
  CHECK(read_back(call(parsed({"PGET", "k"}), false, "1.5")) ==
        std::vector<std::string>{"EVALSHA", script_sha1(), "2", "k", "puppy:k", "get", "300", "30",
                                 "tok-9", "1.5", "1700000000000"});

  std::string out = "PREVIOUS";
  encode_load(&out);
  CHECK(out == "PREVIOUS*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n" + bulk(script_body()));
  CHECK(out.substr(8) == resp_test::hiredis_format({"SCRIPT", "LOAD", script_body()}));

  out = "X";
  encode_call(parsed({"PINVALIDATE", "k"}), "s", "", "", "c", now_ms, false, &out);
  CHECK(out.substr(0, 5) == "X*7\r\n");
}

// ---- replies -------------------------------------------------------------------------------

namespace {

// The script's get reply as Redis writes it. A Lua table of strings and numbers is an array of
// bulk strings and integers in both RESP2 and RESP3, so these bytes are the RESP3 fixtures too.
std::string get_reply_bytes(std::string_view st, int has, std::string_view value,
                            std::string_view token, long long retry) {
  return "*5\r\n" + bulk(st) + ":" + std::to_string(has) + "\r\n" + bulk(value) + bulk(token) +
         ":" + std::to_string(retry) + "\r\n";
}

struct parsed_get {
  reply_kind k;
  get_reply r;
  std::string error;
};

// The reply's views point into `bytes`, so they must outlive it: a temporary would leave them
// dangling (ASan caught one such use at -O0).
parsed_get read_get(const std::string& bytes) {
  parsed_get p;
  p.error = "untouched";
  p.k = parse_get_reply(bytes, &p.r, &p.error);
  return p;
}
parsed_get read_get(std::string&& bytes) = delete;

}  // namespace

TEST_CASE("pget reply: the four states") {
  const std::string fresh = get_reply_bytes("fresh", 1, "hello", "", -1);
  CHECK(fresh == "*5\r\n$5\r\nfresh\r\n:1\r\n$5\r\nhello\r\n$0\r\n\r\n:-1\r\n");
  parsed_get p = read_get(fresh);
  REQUIRE(p.k == reply_kind::ok);
  CHECK(p.error == "untouched");
  CHECK(p.r.answer == state::fresh);
  CHECK(p.r.has_value);
  CHECK(p.r.value == "hello");
  CHECK(p.r.token.empty());
  CHECK(p.r.retry_after_ms == -1);
  // Views into the given bytes.
  CHECK(p.r.value.data() == fresh.data() + fresh.find("hello"));

  const std::string stale = get_reply_bytes("stale", 1, "old", "", 2500);
  p = read_get(stale);
  REQUIRE(p.k == reply_kind::ok);
  CHECK(p.r.answer == state::stale);
  CHECK(p.r.value == "old");
  CHECK(p.r.retry_after_ms == 2500);

  const std::string lease = get_reply_bytes("lease", 1, "old", "T-123", -1);
  p = read_get(lease);
  REQUIRE(p.k == reply_kind::ok);
  CHECK(p.r.answer == state::lease);
  CHECK(p.r.has_value);
  CHECK(p.r.token == "T-123");

  const std::string lease_only = get_reply_bytes("lease", 0, "", "T-124", -1);
  p = read_get(lease_only);
  REQUIRE(p.k == reply_kind::ok);
  CHECK(p.r.answer == state::lease);
  CHECK_FALSE(p.r.has_value);
  CHECK(p.r.token == "T-124");

  const std::string miss = "*5\r\n$4\r\nmiss\r\n:0\r\n$0\r\n\r\n$0\r\n\r\n:1200\r\n";
  p = read_get(miss);
  REQUIRE(p.k == reply_kind::ok);
  CHECK(p.r.answer == state::miss);
  CHECK_FALSE(p.r.has_value);
  CHECK(p.r.value.empty());
  CHECK(p.r.retry_after_ms == 1200);
}

TEST_CASE("pget reply: empty value versus no value, and binary values") {
  const std::string empty_bytes = get_reply_bytes("fresh", 1, "", "", -1);
  parsed_get empty = read_get(empty_bytes);
  REQUIRE(empty.k == reply_kind::ok);
  CHECK(empty.r.has_value);
  CHECK(empty.r.value.empty());

  const std::string none_bytes = get_reply_bytes("stale", 0, "", "", 10);
  parsed_get none = read_get(none_bytes);
  REQUIRE(none.k == reply_kind::ok);
  CHECK_FALSE(none.r.has_value);

  const std::string binary = "a\r\n:1\r\n\0\xff$-1\r\n"s;
  const std::string bytes = get_reply_bytes("stale", 1, binary, "", 99);
  parsed_get b = read_get(bytes);
  REQUIRE(b.k == reply_kind::ok);
  CHECK(b.r.value == binary);
  CHECK(b.r.retry_after_ms == 99);
}

TEST_CASE("pget reply: error replies") {
  get_reply r;
  std::string error;
  CHECK(parse_get_reply("-ERR Error running script: @user_script:12: boom\r\n", &r, &error) ==
        reply_kind::error);
  CHECK(error == "ERR Error running script: @user_script:12: boom");
  CHECK(parse_get_reply("-NOSCRIPT No matching script. Please use EVAL.\r\n", &r, &error) ==
        reply_kind::noscript);
  CHECK(error == "NOSCRIPT No matching script. Please use EVAL.");
  CHECK(parse_get_reply("!21\r\nSYNTAX invalid syntax\r\n", &r, &error) == reply_kind::error);
  CHECK(error == "SYNTAX invalid syntax");
  CHECK(parse_get_reply("!27\r\nNOSCRIPT No matching script\r\n", &r, &error) ==
        reply_kind::noscript);
  CHECK(error == "NOSCRIPT No matching script");
  CHECK(parse_get_reply("-ERR NOSCRIPT lookalike\r\n", &r, &error) == reply_kind::error);
  CHECK(parse_get_reply("-BUSY Redis is busy running a script\r\n", &r, &error) ==
        reply_kind::error);
  CHECK(error == "BUSY Redis is busy running a script");

  std::int64_t v = 5;
  CHECK(parse_int_reply("-NOSCRIPT No matching script.\r\n", &v, &error) == reply_kind::noscript);
  CHECK(parse_int_reply("-READONLY You can't write against a read only replica.\r\n", &v, &error) ==
        reply_kind::error);
  CHECK(error == "READONLY You can't write against a read only replica.");
  CHECK(parse_int_reply("!3\r\nERR\r\n", &v, &error) == reply_kind::error);
  CHECK(error == "ERR");
  CHECK(v == 5);

  // Errors cut short are malformed.
  for (const std::string& bad :
       {"-ERR no end"s, "-"s, "!21\r\nSYNTAX\r\n"s, "!x\r\nab\r\n"s, "!-1\r\n"s, "!3\r\nERRxx"s}) {
    INFO(resp_test::escape(bad));
    CHECK(parse_get_reply(bad, &r, &error) == reply_kind::malformed);
    CHECK(parse_int_reply(bad, &v, &error) == reply_kind::malformed);
  }
}

TEST_CASE("pget reply: malformed get replies") {
  const std::string good = get_reply_bytes("stale", 1, "v", "", 10);
  const std::vector<std::string> bad = {
      "",
      "+OK\r\n",
      ":1\r\n",
      "*-1\r\n",
      "*0\r\n",
      "*4\r\n$5\r\nstale\r\n:1\r\n$1\r\nv\r\n$0\r\n\r\n",
      "*6\r\n$5\r\nstale\r\n:1\r\n$1\r\nv\r\n$0\r\n\r\n:10\r\n:10\r\n",
      good + "X",
      good + good,
      get_reply_bytes("STALE", 1, "v", "", 10),
      get_reply_bytes("gone", 1, "v", "", 10),
      get_reply_bytes("", 1, "v", "", 10),
      get_reply_bytes("stale", 2, "v", "", 10),
      get_reply_bytes("stale", -1, "v", "", 10),
      "*5\r\n$5\r\nstale\r\n:1\r\n$-1\r\n$0\r\n\r\n:10\r\n",           // nil value
      "*5\r\n$5\r\nstale\r\n:1\r\n$1\r\nv\r\n$0\r\n\r\n$2\r\n10\r\n",  // retry as a string
      "*5\r\n+stale\r\n:1\r\n$1\r\nv\r\n$0\r\n\r\n:10\r\n",            // state as a status
      "*5\r\n$5\r\nstale\r\n:01\r\n$1\r\nv\r\n$0\r\n\r\n:10\r\n",      // not a Redis integer
      "*5\r\n$5\r\nstale\r\n:1\r\n$2\r\nv\r\n$0\r\n\r\n:10\r\n",       // length too long
      "*5\r\n$5\r\nstale\r\n:1\r\n$1\r\nvX\r\n$0\r\n\r\n:10\r\n",      // length too short
      "*5\n$5\nstale\n:1\n$1\nv\n$0\n\n:10\n",
      "*5\r\n$5\r\nstale\r\n:1\r\n$9223372036854775807\r\nv\r\n$0\r\n\r\n:10\r\n",  // huge length
                                                                                    // // LF only
  };
  for (const auto& b : bad) {
    INFO(resp_test::escape(b));
    get_reply r;
    std::string error = "untouched";
    CHECK(parse_get_reply(b, &r, &error) == reply_kind::malformed);
    CHECK(error == "untouched");
  }
  // Every proper prefix of a good reply is malformed (the caller passes whole replies).
  for (std::size_t n = 0; n < good.size(); ++n) {
    INFO(n);
    get_reply r;
    std::string error;
    CHECK(parse_get_reply(std::string_view(good).substr(0, n), &r, &error) ==
          reply_kind::malformed);
  }
}

TEST_CASE("pget reply: integer replies") {
  std::int64_t v = 42;
  std::string error = "untouched";
  CHECK(parse_int_reply(":1\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == 1);
  CHECK(parse_int_reply(":0\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == 0);
  CHECK(parse_int_reply(":-7\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == -7);
  CHECK(parse_int_reply(":9223372036854775807\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == INT64_MAX);
  CHECK(parse_int_reply(":-9223372036854775808\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == INT64_MIN);
  CHECK(parse_int_reply(":999999999999999999\r\n", &v, &error) == reply_kind::ok);  // 18 digits
  CHECK(v == 999'999'999'999'999'999);
  CHECK(parse_int_reply(":-123456789012345678\r\n", &v, &error) == reply_kind::ok);
  CHECK(v == -123'456'789'012'345'678);
  CHECK(error == "untouched");

  v = 42;
  for (const std::string& bad :
       {""s, ":1"s, ":1\r"s, ":1\r\nx"s, ":1\r\n:1\r\n"s, ":\r\n"s, ":01\r\n"s, ":+1\r\n"s,
        ":1.0\r\n"s, ":9223372036854775808\r\n"s, "$1\r\n1\r\n"s, "+1\r\n"s, "(1\r\n"s, ",1\r\n"s,
        "#t\r\n"s, "_\r\n"s, "*1\r\n:1\r\n"s}) {
    INFO(resp_test::escape(bad));
    CHECK(parse_int_reply(bad, &v, &error) == reply_kind::malformed);
  }
  // Numbers Redis would not write.
  for (const std::string& bad : {":-0\r\n"s, ":-01\r\n"s, ":-\r\n"s, ":12x\r\n"s, ":1\n"s, ":1\rx"s,
                                 ":-9223372036854775809\r\n"s, ": 1\r\n"s}) {
    INFO(resp_test::escape(bad));
    CHECK(parse_int_reply(bad, &v, &error) == reply_kind::malformed);
  }
  CHECK(v == 42);
}

TEST_CASE("pget reply: encode_pget_reply") {
  const std::string_view value = "v", token = "T-1", empty = "";
  const std::string_view binary = "a\r\n$-1\r\n\0b"sv;
  std::string out;
  encode_pget_reply(state::fresh, &value, nullptr, &out);
  CHECK(out == "*3\r\n$5\r\nfresh\r\n$1\r\nv\r\n$-1\r\n");
  out.clear();
  encode_pget_reply(state::lease, nullptr, &token, &out);
  CHECK(out == "*3\r\n$5\r\nlease\r\n$-1\r\n$3\r\nT-1\r\n");
  out.clear();
  encode_pget_reply(state::lease, &value, &token, &out);
  CHECK(out == "*3\r\n$5\r\nlease\r\n$1\r\nv\r\n$3\r\nT-1\r\n");
  out.clear();
  encode_pget_reply(state::miss, nullptr, nullptr, &out);
  CHECK(out == "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n");
  out.clear();
  encode_pget_reply(state::stale, &empty, nullptr, &out);
  CHECK(out == "*3\r\n$5\r\nstale\r\n$0\r\n\r\n$-1\r\n");

  out = "+PREVIOUS\r\n";
  encode_pget_reply(state::stale, &binary, nullptr, &out);
  CHECK(out == "+PREVIOUS\r\n*3\r\n$5\r\nstale\r\n$10\r\na\r\n$-1\r\n\0b\r\n$-1\r\n"s);
  std::vector<resp_test::oracle_reply> replies;
  std::string error;
  REQUIRE(resp_test::hiredis_replies(out, &replies, &error));
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].end == out.size());
  CHECK(replies[1].elements == 3);
  CHECK(replies[1].element_strs[1] == binary);
}

TEST_CASE("pget reply: encode_pget_reply on both sides of its stack buffer (256 bytes)") {
  // The whole reply is 10 + 5 ("fresh") + "$N\r\n" + value + "\r\n" + "$-1\r\n".
  for (const std::size_t n :
       {std::size_t{225}, std::size_t{226}, std::size_t{227}, std::size_t{70000}}) {
    INFO(n);
    const std::string value(n, 'v');
    const std::string_view view = value;
    std::string out = "+OK\r\n";
    encode_pget_reply(state::fresh, &view, nullptr, &out);
    CHECK(out ==
          "+OK\r\n*3\r\n$5\r\nfresh\r\n$" + std::to_string(n) + "\r\n" + value + "\r\n$-1\r\n");
  }
}

TEST_CASE("pget script: encode_read is one MGET of the key and its status, at any size") {
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{200}, std::size_t{230},
                              std::size_t{231}, std::size_t{5000}}) {
    INFO(n);
    const std::string key(n, 'k');
    const std::string status = "puppy:" + key;
    std::string out = "*1\r\n$4\r\nPING\r\n";
    encode_read(key, status, &out);
    CHECK(out == "*1\r\n$4\r\nPING\r\n*3\r\n$4\r\nMGET\r\n$" + std::to_string(n) + "\r\n" + key +
                     "\r\n$" + std::to_string(status.size()) + "\r\n" + status + "\r\n");
  }
}
