#include "puppy/resp/encode.hpp"

#include <algorithm>
#include <charconv>

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
  char head[24];
  head[0] = '$';
  char* end = std::to_chars(head + 1, head + sizeof head - 2, s.size()).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out->append(head, static_cast<std::size_t>(end - head));
  out->append(s);
  out->append("\r\n", 2);
}

}  // namespace puppy::resp::encode
