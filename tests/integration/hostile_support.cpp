#include "hostile_support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "client.hpp"

namespace puppy::test {
namespace {

using clock_type = std::chrono::steady_clock;

// One driven connection.
struct conn {
  const hostile_script* script = nullptr;
  int fd = -1;
  std::size_t off = 0;                 // bytes of the script sent
  clock_type::time_point next_send{};  // not before (pacing)
  bool sending = true;                 // more to send, and the peer still takes it
  hostile_outcome out;
};

// Reads what is there; marks the connection closed on EOF or a reset.
void drain(conn& c) {
  char buf[65536];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.out.received.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    c.out.closed = true;  // 0: FIN; any other error (ECONNRESET): reset
    c.sending = false;
    return;
  }
}

// Sends the next chunk (or as much as the socket takes) if its time has come.
void send_some(conn& c, clock_type::time_point now) {
  const hostile_script& s = *c.script;
  while (c.sending && now >= c.next_send) {
    const std::size_t left = s.bytes.size() - c.off;
    const std::size_t want = s.chunk == 0 ? left : std::min(left, s.chunk);
    const ssize_t n = ::send(c.fd, s.bytes.data() + c.off, want, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) c.sending = false;  // EPIPE, ECONNRESET
      return;
    }
    c.off += static_cast<std::size_t>(n);
    c.out.sent = c.off;
    if (c.off == s.bytes.size()) {
      c.sending = false;
      if (s.half_close) shutdown(c.fd, SHUT_WR);
      return;
    }
    if (s.chunk != 0 && static_cast<std::size_t>(n) == want) c.next_send = now + s.pace;
  }
}

}  // namespace

std::vector<hostile_outcome> run_hostile(std::uint16_t port,
                                         const std::vector<const hostile_script*>& scripts,
                                         std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<raw_client>> sockets;  // own the descriptors
  std::vector<conn> conns(scripts.size());
  for (std::size_t i = 0; i < scripts.size(); ++i) {
    sockets.push_back(std::make_unique<raw_client>(port));
    conns[i].script = scripts[i];
    conns[i].fd = sockets.back()->fd();
    fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK);
    conns[i].sending = !scripts[i]->bytes.empty();
    if (!conns[i].sending && scripts[i]->half_close) shutdown(conns[i].fd, SHUT_WR);
  }

  const auto deadline = clock_type::now() + timeout;
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  for (;;) {
    const auto now = clock_type::now();
    if (now >= deadline) break;
    fds.clear();
    index.clear();
    auto wake = deadline;
    for (std::size_t i = 0; i < conns.size(); ++i) {
      conn& c = conns[i];
      if (c.out.closed) continue;
      short events = POLLIN;
      if (c.sending) {
        if (c.next_send <= now) {
          events |= POLLOUT;
        } else {
          wake = std::min(wake, c.next_send);
        }
      }
      fds.push_back(pollfd{c.fd, events, 0});
      index.push_back(i);
    }
    if (fds.empty()) break;
    const auto wait_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count() + 1;
    const int r = poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
    if (r < 0 && errno != EINTR) break;
    const auto after = clock_type::now();
    for (std::size_t k = 0; k < fds.size(); ++k) {
      conn& c = conns[index[k]];
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) drain(c);
      if (!c.out.closed) send_some(c, after);
    }
  }

  std::vector<hostile_outcome> out;
  out.reserve(conns.size());
  for (auto& c : conns) out.push_back(std::move(c.out));
  return out;
}

namespace {

std::size_t status_field_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1));
  }
  return 0;
}

}  // namespace

std::size_t vm_rss_kib(pid_t pid) {
  return status_field_kib(pid, "VmRSS");
}

std::size_t vm_hwm_kib(pid_t pid) {
  return status_field_kib(pid, "VmHWM");
}

std::string printable(const std::string& bytes, std::size_t max) {
  std::string out;
  for (const unsigned char ch : bytes) {
    if (out.size() >= max) {
      out += "...(" + std::to_string(bytes.size()) + " bytes)";
      break;
    }
    if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
      out += static_cast<char>(ch);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", ch);
      out += hex;
    }
  }
  return out;
}

}  // namespace puppy::test
