// Upstream failures and recovery, threads, and the embedded default upstream.
#include <catch2/catch.hpp>
#include <csignal>
#include <thread>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

TEST_CASE("an unreachable upstream gives each command an error at once, then recovery") {
  const std::uint16_t port = free_port();
  proxy_server proxy("redis://127.0.0.1:" + std::to_string(port),
                     {"--upstream-retry-min-ms", "20", "--upstream-retry-max-ms", "100"});
  raw_client c(proxy.port());
  c.send(encode({"PING"}) + encode({"SET", "a", "1"}) + "GET a\r\n");
  const std::string first = c.read_reply(2s);
  const std::string prefix =
      "-ERR upstream unavailable (connect to 127.0.0.1:" + std::to_string(port) +
      " failed: Connection refused";
  CHECK(first.rfind(prefix, 0) == 0);
  CHECK(c.read_reply(2s).rfind(prefix, 0) == 0);
  CHECK(c.read_reply(2s).rfind(prefix, 0) == 0);
  // The connection stays usable and still answers at once.
  CHECK(c.call({"PING"}, 2s).rfind(prefix, 0) == 0);

  // Once Redis is there, the same client gets through (after the back-off).
  std::vector<std::string> args = {
      "redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",
      "--save",       "",       "--appendonly",       "no"};
  const std::string dir = make_temp_dir("puppy-test-late-redis");
  process redis(args, dir + "/redis.log");
  CHECK(wait_until([&] { return c.call({"PING"}, 2s) == "+PONG\r\n"; }, 20s));
  CHECK(c.call({"SET", "a", "1"}) == "+OK\r\n");
  redis.stop();
  remove_temp_dir(dir);
}

TEST_CASE("an upstream that goes away closes its clients; the proxy keeps serving") {
  redis_server redis;
  proxy_server proxy(redis.url(),
                     {"--upstream-retry-min-ms", "20", "--upstream-retry-max-ms", "100"});
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  CHECK(a.call({"SET", "x", "1"}) == "+OK\r\n");
  CHECK(b.call({"SELECT", "2"}) == "+OK\r\n");
  b.send(encode({"BLPOP", "never", "0"}));
  redis.kill();
  CHECK(a.read_until_closed().empty());
  CHECK(b.read_until_closed().empty());
  {
    raw_client c(proxy.port());
    CHECK(c.call({"PING"}, 2s).rfind("-ERR upstream unavailable (", 0) == 0);
  }
  redis.start();
  CHECK(wait_until(
      [&] {
        raw_client c(proxy.port());
        return c.call({"PING"}, 2s) == "+PONG\r\n";
      },
      20s));
  CHECK(proxy.running());
}

TEST_CASE("several worker threads serve many clients at once") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--threads", "3"});
  std::vector<std::thread> threads;
  std::vector<int> ok(24, 0);
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&, t] {
      raw_client c(proxy.port());
      std::string batch;
      for (int i = 0; i < 200; ++i) {
        batch +=
            encode({"SET", "t" + std::to_string(t) + ":" + std::to_string(i), std::to_string(i)});
        batch += encode({"GET", "t" + std::to_string(t) + ":" + std::to_string(i)});
      }
      c.send(batch);
      int good = 0;
      for (int i = 0; i < 200; ++i) {
        const std::string v = std::to_string(i);
        if (c.read_reply() == "+OK\r\n" &&
            c.read_reply() == "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n") {
          ++good;
        }
      }
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 24; ++t) CHECK(ok[t] == 200);
}

TEST_CASE("SIGTERM stops the proxy with exit code 0") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  CHECK(proxy.stop() == 0);
}

TEST_CASE("with no upstream and nothing on the default address, a private redis-server serves") {
  if (raw_client_answers_default()) {
    WARN("something listens on 127.0.0.1:6379; the embedded-upstream case cannot be checked here");
    return;
  }
  proxy_server proxy("");
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "hello", "world"}) == "+OK\r\n");
  CHECK(c.call({"GET", "hello"}) == "$5\r\nworld\r\n");
  const std::string log = proxy.log();
  const auto at = log.find("started a private redis-server (pid ");
  REQUIRE(at != std::string::npos);
  const pid_t pid = std::stoi(log.substr(at + 36));
  CHECK(kill(pid, 0) == 0);
  CHECK(proxy.stop() == 0);
  CHECK(wait_until([&] { return kill(pid, 0) != 0; }, 10s));
}

TEST_CASE(
    "an upstream that stops answering: shared-connection clients are closed after the timeout") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--upstream-timeout-ms", "300", "--shared-connections", "1"});
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
  redis.pause();
  c.send(encode({"GET", "k"}));
  CHECK(c.read_until_closed(10s).empty());  // as when the connection drops: no reply, closed
  CHECK(proxy.log().find("no reply within 300 ms") != std::string::npos);
  redis.resume();
  CHECK(wait_until(
      [&] {
        raw_client again(proxy.port());
        return again.call({"GET", "k"}, 2s) == "$1\r\nv\r\n";
      },
      10s));
}
