#include "fault_relay.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace puppy::test {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t max_queued = 1 << 20;  // per direction; reading pauses beyond this
constexpr auto closing_grace = std::chrono::milliseconds(500);
constexpr std::size_t marker_window = 64 * 1024;  // hold(): the client bytes a marker is sought in

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

void close_with_reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// What the control functions ask for; copied by the relay thread at each loop turn.
struct settings {
  std::chrono::milliseconds delay_min{0};
  std::chrono::milliseconds delay_max{0};
  bool refusing = false;
  fault_relay::refuse_style style = fault_relay::refuse_style::refused;
  double close_p = 0;
  bool blackholed = false;
  std::string hold_marker;           // hold(): which connections
  bool hold_to[2] = {false, false};  // hold(): bytes to the client (0), to the target (1)
  std::uint64_t cut_generation = 0;
  std::uint16_t retarget = 0;  // retarget(): where new connections go (0: the first target)
  bool stopping = false;
};

struct chunk {
  clock_type::time_point release;
  std::string data;
  std::size_t off = 0;
};

// Bytes waiting to be written to one side, in order.
struct out_queue {
  std::deque<chunk> chunks;
  std::size_t bytes = 0;
  clock_type::time_point last_release{};

  bool ready(clock_type::time_point now) const {
    return !chunks.empty() && chunks.front().release <= now;
  }
};

// One relayed connection: side 0 is the client, side 1 the target.
struct conn_pair {
  int fd[2] = {-1, -1};
  out_queue out[2];      // out[i]: to be written to fd[i]
  bool eof[2] = {};      // fd[i] has sent FIN
  bool shut[2] = {};     // we have shut down writing on fd[i]
  bool closing = false;  // a random close: flush what is queued, then close
  bool closing_reset = false;
  clock_type::time_point closing_deadline{};
  bool dead = false;
  std::string seen;  // the first marker_window bytes the client sent
};

}  // namespace

struct fault_relay::impl {
  std::uint16_t target_port;
  std::mt19937_64 rng;
  int reserve_fd = -1;
  int listen_fd = -1;
  int wake_fd = -1;
  std::uint16_t port = 0;
  bool listening = true;

  mutable std::mutex mu;
  settings wanted;       // guarded by mu
  counters totals;       // guarded by mu
  std::string held_now;  // guarded by mu: what hold() holds back, as of the last loop turn
  std::thread thread;

  // Relay thread only.
  settings now_set;
  std::uint64_t cuts_done = 0;
  std::list<conn_pair> pairs;
  counters local;  // counted here, published to totals each turn

  impl(std::uint16_t target, std::uint64_t seed) : target_port(target), rng(seed) {
    // A bound socket that never listens holds the port while the listener is closed (refuse()),
    // so nothing else can take it; SO_REUSEPORT lets the listener share it.
    reserve_fd = bound_socket(0);
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (reserve_fd < 0 || getsockname(reserve_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error(std::string("fault_relay: cannot bind: ") + std::strerror(errno));
    }
    port = ntohs(addr.sin_port);
    open_listener();
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread = std::thread([this] { run(); });
  }

  // A socket bound to 127.0.0.1:port with SO_REUSEADDR and SO_REUSEPORT; -1 on failure.
  static int bound_socket(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    const sockaddr_in addr = loopback(port);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  }

  void open_listener() {
    listen_fd = bound_socket(port);
    if (listen_fd < 0 || listen(listen_fd, 512) != 0) {
      throw std::runtime_error(std::string("fault_relay: cannot listen: ") + std::strerror(errno));
    }
    set_nonblocking(listen_fd);
  }

  ~impl() {
    change([](settings& s) { s.stopping = true; });
    thread.join();
    for (auto& p : pairs) close_pair(p, true);
    if (listen_fd >= 0) close(listen_fd);
    close(reserve_fd);
    close(wake_fd);
  }

  template <typename F>
  void change(F f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      f(wanted);
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = write(wake_fd, &one, sizeof one);
  }

  void run() {
    for (;;) {
      {
        std::string held_text = held_bytes();
        std::lock_guard<std::mutex> lock(mu);
        now_set = wanted;
        local.open = pairs.size();
        totals = local;
        held_now = std::move(held_text);
      }
      if (now_set.stopping) return;
      apply_listening();
      if (now_set.cut_generation != cuts_done) {
        cuts_done = now_set.cut_generation;
        for (auto& p : pairs) {
          if (!p.dead) {
            close_pair(p, true);
            ++local.cut;
          }
        }
      }
      pairs.remove_if([](const conn_pair& p) { return p.dead; });
      poll_once();
      pairs.remove_if([](const conn_pair& p) { return p.dead; });
    }
  }

