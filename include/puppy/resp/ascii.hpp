#pragma once
// ASCII case for command names and keywords (Redis compares them case-insensitively).
#include <string>
#include <string_view>

namespace puppy::resp {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

inline void lower_into(std::string_view s, std::string* out) {
  out->assign(s);
  for (auto& c : *out) c = ascii_lower(c);
}

inline std::string lower(std::string_view s) {
  std::string out;
  lower_into(s, &out);
  return out;
}

// Whether a and b are equal but for ASCII case.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace puppy::resp
