#include "puppy/resp/inline_split.hpp"

namespace puppy::resp {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// The line is treated like a C string whose terminator is `end`.
struct cursor {
  const char* p;
  const char* end;
  char at(std::size_t i) const { return p + i < end ? p[i] : '\0'; }
};

// Reads a "double quoted" argument; c.p is just past the opening quote.
bool read_double_quoted(cursor& c, std::string* arg) {
  for (;;) {
    const char ch = c.at(0);
    if (ch == '\\' && c.at(1) == 'x' && is_hex(c.at(2)) && is_hex(c.at(3))) {
      arg->push_back(static_cast<char>(hex_value(c.at(2)) * 16 + hex_value(c.at(3))));
      c.p += 4;
    } else if (ch == '\\' && c.at(1) != '\0') {
      const char e = c.at(1);
      switch (e) {
        case 'n':
          arg->push_back('\n');
          break;
        case 'r':
          arg->push_back('\r');
          break;
        case 't':
          arg->push_back('\t');
          break;
        case 'b':
          arg->push_back('\b');
          break;
        case 'a':
          arg->push_back('\a');
          break;
        default:
          arg->push_back(e);
          break;
      }
      c.p += 2;
    } else if (ch == '"') {
      if (c.at(1) != '\0' && !is_space(c.at(1))) return false;
      c.p += 1;
      return true;
    } else if (ch == '\0') {
      return false;
    } else {
      arg->push_back(ch);
      c.p += 1;
    }
  }
}

// Reads a 'single quoted' argument; c.p is just past the opening quote.
bool read_single_quoted(cursor& c, std::string* arg) {
  for (;;) {
    const char ch = c.at(0);
    if (ch == '\\' && c.at(1) == '\'') {
      arg->push_back('\'');
      c.p += 2;
    } else if (ch == '\'') {
      if (c.at(1) != '\0' && !is_space(c.at(1))) return false;
      c.p += 1;
      return true;
    } else if (ch == '\0') {
      return false;
    } else {
      arg->push_back(ch);
      c.p += 1;
    }
  }
}

}  // namespace

bool split_inline_args(std::string_view line, std::vector<std::string>* out) {
  cursor c{line.data(), line.data() + line.size()};
  for (;;) {
    while (c.p < c.end && is_space(*c.p)) ++c.p;
    if (c.p == c.end || *c.p == '\0') return true;  // a NUL ends the C string sdssplitargs reads
    std::string arg;
    for (bool done = false; !done;) {
      const char ch = c.at(0);
      switch (ch) {
        case ' ':
        case '\n':
        case '\r':
        case '\t':
        case '\0':
          done = true;
          break;
        case '"':
          ++c.p;
          if (!read_double_quoted(c, &arg)) return false;
          done = true;
          break;
        case '\'':
          ++c.p;
          if (!read_single_quoted(c, &arg)) return false;
          done = true;
          break;
        default:
          arg.push_back(ch);
          ++c.p;
          break;
      }
    }
    out->push_back(std::move(arg));
  }
}

}  // namespace puppy::resp
