// JSON log lines stay valid JSON whatever a message holds (runtime/logging.hpp).
#include <catch2/catch.hpp>
#include <string>

#include "puppy/runtime/logging.hpp"

using puppy::runtime::append_json_escaped;

namespace {
std::string escaped(std::string_view s) {
  std::string out;
  append_json_escaped(s, &out);
  return out;
}
}  // namespace

TEST_CASE("JSON escaping: quotes, backslashes and control characters") {
  CHECK(escaped("plain text 123") == "plain text 123");
  CHECK(escaped("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escaped("a\\b") == "a\\\\b");
  CHECK(escaped("l1\nl2\r\t") == "l1\\nl2\\r\\t");
  CHECK(escaped(std::string("\0\x01\x1f\x7f", 4)) == "\\u0000\\u0001\\u001f\\u007f");
}

TEST_CASE("JSON escaping: UTF-8 passes, other bytes become U+FFFD") {
  CHECK(escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6") ==
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6");
  CHECK(escaped("\xff") == "\\ufffd");
  CHECK(escaped("\xc3") == "\\ufffd");             // truncated sequence
  CHECK(escaped("\xc3(") == "\\ufffd(");           // bad continuation byte
  CHECK(escaped("\xc0\xaf") == "\\ufffd\\ufffd");  // overlong encoding
}
