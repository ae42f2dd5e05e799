#pragma once
// Upstream URLs: redis://host:port, rediss://host:port (TLS),
// redis-cluster://host:port[,host:port...] and rediss-cluster:// (a Redis Cluster's seed nodes),
// redis-sentinel://host:port[,host:port...]/MASTER_NAME and rediss-sentinel:// (the sentinels
// that know the primary called MASTER_NAME; rediss: TLS to the data nodes, not the sentinels),
// memcached://host:port[,host:port...].
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace puppy::upstream {

enum class scheme { redis, rediss, memcached };

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

struct address {
  scheme kind = scheme::redis;
  // Redis Cluster (redis-cluster://, rediss-cluster://): servers are seed nodes.
  bool cluster = false;
  // A primary found through Redis Sentinel (redis-sentinel://, rediss-sentinel://): servers are
  // the sentinels (default port 26379), master_name the name they know the primary by.
  bool sentinel = false;
  std::string master_name;
  std::vector<host_port> servers;  // exactly one for redis:// and rediss://
  // Credentials the proxy sends on each upstream connection (AUTH [user] password), from
  // redis://[user[:password]@]host:port (percent-encoded). Empty: none.
  std::string user;
  std::string password;
  std::string text() const;  // canonical form for logs: the password is never in it
};

// Parses "host:port" (IPv6 as "[::1]:port"); `default_port` fills in a missing port.
std::optional<host_port> parse_host_port(const std::string& text, std::uint16_t default_port,
                                         std::string* error);

// Parses an upstream URL. On failure returns nullopt and sets *error to a sentence for the user.
std::optional<address> parse_address(const std::string& url, std::string* error);

}  // namespace puppy::upstream
