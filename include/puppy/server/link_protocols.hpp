#pragma once
// The protocols a pipelined_link speaks: what one response is, where it ends, and what a request
// gets while its server is down.
#include <string>
#include <string_view>

#include "puppy/memcached/response.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/pipelined_link.hpp"

namespace puppy::server {

// A memcached server's meta and text responses (memcached/response.hpp).
struct memcached_protocol {
  using response = memcached::response;
  static constexpr const char* what = "memcached";
  static constexpr bool redis_login = false;  // memcached upstreams are plain, without login
  static constexpr std::size_t max_value = 1024 * 1024 * 1024;  // memcached's largest item (-I)
  void reset() {}
  link_parse parse(const char* data, std::size_t size, response* out);
  // code::unavailable, the reason in flags (a view into `why`).
  static response unavailable(std::string_view why, std::string* storage, bool sent);
};

// A Redis server's replies, each handed on as its bytes (RESP2: these connections get no pushes).
struct resp_protocol {
  using response = std::string_view;
  static constexpr const char* what = "redis";
  static constexpr bool redis_login = true;
  void reset();
  link_parse parse(const char* data, std::size_t size, response* out);
  // "-ERR upstream unavailable (<why>)" for a request never sent (safe to send again),
  // "-ERR upstream connection lost (<why>)" for one that was (it may have run), in *storage.
  static constexpr std::string_view unavailable_prefix = "-ERR upstream unavailable (";
  static constexpr std::string_view lost_prefix = "-ERR upstream connection lost (";
  static response unavailable(std::string_view why, std::string* storage, bool sent);
  // Whether `r` is one of those: the proxy's answer for a connection that failed.
  static bool connection_failed(std::string_view r) {
    return r.substr(0, unavailable_prefix.size()) == unavailable_prefix ||
           r.substr(0, lost_prefix.size()) == lost_prefix;
  }

 private:
  resp::reply_scanner scanner_;
  std::size_t scanned_ = 0;  // bytes of the reply in progress already scanned
};

}  // namespace puppy::server