  // Whether the bytes to side i of p are held back by hold().
  bool held_to(const conn_pair& p, int i) const {
    return now_set.hold_to[i] && !now_set.hold_marker.empty() &&
           p.seen.find(now_set.hold_marker) != std::string::npos;
  }

  std::string held_bytes() const {
    std::string out;
    for (const auto& p : pairs) {
      if (p.dead) continue;
      for (int i = 0; i < 2; ++i) {
        if (!held_to(p, i)) continue;
        for (const auto& c : p.out[i].chunks) out.append(c.data, c.off, std::string::npos);
      }
    }
    return out;
  }

  // Stops or resumes listening as refuse() asks; the port stays reserved throughout.
  void apply_listening() {
    const bool want = !(now_set.refusing && now_set.style == refuse_style::refused);
    if (want == listening) return;
    if (want) {
      open_listener();
    } else {
      close(listen_fd);  // connect() now gets ECONNREFUSED; the backlog is reset
      listen_fd = -1;
    }
    listening = want;
  }

  void poll_once() {
    const auto now = clock_type::now();
    std::vector<pollfd> fds;
    std::vector<std::pair<conn_pair*, int>> owners;
    fds.push_back({wake_fd, POLLIN, 0});
    owners.emplace_back(nullptr, 0);
    if (listening) {
      fds.push_back({listen_fd, POLLIN, 0});
      owners.emplace_back(nullptr, 1);
    }
    auto next_release = clock_type::time_point::max();
    if (!now_set.blackholed) {
      for (auto& p : pairs) {
        if (p.closing && now >= p.closing_deadline) {
          close_pair(p, p.closing_reset);
          continue;
        }
        for (int i = 0; i < 2; ++i) {
          short events = 0;
          if (!p.eof[i] && !p.closing && p.out[1 - i].bytes < max_queued) events |= POLLIN;
          const bool holding = held_to(p, i);
          if (!holding && p.out[i].ready(now)) events |= POLLOUT;
          if (!holding && !p.out[i].chunks.empty() && !p.out[i].ready(now)) {
            next_release = std::min(next_release, p.out[i].chunks.front().release);
          }
          if (events == 0) continue;
          fds.push_back({p.fd[i], events, 0});
          owners.emplace_back(&p, i);
        }
        if (p.closing) next_release = std::min(next_release, p.closing_deadline);
      }
    }
    int timeout = 100;
    if (next_release != clock_type::time_point::max()) {
      const auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_release - now).count() + 1;
      timeout = static_cast<int>(std::clamp<long long>(ms, 0, 100));
    }
    if (poll(fds.data(), fds.size(), timeout) < 0) return;  // EINTR: next turn
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      auto [p, side] = owners[k];
      if (p == nullptr) {
        if (side == 0) {
          std::uint64_t ignored;
          [[maybe_unused]] const auto n = read(wake_fd, &ignored, sizeof ignored);
        } else {
          accept_all();
        }
        continue;
      }
      if (p->dead) continue;
      if ((fds[k].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && (fds[k].events & POLLIN) != 0) {
        read_side(*p, side);
      }
    }
    if (now_set.blackholed) return;
    const auto after = clock_type::now();
    for (auto& p : pairs) {
      if (!p.dead) write_ready(p, after);
    }
  }

  void accept_all() {
    for (;;) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      ++local.accepted;
      if (now_set.refusing) {  // reset style (refused style does not listen at all)
        close_with_reset(fd);
        ++local.refused_reset;
        continue;
      }
      const int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const sockaddr_in addr = loopback(now_set.retarget != 0 ? now_set.retarget : target_port);
      if (connect(up, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        close(up);
        close_with_reset(fd);
        ++local.target_failed;
        continue;
      }
      int one = 1;
      for (const int s : {fd, up}) {
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_nonblocking(s);
      }
      conn_pair p;
      p.fd[0] = fd;
      p.fd[1] = up;
      pairs.push_back(std::move(p));
    }
  }

  std::chrono::milliseconds draw_delay() {
    if (now_set.delay_max.count() <= 0) return std::chrono::milliseconds(0);
    std::uniform_int_distribution<long long> d(now_set.delay_min.count(),
                                               now_set.delay_max.count());
    return std::chrono::milliseconds(d(rng));
  }

