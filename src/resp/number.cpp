#include "puppy/resp/number.hpp"

#include <climits>

namespace puppy::resp {

bool string_to_ll(const char* s, std::size_t len, long long* value) {
  constexpr std::size_t long_str_size = 21;  // Redis's LONG_STR_SIZE
  if (len == 0 || len >= long_str_size) return false;
  if (len == 1 && s[0] == '0') {
    *value = 0;
    return true;
  }
  const char* p = s;
  const char* end = s + len;
  bool negative = false;
  if (*p == '-') {
    negative = true;
    if (++p == end) return false;
  }
  if (*p < '1' || *p > '9') return false;
  if (end - p <= 18) {
    // At most 18 digits cannot overflow: the common case (lengths, counts, times) without the
    // checks of every step below.
    long long v = *p++ - '0';
    for (; p != end; ++p) {
      if (*p < '0' || *p > '9') return false;
      v = v * 10 + (*p - '0');
    }
    *value = negative ? -v : v;
    return true;
  }
  unsigned long long v = static_cast<unsigned long long>(*p++ - '0');
  for (; p != end; ++p) {
    if (*p < '0' || *p > '9') return false;
    const auto digit = static_cast<unsigned long long>(*p - '0');
    if (v > ULLONG_MAX / 10) return false;
    v *= 10;
    if (v > ULLONG_MAX - digit) return false;
    v += digit;
  }
  if (negative) {
    if (v > static_cast<unsigned long long>(-(LLONG_MIN + 1)) + 1) return false;
    *value = static_cast<long long>(0ull - v);
  } else {
    if (v > static_cast<unsigned long long>(LLONG_MAX)) return false;
    *value = static_cast<long long>(v);
  }
  return true;
}

}  // namespace puppy::resp
