#include <catch2/catch.hpp>
#include <cstring>

#include "puppy/resp/number.hpp"

using puppy::resp::string_to_ll;

static bool parses(const char* s, long long* v) {
  return string_to_ll(s, std::strlen(s), v);
}

TEST_CASE("string_to_ll accepts what Redis's string2ll accepts") {
  long long v = -7;
  CHECK(parses("0", &v));
  CHECK(v == 0);
  CHECK(parses("123", &v));
  CHECK(v == 123);
  CHECK(parses("-1", &v));
  CHECK(v == -1);
  CHECK(parses("9223372036854775807", &v));
  CHECK(v == 9223372036854775807LL);
  CHECK(parses("-9223372036854775808", &v));
  CHECK(v == (-9223372036854775807LL - 1));
}

TEST_CASE("string_to_ll refuses what Redis's string2ll refuses") {
  long long v = 42;
  for (const char* bad : {"", "-", "-0", "00", "01", "+1", " 1", "1 ", "1a", "blabla",
                          "9223372036854775808", "-9223372036854775809", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(parses(bad, &v));
  }
  CHECK(v == 42);
}

TEST_CASE("string_to_ll reads exactly len bytes") {
  long long v = 0;
  CHECK(string_to_ll("123", 2, &v));
  CHECK(v == 12);
  CHECK(string_to_ll("-5x", 2, &v));
  CHECK(v == -5);
  CHECK_FALSE(string_to_ll("7", 0, &v));
  CHECK(v == -5);
  // Exactly 20 characters is the longest accepted text; its value must still fit.
  CHECK_FALSE(parses("12345678901234567890", &v));
  CHECK_FALSE(parses("00000000000000000001", &v));
  CHECK(parses("2147483648", &v));
  CHECK(v == 2147483648LL);
}
