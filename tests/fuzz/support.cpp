#include "support.hpp"

#include <cstdio>

#include "entries.hpp"

namespace puppy_fuzz {

const std::vector<target>& targets() {
  static const std::vector<target> all = {
      {"request_framer", &request_framer_entry},           {"reply_scanner", &reply_scanner_entry},
      {"memcached_response", &memcached_response_entry},   {"inline_split", &inline_split_entry},
      {"memcached_translate", &memcached_translate_entry},
  };
  return all;
}

void fail(const char* file, int line, const std::string& what) {
  throw fuzz_failure(std::string(file) + ":" + std::to_string(line) + ": " + what);
}

std::uint64_t input_seed(std::string_view in) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : in) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::uint64_t next_random(std::uint64_t* state) {
  std::uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<std::string_view> random_chunks(std::string_view in, std::uint64_t seed,
                                            std::size_t max_chunk) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t n = 1 + static_cast<std::size_t>(next_random(&seed) % max_chunk);
    out.push_back(in.substr(pos, n));
    pos += out.back().size();
  }
  return out;
}

std::vector<std::string_view> split_in_two(std::string_view in, std::uint64_t seed) {
  const std::size_t at = static_cast<std::size_t>(next_random(&seed) % (in.size() + 1));
  return {in.substr(0, at), in.substr(at)};
}

std::vector<std::string_view> bytewise(std::string_view in) {
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < in.size(); ++i) out.push_back(in.substr(i, 1));
  return out;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

}  // namespace puppy_fuzz
