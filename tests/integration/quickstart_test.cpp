// The README's quick start, run as written: its first command starts the proxy (installing and
// building first, both no-ops here), the follow-up redis-cli command gets its answer through it,
// and its second command is the one CI runs. The environment points the proxy at this test's
// Redis and a free port (options come from PUPPY_* variables), so nothing depends on 6379/6380.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <sstream>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// The commands of the first ```sh block under "## Quick start", comments dropped.
std::vector<std::string> quick_start_commands(const std::string& readme) {
  const auto section = readme.find("\n## Quick start");
  REQUIRE(section != std::string::npos);
  const auto open = readme.find("```sh\n", section);
  const auto close = readme.find("```", open + 6);
  REQUIRE((open != std::string::npos && close != std::string::npos));
  std::istringstream block(readme.substr(open + 6, close - open - 6));
  std::vector<std::string> out;
  for (std::string line; std::getline(block, line);) {
    line = line.substr(0, line.find('#'));
    line.erase(line.find_last_not_of(' ') + 1);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace

TEST_CASE("quick start: the README's commands run as written") {
  const std::string source = PUPPY_SOURCE_DIR;
  const std::string readme = read_file(source + "/README.md");
  const auto commands = quick_start_commands(readme);
  REQUIRE(commands.size() == 2);
  CHECK(commands[0] == "./scripts/run");
  CHECK(commands[1] == "./scripts/test");
  // CI runs exactly the second command.
  CHECK(read_file(source + "/.ci/run").find("\n" + commands[1] + "\n") != std::string::npos);

  redis_server redis;
  const std::string dir = make_temp_dir("puppy-test-quickstart");
  const std::string ready = dir + "/ready";
  const std::string binary = proxy_server::built_binary();  // scripts/run builds its build dir
  const std::string env = "PUPPY_UPSTREAM=" + redis.url() +
                          " PUPPY_LISTEN=127.0.0.1:0 PUPPY_READY_FILE=" + ready +
                          " PUPPY_BUILD_DIR=" + binary.substr(0, binary.rfind('/'));
  process run({"/bin/sh", "-c", "cd " + source + " && exec env " + env + " " + commands[0]},
              dir + "/run.log");
  REQUIRE(wait_until([&] { return !run.running() || access(ready.c_str(), R_OK) == 0; }, 300s));
  INFO(read_file(dir + "/run.log"));
  REQUIRE(run.running());
  const std::string address = read_file(ready);
  const std::string port =
      address.substr(address.rfind(':') + 1, address.find('\n') - address.rfind(':') - 1);

  // "Then, in another terminal: `redis-cli -p 6380 set hello world`."
  const auto then = readme.find("`redis-cli -p 6380 ");
  REQUIRE(then != std::string::npos);
  std::string follow_up = readme.substr(then + 1, readme.find('`', then + 1) - then - 1);
  follow_up.replace(follow_up.find("6380"), 4, port);
  process cli({"/bin/sh", "-c", follow_up}, dir + "/cli.log");
  CHECK(cli.wait(30s) == 0);
  CHECK(read_file(dir + "/cli.log") == "OK\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"GET", "hello"}) == "$5\r\nworld\r\n");

  CHECK(run.stop(SIGTERM, 20s) == 0);
  remove_temp_dir(dir);
}
