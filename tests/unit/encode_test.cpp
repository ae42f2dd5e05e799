// The RESP the proxy writes itself: exact bytes.
#include <catch2/catch.hpp>
#include <string>

#include "puppy/resp/encode.hpp"

using namespace puppy::resp::encode;

TEST_CASE("encode: each kind, exact bytes") {
  CHECK(simple("OK") == "+OK\r\n");
  CHECK(integer(0) == ":0\r\n");
  CHECK(integer(-9223372036854775807LL - 1) == ":-9223372036854775808\r\n");
  CHECK(bulk("") == "$0\r\n\r\n");
  CHECK(bulk(std::string("a\0b\r\n", 5)) == std::string("$5\r\na\0b\r\n\r\n", 11));
  CHECK(nil(false) == "$-1\r\n");
  CHECK(nil(true) == "_\r\n");
  CHECK(array_header(0) == "*0\r\n");
  CHECK(array_header(3) == "*3\r\n");
}

TEST_CASE("encode: an error stays one line, as Redis's addReplyErrorLength makes it") {
  CHECK(error("ERR syntax error") == "-ERR syntax error\r\n");
  CHECK(error("ERR unknown command 'a\r\nb'") == "-ERR unknown command 'a  b'\r\n");
  CHECK(error("") == "-\r\n");
}

TEST_CASE("encode: append_bulk appends, bulk of a large value has its exact length") {
  std::string out = "*2\r\n";
  append_bulk(&out, "GET");
  append_bulk(&out, "k");
  CHECK(out == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  // Either side of the one-append stack buffer (232 bytes of value).
  for (const std::size_t n : {std::size_t{231}, std::size_t{232}, std::size_t{233}}) {
    INFO(n);
    std::string mid = "+";
    append_bulk(&mid, std::string(n, 'y'));
    CHECK(mid == "+$" + std::to_string(n) + "\r\n" + std::string(n, 'y') + "\r\n");
  }
  const std::string big(1 << 20, 'x');
  const std::string b = bulk(big);
  CHECK(b.compare(0, 10, "$1048576\r\n") == 0);
  CHECK(b.size() == 10 + big.size() + 2);
  CHECK(b.compare(b.size() - 2, 2, "\r\n") == 0);
}
