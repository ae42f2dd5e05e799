// Options from the command line and from TOML/INI config files reach the running proxy.
#include <catch2/catch.hpp>
#include <csignal>
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
  CHECK(out.find("must start with redis://, rediss://, redis-cluster://, rediss-cluster://, "
                 "redis-sentinel://, rediss-sentinel:// or memcached://") != std::string::npos);
  std::tie(code, out) = run_proxy({"--upstream", "redis-sentinel://127.0.0.1:26379"});
  CHECK(code == 2);
  CHECK(out.find("redis-sentinel://host:port[,host:port...]/MASTER_NAME") != std::string::npos);
  std::tie(code, out) = run_proxy({"--sentinel-password", "x"});
  CHECK(code == 2);
  CHECK(out.find("need a redis-sentinel:// upstream") != std::string::npos);
  std::tie(code, out) = run_proxy(
      {"--upstream", "rediss://127.0.0.1:6379", "--upstream-tls-ca-cert-file", "/nonexistent.pem"});
  CHECK(code == 2);
  CHECK(out.find("--upstream-tls-ca-cert-file /nonexistent.pem: cannot read it") !=
        std::string::npos);
  // The cluster's wake-up channel is "<channel>:<status key>", in the key's slot by its tag.
  std::tie(code, out) =
      run_proxy({"--upstream", "redis-cluster://127.0.0.1:1", "--pget-channel", "w{zz}"});
  CHECK(code == 2);
  CHECK(out.find("--pget-channel 'w{zz}': with a Redis Cluster upstream the channel must not "
                 "contain '{'") != std::string::npos);
  std::tie(code, out) = run_proxy({"--listen", "127.0.0.1:99999"});
  CHECK(code == 2);
  CHECK(out.find("port must be a number from 0 to 65535") != std::string::npos);
  std::tie(code, out) = run_proxy({"--config", "/nonexistent/puppy.toml"});
  CHECK(code != 0);
  CHECK(out.find("/nonexistent/puppy.toml") != std::string::npos);
  // The message names the option and the accepted range or values.
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--threads", "0"}, "--threads: Value 0 not in range 1 to 256"},
      {{"--max-clients", "-1"}, "--max-clients"},
      {{"--health-check-interval-ms", "50"},
       "--health-check-interval-ms: Value 50 not in range 100 to 60000"},
      {{"--log-format", "xml"}, "--log-format: xml not in {text,json}"},
      {{"--drain-timeout-ms", "3600001"},
       "--drain-timeout-ms: Value 3600001 not in range 0 to 3600000"},
  };
  for (const auto& [args, message] : cases) {
    INFO(args.front());
    std::tie(code, out) = run_proxy(args);
    CHECK(code != 0);
    CHECK(out.find(message) != std::string::npos);
  }
}

TEST_CASE("SIGHUP reloads the log level, limits and PGET defaults live, without dropping clients") {
  redis_server redis;
  const std::string dir = make_temp_dir("puppy-test-reload");
  const std::string toml = write_temp(dir, "proxy.toml",
                                      "log-level = \"info\"\nmax-args = 100\n"
                                      "pget-update-time = 30\n");
  proxy_server proxy(redis.url(), {"--config", toml});
  raw_client before(proxy.port());  // connected before the reload; must survive it
  CHECK(before.call({"SET", "k", "v"}) == "+OK\r\n");
  {
    raw_client bad(proxy.port());
    bad.send("*1\r\n$x\r\n");
    bad.read_until_closed();
  }
  CHECK(proxy.log().find("closing client connection") == std::string::npos);  // debug: not logged

  write_temp(dir, "proxy.toml",
             "log-level = \"debug\"\nmax-args = 2\npget-update-time = 7\n"
             "pget-channel = \"elsewhere\"\n");
  proxy.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] { return proxy.log().find("configuration reloaded") != std::string::npos; }, 10s));
  CHECK(proxy.log().find("'pget-channel' changed but takes effect only after a restart") !=
        std::string::npos);
  {
    raw_client bad(proxy.port());
    bad.send("*1\r\n$x\r\n");
    bad.read_until_closed();
  }
  REQUIRE(wait_until(
      [&] { return proxy.log().find("closing client connection") != std::string::npos; }, 10s));
  // The limit applies to the connection that was already open, from its next request on.
  CHECK(before.call({"GET", "k"}) == "$1\r\nv\r\n");
  before.send(encode({"SET", "k", "w"}));
  CHECK(before.read_until_closed() == "-ERR Protocol error: invalid multibulk length\r\n");
  // The PGET default: a lease now lives 7 s, not 30 (the status key's TTL tells).
  raw_client c(proxy.port());
  CHECK(c.call({"PGET", "p"}).find("lease") != std::string::npos);
  raw_client direct(redis.port());
  CHECK(direct.call({"TTL", "puppy:p"}) == ":7\r\n");

  // An invalid configuration changes nothing.
  write_temp(dir, "proxy.toml", "max-args = 0\n");
  proxy.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] {
        return proxy.log().find("reload failed: the configuration is invalid") != std::string::npos;
      },
      10s));
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(proxy.running());
  remove_temp_dir(dir);
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
  ::setenv("PUPPY_SENTINEL_PASSWORD", "sentinel-secret", 1);
  const auto [code, out] =
      run_proxy({"--print-config", "--upstream", "redis://alice:url-secret@127.0.0.1:1",
                 "--pget-channel", "from-flag"});
  ::unsetenv("PUPPY_MAX_CLIENTS");
  ::unsetenv("PUPPY_PGET_CHANNEL");
  ::unsetenv("PUPPY_REQUIREPASS");
  ::unsetenv("PUPPY_SENTINEL_PASSWORD");
  CHECK(code == 0);
  CHECK(out.find("\nmax-clients=77\n") != std::string::npos);
  CHECK(out.find("\npget-channel=\"from-flag\"\n") != std::string::npos);  // a flag wins
  CHECK(out.find("\nrequirepass=\"***\"\n") != std::string::npos);
  CHECK(out.find("\nsentinel-password=\"***\"\n") != std::string::npos);
  CHECK(out.find("\nupstream=\"redis://alice:***@127.0.0.1:1\"\n") != std::string::npos);
  CHECK(out.find("secret") == std::string::npos);
  CHECK(out.find("print-config") == std::string::npos);
}
