// with_servers [--memcached] COMMAND [ARGS...]: starts a redis-server and a puppy-proxy in front of
// it on free loopback ports, runs COMMAND with PUPPY_PROXY_PORT and PUPPY_REDIS_PORT set, stops
// both, and exits with COMMAND's exit code. With --memcached the proxy's upstream is a memcached
// instead (PUPPY_MEMCACHED_PORT set, PUPPY_REDIS_PORT not). Used by the client-library tests.
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "servers.hpp"

int main(int argc, char** argv) {
  const bool memcached = argc > 1 && std::string(argv[1]) == "--memcached";
  const int first = memcached ? 2 : 1;
  if (argc <= first) {
    std::fprintf(stderr, "usage: with_servers [--memcached] COMMAND [ARGS...]\n");
    return 2;
  }
  try {
    std::optional<puppy::test::redis_server> redis;
    std::optional<puppy::test::memcached_server> mc;
    std::string upstream;
    if (memcached) {
      mc.emplace();
      upstream = "memcached://" + mc->address();
      setenv("PUPPY_MEMCACHED_PORT", std::to_string(mc->port()).c_str(), 1);
    } else {
      redis.emplace();
      upstream = redis->url();
      setenv("PUPPY_REDIS_PORT", std::to_string(redis->port()).c_str(), 1);
    }
    puppy::test::proxy_server proxy(upstream);
    setenv("PUPPY_PROXY_PORT", std::to_string(proxy.port()).c_str(), 1);
    const pid_t pid = fork();
    if (pid == 0) {
      execvp(argv[first], argv + first);
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
