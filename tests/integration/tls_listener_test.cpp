// The TLS listener (--tls-listen): redis-cli --tls and python3-redis through it to a TLS Redis,
// client certificates, a plain-text client on the TLS port, draining TLS clients, and TLS
// settings that stop start-up.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "tls_support.hpp"

using namespace puppy::test;

namespace {

// Runs a command (stdout and stderr captured) until it exits; returns {exit code, output}.
std::pair<int, std::string> run(const std::vector<std::string>& argv) {
  const std::string dir = make_temp_dir("puppy-test-tls-cmd");
  process p(argv, dir + "/out.log");
  const int code = p.wait(120s);
  const std::string out = read_file(dir + "/out.log");
  remove_temp_dir(dir);
  return {code, out};
}

std::vector<std::string> redis_cli(std::uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv = {"redis-cli", "--tls",     "--cacert", pki("ca.crt"),
                                   "-h",        "127.0.0.1", "-p",       std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

TEST_CASE("redis-cli --tls and python3-redis through TLS on both sides to a TLS Redis") {
  redis_server redis(redis_tls{});
  proxy_server proxy(redis.url(), join(tls_listener_args(), upstream_ca_args()));
  REQUIRE(proxy.tls_port() != 0);
  CHECK(run(redis_cli(proxy.tls_port(), {"SET", "greeting", "hello"})) ==
        std::make_pair(0, std::string("OK\n")));
  CHECK(run(redis_cli(proxy.tls_port(), {"GET", "greeting"})) ==
        std::make_pair(0, std::string("hello\n")));
  CHECK(run(redis_cli(proxy.tls_port(), {"-r", "100", "INCR", "counter"})).first == 0);
  CHECK(run(redis_cli(proxy.tls_port(), {"-n", "4", "SET", "in-db-4", "x"})) ==
        std::make_pair(0, std::string("OK\n")));  // SELECT: an own upstream connection
  raw_client direct(redis.port(), tls_client());
  CHECK(direct.call({"GET", "greeting"}) == "$5\r\nhello\r\n");
  CHECK(direct.call({"GET", "counter"}) == "$3\r\n100\r\n");

  ::setenv("PUPPY_PROXY_TLS_PORT", std::to_string(proxy.tls_port()).c_str(), 1);
  ::setenv("PUPPY_REDIS_TLS_PORT", std::to_string(redis.port()).c_str(), 1);
  ::setenv("PUPPY_TLS_DIR", test_pki().c_str(), 1);
  const auto [code, out] =
      run({"/usr/bin/python3",
           std::string(PUPPY_SOURCE_DIR) + "/tests/clients/python/test_tls_redis_py.py"});
  INFO(out);
  CHECK(code == 0);
  CHECK(out.find("OK") != std::string::npos);
}

TEST_CASE("TLS listener in front of a plain Redis; the plain listener goes on beside it") {
  redis_server redis;
  proxy_server proxy(redis.url(), tls_listener_args());
  raw_client t(proxy.tls_port(), tls_client(false, 8192));
  raw_client p(proxy.port());
  CHECK(t.call({"SET", "k", "over tls"}) == "+OK\r\n");
  CHECK(p.call({"GET", "k"}) == "$8\r\nover tls\r\n");
  std::string big(3 << 20, 'x');
  t.send(encode({"SET", "big", big}) + encode({"GET", "big"}));
  CHECK(t.read_reply(30s) == "+OK\r\n");
  CHECK(t.read_reply(30s) == bulk(big));
  CHECK(t.call({"SUBSCRIBE", "ch"}) == "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
  CHECK(p.call({"PUBLISH", "ch", "hi"}) == ":1\r\n");
  CHECK(t.read_reply() == "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
}

TEST_CASE("a plain-text client on the TLS port is closed; TLS clients go on") {
  redis_server redis;
  proxy_server proxy(redis.url(), tls_listener_args());
  raw_client good(proxy.tls_port(), tls_client());
  CHECK(good.call({"SET", "k", "v"}) == "+OK\r\n");
  raw_client plain(proxy.tls_port());
  plain.send("PING\r\n");
  const std::string answer = plain.read_until_closed();
  CHECK(answer.find("PONG") == std::string::npos);  // a TLS alert, then the close
  CHECK(wait_until(
      [&] {
        return proxy.log().find("read failed; connection closed (wrong version number)") !=
               std::string::npos;
      },
      10s));
  CHECK(good.call({"GET", "k"}) == "$1\r\nv\r\n");
  raw_client later(proxy.tls_port(), tls_client());
  CHECK(later.call({"GET", "k"}) == "$1\r\nv\r\n");
}

TEST_CASE("--tls-auth-clients yes: only clients with a certificate from the CA are served") {
  redis_server redis;
  proxy_server proxy(redis.url(), join(tls_listener_args(), {"--tls-auth-clients", "yes",
                                                             "--tls-ca-cert-file", pki("ca.crt")}));
  raw_client with(proxy.tls_port(), tls_client(true));
  CHECK(with.call({"PING"}) == "+PONG\r\n");
  // TLS 1.3: the client's handshake ends before the server has checked; the refusal comes next.
  bool refused = false;
  try {
    raw_client without(proxy.tls_port(), tls_client(false));
    refused = without.read_until_closed(10s).empty();
  } catch (const std::exception& e) {
    refused = std::string(e.what()).find("certificate required") != std::string::npos;
  }
  CHECK(refused);
  CHECK(with.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("--max-clients counts TLS clients too; one more TLS client is only closed") {
  redis_server redis;
  proxy_server proxy(redis.url(), join(tls_listener_args(), {"--max-clients", "1"}));
  raw_client first(proxy.tls_port(), tls_client());
  CHECK(first.call({"PING"}) == "+PONG\r\n");
  bool closed = false;  // no handshake: the error text would need one
  try {
    raw_client second(proxy.tls_port(), tls_client());
    closed = second.read_until_closed(5s).empty();
  } catch (const std::exception& e) {
    closed = std::string(e.what()).rfind("TLS handshake with port", 0) == 0;
  }
  CHECK(closed);
  raw_client plain(proxy.port());
  CHECK(plain.read_until_closed() == "-ERR max number of clients reached\r\n");
  CHECK(first.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("SIGTERM: a TLS client's reply in flight arrives, then the close; exit 0") {
  redis_server redis;
  proxy_server proxy(redis.url(), tls_listener_args());
  raw_client c(proxy.tls_port(), tls_client());
  c.send(encode({"BLPOP", "q", "10"}));
  raw_client direct(redis.port());
  REQUIRE(redis_has_blocked(redis.port(), 1));
  proxy.signal(SIGTERM);
  CHECK(direct.call({"LPUSH", "q", "x"}) == ":1\r\n");
  CHECK(c.read_reply() == "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
  CHECK(c.read_until_closed().empty());
  CHECK(proxy.wait(10s) == 0);
}

TEST_CASE("TLS settings that cannot work stop start-up with a message naming the option") {
  const auto fails_with = [](const std::vector<std::string>& args, const std::string& message) {
    const auto [code, out] = run_proxy(args);
    INFO(out);
    CHECK(code == 2);
    CHECK(out.find(message) != std::string::npos);
  };
  const std::string up = "rediss://127.0.0.1:1";
  fails_with({"--tls-listen", "127.0.0.1:0"},
             "a TLS listener needs --tls-cert-file and --tls-key-file");
  fails_with({"--tls-cert-file", pki("server.crt"), "--tls-key-file", pki("server.key")},
             "give --tls-listen too");
  fails_with(join(tls_listener_args(), {"--tls-auth-clients", "yes"}),
             "client certificates (--tls-auth-clients) need --tls-ca-cert-file");
  fails_with({"--tls-listen", "127.0.0.1:0", "--tls-cert-file", pki("bad.pem"), "--tls-key-file",
              pki("server.key")},
             "--tls-cert-file " + pki("bad.pem") + ": not a PEM certificate");
  fails_with({"--tls-listen", "127.0.0.1:0", "--tls-cert-file", pki("server.crt"), "--tls-key-file",
              pki("client.key")},
             "--tls-key-file " + pki("client.key") + ": ");
  fails_with({"--upstream", up, "--upstream-tls-key-file", pki("client.key")},
             "--upstream-tls-key-file needs --upstream-tls-cert-file");
  fails_with({"--upstream", up, "--upstream-tls-cert-file", "/nonexistent/client.crt",
              "--upstream-tls-key-file", pki("client.key")},
             "--upstream-tls-cert-file /nonexistent/client.crt: cannot read it: No such file");
  fails_with({"--upstream", "redis://127.0.0.1:1", "--upstream-tls-ca-cert-file", pki("ca.crt")},
             "--upstream-tls-* options need a TLS upstream: a rediss:// URL or --upstream-tls");
  fails_with({"--upstream", "memcached://127.0.0.1:1", "--upstream-tls"},
             "a memcached:// upstream is plain TCP");
  // Key paths are not secrets; the URL's password is.
  const auto [code, out] = run_proxy({"--print-config", "--upstream", "rediss://u:secret@h:1",
                                      "--upstream-tls-cert-file", "/etc/c.crt"});
  CHECK(code == 0);
  CHECK(out.find("\nupstream=\"rediss://u:***@h:1\"\n") != std::string::npos);
  CHECK(out.find("\nupstream-tls-cert-file=\"/etc/c.crt\"\n") != std::string::npos);
  CHECK(out.find("secret") == std::string::npos);
}
