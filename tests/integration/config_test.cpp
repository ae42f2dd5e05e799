// Options from the command line and from TOML/INI config files reach the running proxy.
#include <catch2/catch.hpp>
#include <fstream>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

std::string write_temp(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("a TOML config file sets options; a flag after it wins") {
  redis_server redis;
  const std::string dir = make_temp_dir("puppy-test-config");
  const std::string toml = write_temp(dir, "proxy.toml",
                                      "# test config\n"
                                      "max-inline-len = \"100\"\n"
                                      "threads = 2\n"
                                      "log-level = \"debug\"\n");
  proxy_server proxy(redis.url(), {"--config", toml});
  CHECK(proxy.log().find("2 threads") != std::string::npos);
  raw_client c(proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  c.send(std::string(101, 'x'));
  CHECK(c.read_until_closed() == "-ERR Protocol error: too big inline request\r\n");

  proxy_server overridden(redis.url(), {"--config", toml, "--max-inline-len", "1000"});
  raw_client d(overridden.port());
  d.send(std::string(101, 'x') + "\r\n");
  CHECK(d.read_reply().rfind("-ERR unknown command 'xxxx", 0) == 0);
  remove_temp_dir(dir);
}

TEST_CASE("an INI config file works too") {
  redis_server redis;
  const std::string dir = make_temp_dir("puppy-test-config");
  const std::string ini = write_temp(dir, "proxy.ini", "; test config\nmax-bulk-len=10\n");
  proxy_server proxy(redis.url(), {"--config", ini});
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "k", "0123456789"}) == "+OK\r\n");
  c.send(encode({"SET", "k", "01234567890"}));
  CHECK(c.read_until_closed() == "-ERR Protocol error: invalid bulk length\r\n");
  remove_temp_dir(dir);
}

TEST_CASE("invalid options stop start-up with a message naming the option") {
  auto [code, out] = run_proxy({"--threads", "0"});
  CHECK(code != 0);
  CHECK(out.find("--threads") != std::string::npos);
  std::tie(code, out) = run_proxy({"--upstream", "http://x"});
  CHECK(code == 2);
  CHECK(out.find("must start with redis://, rediss:// or memcached://") != std::string::npos);
  std::tie(code, out) = run_proxy(
      {"--upstream", "rediss://127.0.0.1:6379", "--upstream-tls-ca-cert-file", "/nonexistent.pem"});
  CHECK(code == 2);
  CHECK(out.find("--upstream-tls-ca-cert-file /nonexistent.pem: cannot read it") !=
        std::string::npos);
  std::tie(code, out) = run_proxy({"--listen", "127.0.0.1:99999"});
  CHECK(code == 2);
  CHECK(out.find("port must be a number from 0 to 65535") != std::string::npos);
  std::tie(code, out) = run_proxy({"--config", "/nonexistent/puppy.toml"});
  CHECK(code != 0);
  CHECK(out.find("/nonexistent/puppy.toml") != std::string::npos);
}

TEST_CASE("--help and --version") {
  auto [code, out] = run_proxy({"--help"});
  CHECK(code == 0);
  CHECK(out.find("--upstream") != std::string::npos);
  CHECK(out.find("--shared-connections") != std::string::npos);
  std::tie(code, out) = run_proxy({"--version"});
  CHECK(code == 0);
  CHECK(out.rfind("puppy-proxy ", 0) == 0);
}

TEST_CASE("the shipped config file names every option and loads") {
  const auto [code, help] = run_proxy({"--help"});
  REQUIRE(code == 0);
  const std::string toml = read_file(std::string(PUPPY_SOURCE_DIR) + "/config/puppy-proxy.toml");
  std::size_t pos = 0;
  int options = 0;
  while ((pos = help.find("--", pos)) != std::string::npos) {
    const auto end = help.find_first_of(" ,=\n", pos);
    const std::string name = help.substr(pos + 2, end - pos - 2);
    pos = end;
    if (name.empty() || name == "help" || name == "version" || name == "config") continue;
    ++options;
    INFO(name);
    CHECK((toml.find("\n" + name + " = ") != std::string::npos ||
           toml.find("\n# " + name + " = ") != std::string::npos));
  }
  CHECK(options >= 20);
  redis_server redis;
  proxy_server proxy(redis.url(),
                     {"--config", std::string(PUPPY_SOURCE_DIR) + "/config/puppy-proxy.toml"});
  raw_client c(proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("every option from the environment; --print-config shows the result, secrets masked") {
  ::setenv("PUPPY_MAX_CLIENTS", "77", 1);
  ::setenv("PUPPY_PGET_CHANNEL", "from-env", 1);
  ::setenv("PUPPY_REQUIREPASS", "env-secret", 1);
  const auto [code, out] =
      run_proxy({"--print-config", "--upstream", "redis://alice:url-secret@127.0.0.1:1",
                 "--pget-channel", "from-flag"});
  ::unsetenv("PUPPY_MAX_CLIENTS");
  ::unsetenv("PUPPY_PGET_CHANNEL");
  ::unsetenv("PUPPY_REQUIREPASS");
  CHECK(code == 0);
  CHECK(out.find("\nmax-clients=77\n") != std::string::npos);
  CHECK(out.find("\npget-channel=\"from-flag\"\n") != std::string::npos);  // a flag wins
  CHECK(out.find("\nrequirepass=\"***\"\n") != std::string::npos);
  CHECK(out.find("\nupstream=\"redis://alice:***@127.0.0.1:1\"\n") != std::string::npos);
  CHECK(out.find("secret") == std::string::npos);
  CHECK(out.find("print-config") == std::string::npos);
}
