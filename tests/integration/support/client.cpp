#include "client.hpp"
#include "process.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace puppy::test {

std::string encode(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

raw_client::raw_client(std::uint16_t port, const client_options& options) : scanner_(100000) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (options.receive_buffer > 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer, sizeof options.receive_buffer);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    close(fd_);
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + why);
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (options.tls) start_tls(options, port);  // closes fd_ and throws if it fails
}

void raw_client::send(std::string_view bytes) {
  if (ssl_ != nullptr) {
    send_tls(bytes);
    return;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool raw_client::fill(std::chrono::steady_clock::time_point deadline) {
  if (ssl_ != nullptr) return fill_tls(deadline);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for a reply");
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      if (errno == ECONNRESET) return false;
      throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
    }
    if (n == 0) return false;
    buf_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

std::string raw_client::read_reply(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (scanned_ < buf_.size()) {
      const auto r = scanner_.scan(buf_.data() + scanned_, buf_.size() - scanned_);
      scanned_ += r.consumed;
      if (r.status == resp::scan_status::error) {
        throw std::runtime_error(std::string("invalid RESP from server: ") +
                                 scanner_.error_message());
      }
      if (r.status == resp::scan_status::reply) {
        std::string reply = buf_.substr(0, scanned_);
        buf_.erase(0, scanned_);
        scanned_ = 0;
        return reply;
      }
    }
    if (!fill(deadline)) {
      throw std::runtime_error("connection closed before a whole reply; got: " + buf_);
    }
  }
}

std::string raw_client::read_replies(std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += read_reply(std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()));
  }
  return out;
}

std::string raw_client::call(const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout) {
  send(encode(args));
  return read_reply(timeout);
}

std::string raw_client::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto end = buf_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buf_.substr(0, end + 2);
      buf_.erase(0, end + 2);
      return line;
    }
    if (!fill(deadline)) throw std::runtime_error("connection closed before a whole line");
  }
}

std::string raw_client::read_until_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fill(deadline)) {
  }
  std::string out = std::move(buf_);
  buf_.clear();
  scanned_ = 0;
  scanner_.reset();
  return out;
}

bool raw_client::has_data(std::chrono::milliseconds timeout) {
  if (!buf_.empty() || tls_pending()) return true;
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

void raw_client::shutdown_write() {
  if (ssl_ != nullptr) send_close_notify();
  ::shutdown(fd_, SHUT_WR);
}

bool answers_ping(std::uint16_t port, const client_options& options) {
  try {
    raw_client c(port, options);
    const std::string reply = c.call({"PING"}, 2s);
    return reply == "+PONG\r\n" || reply.rfind("-NOAUTH", 0) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

polled_connection::polled_connection(std::uint16_t port, std::string password,
                                     client_options options)
    : port_(port), password_(std::move(password)), options_(std::move(options)) {}

std::string polled_connection::call(const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout) {
  try {
    if (!c_) {
      c_ = std::make_unique<raw_client>(port_, options_);
      if (!password_.empty() && c_->call({"AUTH", password_}, timeout) != "+OK\r\n") {
        c_.reset();
        return "";
      }
    }
    return c_->call(args, timeout);
  } catch (const std::exception&) {
    c_.reset();  // a late reply must not be read as the next one's
    return "";
  }
}

bool redis_has_blocked(std::uint16_t redis_port, int blocked) {
  raw_client direct(redis_port);
  const std::string want = "blocked_clients:" + std::to_string(blocked) + "\r\n";
  return wait_until(
      [&] {
        return direct.call({"INFO", "clients"}).find(want) != std::string::npos;
      },
      10s);
}

std::vector<std::string> bulk_strings(const std::string& reply) {
  std::vector<std::string> out;
  std::size_t pos = reply.find("\r\n") + 2;
  while (pos < reply.size()) {
    const auto eol = reply.find("\r\n", pos);
    const auto len = std::stoul(reply.substr(pos + 1, eol - pos - 1));
    out.push_back(reply.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  return out;
}

double proxy_metric(std::uint16_t proxy_port, const std::string& sample) {
  raw_client c(proxy_port);
  std::istringstream in(c.call({"PUPPY", "STATS"}));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return -1;
}

}  // namespace puppy::test