  void read_side(conn_pair& p, int i) {
    char buf[65536];
    const ssize_t n = recv(p.fd[i], buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      close_pair(p, true);  // reset or error: pass it on as a reset
      ++local.peer_closed;
      return;
    }
    if (n == 0) {
      p.eof[i] = true;
      return;  // write_ready() passes the FIN on once the queue is written
    }
    ++local.chunks;
    local.bytes += static_cast<std::uint64_t>(n);
    if (i == 0 && p.seen.size() < marker_window) {
      p.seen.append(buf, std::min(static_cast<std::size_t>(n), marker_window - p.seen.size()));
    }
    std::size_t take = static_cast<std::size_t>(n);
    if (now_set.close_p > 0 &&
        std::uniform_real_distribution<double>(0, 1)(rng) < now_set.close_p) {
      take = std::uniform_int_distribution<std::size_t>(0, take)(rng);
      p.closing = true;
      p.closing_reset = std::uniform_int_distribution<int>(0, 1)(rng) == 0;
      p.closing_deadline = clock_type::now() + closing_grace;
      ++local.random_closes;
    }
    if (take == 0) return;
    out_queue& q = p.out[1 - i];
    const auto release = std::max(clock_type::now() + draw_delay(), q.last_release);
    q.last_release = release;
    q.chunks.push_back({release, std::string(buf, take), 0});
    q.bytes += take;
  }

  void write_ready(conn_pair& p, clock_type::time_point now) {
    for (int i = 0; i < 2 && !p.dead; ++i) {
      if (held_to(p, i)) continue;
      out_queue& q = p.out[i];
      while (q.ready(now)) {
        chunk& c = q.chunks.front();
        const ssize_t n = send(p.fd[i], c.data.data() + c.off, c.data.size() - c.off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          close_pair(p, true);
          ++local.peer_closed;
          return;
        }
        c.off += static_cast<std::size_t>(n);
        q.bytes -= static_cast<std::size_t>(n);
        if (c.off < c.data.size()) break;
        q.chunks.pop_front();
      }
      // A FIN from the other side is passed on once everything before it is written.
      if (p.eof[1 - i] && q.chunks.empty() && !p.shut[i]) {
        shutdown(p.fd[i], SHUT_WR);
        p.shut[i] = true;
      }
    }
    if (p.dead) return;
    const bool drained = p.out[0].chunks.empty() && p.out[1].chunks.empty();
    if (p.closing && drained) {
      close_pair(p, p.closing_reset);
    } else if (p.eof[0] && p.eof[1] && drained) {
      close_pair(p, false);
      ++local.peer_closed;
    }
  }

  static void close_pair(conn_pair& p, bool reset) {
    if (p.dead) return;
    for (int& fd : p.fd) {
      if (reset) {
        close_with_reset(fd);
      } else {
        close(fd);
      }
      fd = -1;
    }
    p.dead = true;
  }
};

fault_relay::fault_relay(std::uint16_t target_port, std::uint64_t seed)
    : impl_(std::make_unique<impl>(target_port, seed)) {}

fault_relay::~fault_relay() = default;

std::uint16_t fault_relay::port() const {
  return impl_->port;
}

void fault_relay::retarget(std::uint16_t target_port) {
  impl_->change([&](settings& s) { s.retarget = target_port; });
}

void fault_relay::pass_through() {
  impl_->change([](settings& s) {
    s.delay_min = s.delay_max = std::chrono::milliseconds(0);
    s.refusing = false;
    s.close_p = 0;
    s.blackholed = false;
    s.hold_marker.clear();
  });
}

void fault_relay::delay(std::chrono::milliseconds min, std::chrono::milliseconds max) {
  impl_->change([&](settings& s) {
    s.delay_min = min;
    s.delay_max = std::max(min, max);
  });
}

void fault_relay::refuse(bool on, refuse_style style) {
  impl_->change([&](settings& s) {
    s.refusing = on;
    s.style = style;
  });
}

void fault_relay::close_randomly(double p) {
  impl_->change([&](settings& s) { s.close_p = p; });
}

void fault_relay::cut_all() {
  impl_->change([](settings& s) { ++s.cut_generation; });
}

void fault_relay::blackhole(bool on) {
  impl_->change([&](settings& s) { s.blackholed = on; });
}

void fault_relay::hold(const std::string& marker, bool to_client, bool to_target) {
  impl_->change([&](settings& s) {
    s.hold_marker = marker;
    s.hold_to[0] = to_client;
    s.hold_to[1] = to_target;
  });
}

std::string fault_relay::held() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->held_now;
}

fault_relay::counters fault_relay::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->totals;
}

}  // namespace puppy::test
