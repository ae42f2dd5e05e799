#pragma once
// Helpers for the review tests (review_test.cpp, pinning_test.cpp).
//
// Some scenarios need an upstream whose timing the test controls: `fake_upstream` is a listening
// socket the test reads from and answers on by hand. Two kernel facilities make otherwise racy
// moments deterministic:
//  * a listener created with backlog 0 holds one unaccepted connection; while it is there, the
//    SYN of any further connection is dropped (counted in TcpExt ListenOverflows) and retried by
//    the kernel about a second later, so the proxy's connection attempt stays in flight until the
//    test accepts the connection that fills the queue;
//  * a peer that does not read makes the proxy's writes to it block once the socket buffers are
//    full (a few MB on loopback).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "client.hpp"
#include "servers.hpp"

namespace puppy::test {

// ---- a hand-driven upstream ---------------------------------------------------------------------

class fake_upstream {
 public:
  // backlog 0: one connection may wait unaccepted; further SYNs are dropped until it is accepted.
  // rcvbuf > 0: SO_RCVBUF of accepted connections (set on the listener, inherited).
  explicit fake_upstream(int backlog, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, backlog) != 0) {
      throw std::runtime_error(std::string("fake upstream: ") + std::strerror(errno));
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~fake_upstream() {
    for (int fd : fds_) ::close(fd);
    ::close(fd_);
  }
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // The next connection in the accept queue, or -1 if none comes within `timeout`.
  int accept_one(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  // A connection of the test's own to the listener, left in its accept queue.
  void connect_filler() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      throw std::runtime_error("filler connect failed");
    }
    fds_.push_back(fd);
  }
  void close_fd(int fd) {
    ::close(fd);
    fds_.erase(std::find(fds_.begin(), fds_.end(), fd));
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fds_;
};

// Up to n bytes from fd: stops early at EOF or when `timeout` passes.
inline std::string read_n(int fd, std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  std::vector<char> chunk(1 << 16);
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    const ssize_t got = ::recv(fd, chunk.data(), std::min(chunk.size(), n - out.size()), 0);
    if (got <= 0) break;
    out.append(chunk.data(), static_cast<std::size_t>(got));
  }
  return out;
}

inline void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("fake upstream send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Bytes waiting in fd's receive queue.
inline std::size_t queued_bytes(int fd) {
  int n = 0;
  ::ioctl(fd, FIONREAD, &n);
  return static_cast<std::size_t>(n);
}

// TcpExt ListenOverflows: SYNs dropped because an accept queue was full.
inline long listen_overflows() {
  std::ifstream in("/proc/net/netstat");
  std::string names;
  std::string values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names);
    std::istringstream v(values);
    std::string name;
    std::string value;
    while (n >> name && v >> value) {
      if (name == "ListenOverflows") return std::stol(value);
    }
  }
  return -1;
}

// Where a and b first differ (npos if equal); for readable failure messages on big strings.
inline std::size_t first_difference(const std::string& a, const std::string& b) {
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return i;
  }
  return a.size() == b.size() ? std::string::npos : n;
}

// A value whose every 8-byte block is different, so that a duplicated or shifted range shows.
inline std::string pattern(std::size_t size) {
  std::string out;
  out.reserve(size + 16);
  for (std::uint64_t i = 0; out.size() < size; ++i) {
    char block[17];
    std::snprintf(block, sizeof block, "%08llx", static_cast<unsigned long long>(i & 0xffffffff));
    out.append(block, 8);
  }
  out.resize(size);
  return out;
}

// Everything until the peer closes, or nullopt if it does not close within `timeout`.
inline std::optional<std::string> until_closed(raw_client& c, std::chrono::milliseconds timeout) {
  try {
    return c.read_until_closed(timeout);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Makes the proxy's shared connection to `up` and returns the upstream side of it.
inline int open_shared_connection(fake_upstream& up, raw_client& w) {
  const std::string ping = encode({"PING"});
  w.send(ping);
  const int fd = up.accept_one(10s);
  REQUIRE(fd >= 0);
  REQUIRE(read_n(fd, ping.size(), 10s) == ping);
  write_all(fd, "+PONG\r\n");
  REQUIRE(w.read_reply() == "+PONG\r\n");
  return fd;
}

// Redis's CLIENT LIST line of the one connection matching all of `needles`.
inline std::string client_id_matching(raw_client& direct, const std::vector<std::string>& needles) {
  const std::string list = direct.call({"CLIENT", "LIST"});
  std::istringstream lines(list);
  std::string found;
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
    if (!all) continue;
    REQUIRE(found.empty());
    found = line.substr(3, line.find(' ') - 3);
  }
  return found;
}

// The tests with a fake upstream choose their own upstream mode, and read a machine-wide counter
// (ListenOverflows): they run once, in the `integration` run, not again in `integration_pinned`.
inline bool second_run() {
  return std::getenv("PUPPY_TEST_PROXY_ARGS") != nullptr;
}

}  // namespace puppy::test
