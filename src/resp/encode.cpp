#include "puppy/resp/encode.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace puppy::resp::encode {

std::string simple(std::string_view s) {
  std::string out = "+";
  out.append(s);
  out.append("\r\n", 2);
  return out;
}

std::string error(std::string_view s) {
  std::string out = "-";
  out.append(s);
  std::replace_if(
      out.begin() + 1, out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out.append("\r\n", 2);
  return out;
}

std::string integer(std::int64_t v) {
  return ":" + std::to_string(v) + "\r\n";
}

std::string bulk(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 24);
  append_bulk(&out, s);
  return out;
}

std::string nil(bool resp3) {
  return resp3 ? "_\r\n" : "$-1\r\n";
}

std::string array_header(std::size_t n) {
  return "*" + std::to_string(n) + "\r\n";
}

void append_bulk(std::string* out, std::string_view s) {
  // One append: the hot path of every command the proxy sends itself (a resize would zero-fill,
  // and three appends check capacity three times).
  constexpr std::size_t small = 232;
  char buf[small + 24];
  buf[0] = '$';
  char* end = std::to_chars(buf + 1, buf + 22, s.size()).ptr;
  *end++ = '\r';
  *end++ = '\n';
  if (s.size() > small) {
    out->append(buf, static_cast<std::size_t>(end - buf));
    out->append(s);
    out->append("\r\n", 2);
    return;
  }
  if (!s.empty()) std::memcpy(end, s.data(), s.size());
  end += s.size();
  *end++ = '\r';
  *end++ = '\n';
  out->append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace puppy::resp::encode
