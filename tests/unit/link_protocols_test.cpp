// The protocols of pipelined_link, on bytes: where a response ends, across partial reads.
#include <catch2/catch.hpp>
#include <string>

#include "puppy/server/link_protocols.hpp"

using namespace puppy::server;
using status = link_parse::status;

TEST_CASE("link protocols: RESP replies found whole, across partial reads, errors refused") {
  resp_protocol p;
  const std::string two = "*2\r\n$3\r\nabc\r\n:7\r\n+OK\r\n";
  std::string_view r;
  // Fed one more byte at a time from the reply's first byte, as the link does.
  std::size_t n = 1;
  link_parse got{status::need_more, 0};
  for (; n <= two.size(); ++n) {
    got = p.parse(two.data(), n, &r);
    if (got.what != status::need_more) break;
  }
  REQUIRE(got.what == status::complete);
  CHECK(got.consumed == 17);
  CHECK(r == "*2\r\n$3\r\nabc\r\n:7\r\n");
  got = p.parse(two.data() + 17, two.size() - 17, &r);
  CHECK(got.what == status::complete);
  CHECK(r == "+OK\r\n");
  CHECK(p.parse("?bad\r\n", 6, &r).what == status::invalid);
  p.reset();
  CHECK(p.parse("$-1\r\n", 5, &r).what == status::complete);
  std::string storage;
  CHECK(resp_protocol::unavailable("connect failed", &storage, false) ==
        "-ERR upstream unavailable (connect failed)\r\n");
  CHECK(resp_protocol::unavailable("closed", &storage, true) ==
        "-ERR upstream connection lost (closed)\r\n");
}

TEST_CASE("link protocols: memcached responses") {
  memcached_protocol p;
  puppy::memcached::response r;
  const std::string va = "VA 3 t12\r\nabc\r\nHD\r\n";
  CHECK(p.parse(va.data(), 8, &r).what == status::need_more);
  const auto got = p.parse(va.data(), va.size(), &r);
  REQUIRE(got.what == status::complete);
  CHECK(got.consumed == 15);
  CHECK(r.data == "abc");
  CHECK(p.parse("XX\r\n", 4, &r).what == status::invalid);
  std::string storage;
  const auto u = memcached_protocol::unavailable("down", &storage, false);
  CHECK(u.what == puppy::memcached::code::unavailable);
  CHECK(u.flags == "down");
}
