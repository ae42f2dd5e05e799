#pragma once
// A private redis-server that the proxy starts when no upstream is configured and nothing answers
// at the default address, so that a newcomer can try the proxy at once. It lives in a temporary
// directory, keeps nothing on disk, listens on 127.0.0.1 at a free port, and is stopped (and its
// directory removed) when this object is destroyed or the proxy dies.
#include <sys/types.h>
#include <cstdint>
#include <memory>
#include <string>

namespace puppy::runtime {

class embedded_redis {
 public:
  // Starts `binary` and waits until it accepts connections. Throws std::runtime_error on failure.
  static std::unique_ptr<embedded_redis> start(const std::string& binary);
  ~embedded_redis();
  embedded_redis(const embedded_redis&) = delete;
  embedded_redis& operator=(const embedded_redis&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  embedded_redis(pid_t pid, std::uint16_t port, std::string dir)
      : pid_(pid), port_(port), dir_(std::move(dir)) {}

  pid_t pid_;
  std::uint16_t port_;
  std::string dir_;
};

// Whether something accepts TCP connections at host:port within `timeout_ms` (host: an IPv4 text).
bool tcp_answers(const std::string& host, std::uint16_t port, int timeout_ms);

// A port on 127.0.0.1 that was free a moment ago.
std::uint16_t pick_free_port();

}  // namespace puppy::runtime
