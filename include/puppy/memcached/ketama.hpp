#pragma once
// Consistent hashing of keys onto memcached servers, compatible with twemproxy's and
// libmemcached's ketama (the weighted, libketama-compatible form), so that an existing pool keeps
// its key layout when puppy-proxy replaces the client or proxy in front of it:
//  * each server is named "host:port", or just "host" when the port is 11211;
//  * a server of weight w among servers of total weight W gets floor(w/W * 40 * n) * 4 points
//    (n servers; 160 points each when weights are equal), each the little-endian 32-bit words of
//    MD5("<name>-<i>") for i = 0, 1, ...;
//  * a key goes to the first point at or after hash(key), wrapping around; hash is MD5 (first
//    word, as libmemcached's ketama) or FNV-1a 64 truncated to 32 bits (twemproxy's default).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace puppy::memcached {

enum class key_hash : std::uint8_t { md5, fnv1a_64 };

struct ketama_server {
  std::string host;
  std::uint16_t port = 11211;
  std::uint32_t weight = 1;
};

class ketama {
 public:
  ketama(const std::vector<ketama_server>& servers, key_hash hash);
  // Index (into the servers given) of the server for `key` (0 at once with a single server).
  std::size_t server_for(std::string_view key) const;
  std::uint32_t hash(std::string_view key) const;
  std::size_t points() const { return points_.size(); }

 private:
  struct point {
    std::uint32_t value;
    std::uint32_t server;
  };
  std::vector<point> points_;
  key_hash hash_;
  bool single_ = false;  // one server: every key is its own, no hash to compute
};

// MD5 (RFC 1321) of `data`.
void md5(std::string_view data, unsigned char out[16]);
// twemproxy's hash_fnv1a_64 (note: bytes are sign-extended, as there).
std::uint32_t fnv1a_64(std::string_view data);

}  // namespace puppy::memcached
