// with_servers COMMAND [ARGS...]: starts a redis-server and a puppy-proxy in front of it on free
// loopback ports, runs COMMAND with PUPPY_PROXY_PORT and PUPPY_REDIS_PORT set, stops both, and
// exits with COMMAND's exit code. Used by the client-library tests (Python, Node).
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "servers.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: with_servers COMMAND [ARGS...]\n");
    return 2;
  }
  try {
    puppy::test::redis_server redis;
    puppy::test::proxy_server proxy(redis.url());
    setenv("PUPPY_PROXY_PORT", std::to_string(proxy.port()).c_str(), 1);
    setenv("PUPPY_REDIS_PORT", std::to_string(redis.port()).c_str(), 1);
    const pid_t pid = fork();
    if (pid == 0) {
      execvp(argv[1], argv + 1);
      std::perror("exec");
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const int proxy_status = proxy.stop();
    if (proxy_status != 0) {
      std::fprintf(stderr, "puppy-proxy exited with %d; its log:\n%s\n", proxy_status,
                   proxy.log().c_str());
      return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "with_servers: %s\n", e.what());
    return 1;
  }
}
