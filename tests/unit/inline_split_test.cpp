// split_inline_args: the rules of Redis's sdssplitargs, checked against fixed expectations and
// against hiredis's sdssplitargs (the same code as Redis 7.0's) on fixtures and random lines.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "hiredis_oracle.hpp"
#include "puppy/resp/inline_split.hpp"
#include "resp_test_support.hpp"

using namespace std::string_literals;
using puppy::resp::split_inline_args;
using strings = std::vector<std::string>;

namespace {

struct split_case {
  std::string line;
  bool ok;
  strings args;  // when ok
};

// Every fixture below, with the result sdssplitargs gives.
const std::vector<split_case>& cases() {
  static const std::vector<split_case> all = {
      // Blanks.
      {"set foo bar", true, {"set", "foo", "bar"}},
      {"  set\t\tfoo  ", true, {"set", "foo"}},
      {"", true, {}},
      {"   ", true, {}},
      {" \t\v\f\r\n ", true, {}},
      {"a\rb\nc\td", true, {"a", "b", "c", "d"}},
      // \v and \f are skipped between arguments but do not end an unquoted one.
      {"a\vb", true, {"a\vb"}},
      {"a\fb c", true, {"a\fb", "c"}},
      {"\va", true, {"a"}},
      {"a\v", true, {"a\v"}},
      // Bytes above 0x7f are never blanks.
      {"\xff\xa0x", true, {"\xff\xa0x"}},
      {"\xa0 x", true, {"\xa0", "x"}},
      // Double quotes.
      {"\"hello world\"", true, {"hello world"}},
      {"\"\\n\\r\\t\\b\\a\\\\\\\"\\z\"", true, {"\n\r\t\b\a\\\"z"}},
      {"\"\\x41\\x6a\\x6A\\xfF\"", true, {"Ajj\xff"}},
      {"\"\\x00\"", true, {"\0"s}},
      {"\"a\\x00b\" c", true, {"a\0b"s, "c"}},
      {"\"\\x4\"", true, {"x4"}},
      {"\"\\xZZ\"", true, {"xZZ"}},
      {"\"\\x4g\"", true, {"x4g"}},
      {"\"'\"", true, {"'"}},
      {"\"\"", true, {""}},
      {"\"\" ''", true, {"", ""}},
      {"foo\"bar baz\"", true, {"foobar baz"}},
      {"\"a\"\tb", true, {"a", "b"}},
      {"\"a\"\vb", true, {"a", "b"}},
      {"\"a\"\rb", true, {"a", "b"}},
      {"\"a b\"", true, {"a b"}},
      // Single quotes: only \' is an escape.
      {"'it\\'s'", true, {"it's"}},
      {"'a\\nb'", true, {"a\\nb"}},
      {"'a\\b'", true, {"a\\b"}},
      {"'\"'", true, {"\""}},
      {"foo'x y'", true, {"foox y"}},
      {"'a' 'b'", true, {"a", "b"}},
      // Unbalanced quotes, or a closing quote followed by something else than a blank.
      {"\"foo", false, {}},
      {"'foo", false, {}},
      {"\"foo\"bar", false, {}},
      {"'foo'bar", false, {}},
      {"\"foo\\\"", false, {}},
      {"'foo\\'", false, {}},
      {"'\\\\'", false, {}},
      {"\"", false, {}},
      {"'", false, {}},
      {"\"a\\", false, {}},
      {"\"a\"\"b\"", false, {}},
      {"set \"\"\"test-key\"\"\" test-value", false, {}},
      {"\"\\x4", false, {}},
      // A NUL byte ends the line: sdssplitargs reads a C string.
      {"ab\0cd"s, true, {"ab"}},
      {"\0ab"s, true, {}},
      {"a \0 b"s, true, {"a"}},
      {"a\0"s, true, {"a"}},
      {"\"ab\"\0cd"s, true, {"ab"}},
      {"'ab'\0\"cd"s, true, {"ab"}},
      {"\"a\0b\""s, false, {}},
      {"'a\0b'"s, false, {}},
      {"\"a\\\0\""s, false, {}},
  };
  return all;
}

}  // namespace

TEST_CASE("split_inline_args: fixtures") {
  for (const auto& c : cases()) {
    INFO("line: \"" << resp_test::escape(c.line) << '"');
    strings out;
    const bool ok = split_inline_args(c.line, &out);
    CHECK(ok == c.ok);
    if (c.ok) CHECK(out == c.args);
  }
}

TEST_CASE("split_inline_args: the fixtures agree with hiredis's sdssplitargs") {
  for (const auto& c : cases()) {
    INFO("line: \"" << resp_test::escape(c.line) << '"');
    strings expected;
    const bool expected_ok = resp_test::hiredis_splitargs(c.line, &expected);
    CHECK(expected_ok == c.ok);
    if (expected_ok) CHECK(expected == c.args);
  }
}

TEST_CASE("split_inline_args: appends to *out") {
  strings out{"keep"};
  CHECK(split_inline_args("y \"z z\"", &out));
  CHECK(out == strings{"keep", "y", "z z"});
  CHECK(split_inline_args("", &out));
  CHECK(out == strings{"keep", "y", "z z"});
}

TEST_CASE("split_inline_args: on unbalanced quotes, *out holds what came before") {
  strings out{"keep"};
  CHECK_FALSE(split_inline_args("a b \"c", &out));
  CHECK(out == strings{"keep", "a", "b"});
  strings out2;
  CHECK_FALSE(split_inline_args("'x'y", &out2));
  CHECK(out2.empty());
}

TEST_CASE("split_inline_args: only the given bytes are read") {
  // The view ends before a closing quote and before further arguments.
  const std::string text = "set \"abc\" tail";
  strings out;
  CHECK_FALSE(split_inline_args(std::string_view(text.data(), 8), &out));  // set "abc
  strings out2;
  CHECK(split_inline_args(std::string_view(text.data(), 9), &out2));  // set "abc"
  CHECK(out2 == strings{"set", "abc"});
  strings out3;
  CHECK(split_inline_args(std::string_view(text.data(), 12), &out3));  // set "abc" ta
  CHECK(out3 == strings{"set", "abc", "ta"});
  // An escape at the very end of the view does not read past it.
  const std::string esc = "\"\\x41\"";
  strings out4;
  CHECK_FALSE(split_inline_args(std::string_view(esc.data(), 4), &out4));  // "\x4
  strings out5;
  CHECK_FALSE(split_inline_args(std::string_view(esc.data(), 2), &out5));  // "\ (backslash)
}

TEST_CASE("split_inline_args: random lines agree with hiredis's sdssplitargs") {
  // Weighted towards the bytes the rules care about.
  const std::string alphabet = "ab1 \t\r\n\v\f\"\"\"'''\\\\\\xxnrtf0A9\xff\xa0 \x80"s + "\0"s;
  resp_test::rng r(0x5d5d5d);
  int ok_lines = 0, bad_lines = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string line;
    const std::size_t len = r.below(24);
    for (std::size_t j = 0; j < len; ++j) line += alphabet[r.below(alphabet.size())];
    strings expected, got;
    const bool expected_ok = resp_test::hiredis_splitargs(line, &expected);
    const bool got_ok = split_inline_args(line, &got);
    INFO("line: \"" << resp_test::escape(line) << '"');
    REQUIRE(got_ok == expected_ok);
    if (expected_ok) {
      REQUIRE(got == expected);
      ++ok_lines;
    } else {
      ++bad_lines;
    }
  }
  // Both outcomes were exercised a fair number of times.
  CHECK(ok_lines > 5000);
  CHECK(bad_lines > 5000);
}
