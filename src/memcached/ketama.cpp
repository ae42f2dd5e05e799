#include "puppy/memcached/ketama.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace puppy::memcached {
namespace {

std::uint32_t word(const unsigned char* d, int i) {
  return static_cast<std::uint32_t>(d[3 + i * 4]) << 24 |
         static_cast<std::uint32_t>(d[2 + i * 4]) << 16 |
         static_cast<std::uint32_t>(d[1 + i * 4]) << 8 | static_cast<std::uint32_t>(d[i * 4]);
}

constexpr std::uint32_t points_per_server = 160;  // 40 hashes of 4 points each
constexpr std::uint16_t default_port = 11211;

}  // namespace

void md5(std::string_view data, unsigned char out[16]) {
  static const std::uint32_t k[64] = {
      0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
      0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
      0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
      0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
      0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
      0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
      0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
      0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
      0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
      0xeb86d391};
  static const int r[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                            5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
                            4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                            6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};
  std::uint32_t h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  std::vector<unsigned char> msg(data.begin(), data.end());
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 0; i < 8; ++i) msg.push_back(static_cast<unsigned char>(bits >> (8 * i)));
  const auto rol = [](std::uint32_t x, int c) { return (x << c) | (x >> (32 - c)); };
  for (std::size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    std::uint32_t w[16];
    for (int i = 0; i < 16; ++i) {
      w[i] = static_cast<std::uint32_t>(msg[chunk + 4 * i]) |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 1]) << 8 |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 2]) << 16 |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 3]) << 24;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t f;
      int g;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) % 16;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) % 16;
      }
      const std::uint32_t tmp = d;
      d = c;
      c = b;
      b = b + rol(a + f + k[i] + w[g], r[i]);
      a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
  }
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<unsigned char>(h[i] >> (8 * j));
  }
}

std::uint32_t fnv1a_64(std::string_view data) {
  std::uint32_t hash = static_cast<std::uint32_t>(0xcbf29ce484222325ull);
  for (const char c : data) {
    hash ^= static_cast<std::uint32_t>(static_cast<std::int32_t>(c));  // sign-extended, as there
    hash *= static_cast<std::uint32_t>(0x100000001b3ull);
  }
  return hash;
}

ketama::ketama(const std::vector<ketama_server>& servers, key_hash hash)
    : hash_(hash), single_(servers.size() == 1) {
  std::uint64_t total = 0;
  for (const auto& s : servers) total += s.weight;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const auto& s = servers[i];
    const std::string name =
        s.port == default_port ? s.host : s.host + ":" + std::to_string(s.port);
    const float pct = static_cast<float>(s.weight) / static_cast<float>(total);
    const auto per_server = static_cast<std::uint32_t>(
        std::floor(pct * points_per_server / 4 * static_cast<float>(servers.size()) +
                   0.0000000001f) *
        4);
    for (std::uint32_t p = 0; p < per_server / 4; ++p) {
      unsigned char digest[16];
      md5(name + "-" + std::to_string(p), digest);
      for (int x = 0; x < 4; ++x) {
        points_.push_back({word(digest, x), static_cast<std::uint32_t>(i)});
      }
    }
  }
  std::stable_sort(points_.begin(), points_.end(),
                   [](const point& a, const point& b) { return a.value < b.value; });
}

std::uint32_t ketama::hash(std::string_view key) const {
  if (hash_ == key_hash::fnv1a_64) return fnv1a_64(key);
  unsigned char digest[16];
  md5(key, digest);
  return word(digest, 0);
}

std::size_t ketama::server_for(std::string_view key) const {
  if (points_.empty() || single_) return 0;
  const std::uint32_t h = hash(key);
  auto it = std::lower_bound(points_.begin(), points_.end(), h,
                             [](const point& p, std::uint32_t v) { return p.value < v; });
  if (it == points_.end()) it = points_.begin();
  return it->server;
}

}  // namespace puppy::memcached
