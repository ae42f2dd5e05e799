#include "puppy/runtime/embedded_redis.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

namespace puppy::runtime {
namespace {

constexpr int start_timeout_ms = 10000;
constexpr int start_attempts = 3;  // a picked port can be taken by someone else meanwhile

pid_t spawn(const std::string& binary, std::uint16_t port, const std::string& dir) {
  const std::string port_text = std::to_string(port);
  const std::string log = dir + "/redis.log";
  std::vector<std::string> args = {
      binary, "--port", port_text, "--bind",      "127.0.0.1", "--save",    "",  "--appendonly",
      "no",   "--dir",  dir,       "--daemonize", "no",        "--logfile", log, "--protected-mode",
      "yes"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the proxy
    if (getppid() != parent) _exit(1);
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      dup2(null_fd, 0);
      dup2(null_fd, 1);
    }
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

std::uint16_t pick_free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error("could not find a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool tcp_answers(const std::string& host, std::uint16_t port, int timeout_ms) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return false;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, timeout_ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  close(fd);
  return ok;
}

std::unique_ptr<embedded_redis> embedded_redis::start(const std::string& binary) {
  char tmpl[] = "/tmp/puppy-proxy-redis-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("cannot create a temporary directory");
  const std::string dir = tmpl;
  std::string last_error;
  for (int attempt = 0; attempt < start_attempts; ++attempt) {
    const std::uint16_t port = pick_free_port();
    const pid_t pid = spawn(binary, port, dir);
    std::unique_ptr<embedded_redis> child(new embedded_redis(pid, port, dir));
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(start_timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        child->pid_ = -1;
        last_error = WIFEXITED(status) && WEXITSTATUS(status) == 127
                         ? "cannot run '" + binary + "' (is redis-server installed?)"
                         : "redis-server exited at start (see " + dir + "/redis.log)";
        break;
      }
      if (tcp_answers("127.0.0.1", port, 100)) return child;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a child's start-up
    }
    if (child->pid_ > 0) last_error = "redis-server did not start listening in time";
    child->dir_.clear();  // keep the directory for the next attempt
  }
  std::filesystem::remove_all(dir);
  throw std::runtime_error(last_error);
}

embedded_redis::~embedded_redis() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

}  // namespace puppy::runtime
