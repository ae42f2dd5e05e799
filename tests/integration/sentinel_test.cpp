// A primary behind Redis Sentinel (redis-sentinel://, docs/sentinel.md): the proxy asks the
// sentinels where the primary is, checks it with ROLE, and follows a failover, SENTINEL FAILOVER
// or a primary killed, under load from 20 clients whose every reply is unique to its request
// (checked_load; a write the old primary acknowledged but never replicated is a lost write,
// which Redis's asynchronous replication allows, not a wrong reply). A primary, a replica and
// three redis-sentinel processes on loopback ports (redis_sentinel_set).
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>

#include "client.hpp"
#include "load.hpp"
#include "near_support.hpp"
#include "pget_support.hpp"
#include "sentinel_servers.hpp"

using namespace puppy::test;
using namespace puppy::test::near;

namespace {

std::string primary_info(std::uint16_t port) {
  return "puppy_upstream_primary_info{address=\"127.0.0.1:" + std::to_string(port) + "\"}";
}

// Writes through the proxy at `proxy_port` until one reaches the node at `port` (the new
// primary), reconnecting when the proxy closes the connection (as a shared connection to a
// primary that died closes its clients); the time since `since`.
std::chrono::milliseconds first_write_on(std::uint16_t proxy_port, std::uint16_t port,
                                         std::chrono::steady_clock::time_point since,
                                         const client_options& node = {}) {
  std::string last;
  std::unique_ptr<raw_client> c;
  for (int i = 0;; ++i) {
    const std::string value = "after" + std::to_string(i);
    try {
      if (!c) c = std::make_unique<raw_client>(proxy_port);
      last = c->call({"SET", "probe", value}, 30s);
    } catch (const std::exception& e) {
      last = e.what();
      c.reset();
    }
    if (last == "+OK\r\n" && raw_client(port, node).call({"GET", "probe"}) ==
                                 "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n") {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - since);
    }
    if (std::chrono::steady_clock::now() - since > 60s) {
      FAIL("no write reached the new primary within 60 s; last reply " << last);
    }
  }
}

void failover_under_load(bool kill) {
  redis_sentinel_set set;
  proxy_server proxy(set.url());
  raw_client c(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "probe", "before"}) == "+OK\r\n"; }, 20s));
  // A client on a connection of its own (SELECT pins it): its state lives on the old primary.
  raw_client pinned(proxy.port());
  REQUIRE(pinned.call({"SELECT", "0"}) == "+OK\r\n");
  failover_load load(proxy.port());
  REQUIRE(load.wait_for_more(2000, 60s));
  const std::uint16_t old_port = set.node(0).port();
  const auto start = std::chrono::steady_clock::now();
  if (kill) {
    set.node(0).kill();
  } else {
    set.failover();
  }
  REQUIRE(set.await_primary_change(old_port, 60s));
  const auto elected = std::chrono::steady_clock::now();
  // (After SENTINEL FAILOVER the old primary still calls itself master for a while: the
  // sentinels' word decides.)
  REQUIRE(set.sentinel_primary_port(0) == set.node(1).port());
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 1; }, 20s));
  // The pinned client is closed (after its replies: it had none outstanding), and reconnects.
  // After SENTINEL FAILOVER the demoted primary drops its clients only some 10 s later: closed
  // within 3 s of the move, it was the proxy that closed it.
  CHECK(pinned.read_until_closed(kill ? 20s : 3s).empty());
  const auto first = first_write_on(proxy.port(), set.node(1).port(), start);
  REQUIRE(load.wait_for_more(2000, 60s));
  load.stop();
  INFO(load.wrong_sample());
  CHECK(load.wrong() == 0);
  CHECK(load.unclear_errors() == "");
  INFO(load.error_sample());
  // A graceful failover: the shared clients keep their connections (what was in flight is
  // answered by the old primary, then the connection moves; requests wait meanwhile).
  if (!kill) CHECK(load.dropped() == 0);
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 1);
  CHECK(proxy_metric(proxy.port(), primary_info(set.node(1).port())) == 1);
  CHECK(proxy.running());
  std::cout << (kill ? "primary SIGKILLed" : "SENTINEL FAILOVER")
            << " under 20 clients (4 pipelining 8 KiB values): new primary "
            << "elected "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elected - start).count()
            << " ms after, first write on it through the proxy " << first.count() << " ms after; "
            << load.ok() << " replies as expected, " << load.errors().size() << " errors, "
            << load.lost_writes() << " lost writes\n";
}

}  // namespace

TEST_CASE("sentinel: the proxy serves the primary the sentinels name", "[sentinel]") {
  redis_sentinel_set set;
  proxy_server proxy(set.url());
  raw_client c(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "v"}) == "+OK\r\n"; }, 20s));
  CHECK(raw_client(set.node(0).port()).call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 0);
  CHECK(proxy_metric(proxy.port(), primary_info(set.node(0).port())) == 1);
}

TEST_CASE("sentinel: no sentinel answers: a clear error, no primary, not ready", "[sentinel]") {
  const std::uint16_t nobody = free_port();
  proxy_server proxy("redis-sentinel://127.0.0.1:" + std::to_string(nobody) + "/nobody",
                     {"--metrics-listen", "127.0.0.1:0", "--health-check-interval-ms", "100"});
  raw_client c(proxy.port());
  const std::string reply = c.call({"GET", "k"});
  CHECK(reply.rfind("-ERR upstream unavailable (connect to no primary known failed", 0) == 0);
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_primary_info{address=\"\"}") == 1);
  // /readyz: the health check's first verdict (no primary to PING) is "unreachable".
  REQUIRE(wait_until([&] { return proxy_metric(proxy.port(), "puppy_upstream_up") == 0; }, 10s));
  raw_client http(proxy.metrics_port());
  http.send("GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  CHECK(http.read_until_closed().rfind("HTTP/1.1 503", 0) == 0);
  CHECK(proxy.running());
}

TEST_CASE("sentinel: the near cache and PGET ... WAIT follow the primary", "[sentinel]") {
  redis_sentinel_set set;
  proxy_server proxy(set.url(), {"--near-cache-size", "64mb", "--threads", "1"});
  raw_client c(proxy.port());
  near_stats stats(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"PING"}) == "+PONG\r\n"; }, 20s));
  const auto lease = pget(c, {"hot", "100", "10"});
  REQUIRE(lease.token);
  REQUIRE(c.call({"PSET", "hot", *lease.token, "v1", "100", "10"}) == ":1\r\n");
  await_copies(stats, {&c}, "hot", "v1");
  REQUIRE(stats.read().entries == 1);
  // A reader waits for a key whose lease another client holds, across the failover.
  raw_client holder(proxy.port());
  const auto held = pget(holder, {"later", "100", "30"});
  REQUIRE(held.token);
  raw_client waiter(proxy.port());
  waiter.send(encode({"PGET", "later", "100", "30", "WAIT", "20000"}));
  CHECK_FALSE(waiter.has_data(200ms));
  const std::uint16_t old_port = set.node(0).port();
  set.failover();
  REQUIRE(set.await_primary_change(old_port, 60s));
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 1; }, 20s));
  // The copies were the old primary's: all dropped.
  CHECK(stats.read().entries == 0);
  // Written on the new primary: the proxy reads it there, and its tracking connection there
  // tells it of the next write.
  raw_client fresh_primary(set.node(1).port());
  REQUIRE(fresh_primary.call({"SET", "hot", "v2"}) == "+OK\r\n");
  await_copies(stats, {&c}, "hot", "v2");
  REQUIRE(fresh_primary.call({"SET", "hot", "v3"}) == "+OK\r\n");
  await([&] { return pget_call(c, "hot") == fresh("v3"); }, "the new primary's invalidation");
  // The holder's PSET, on the new primary, wakes the waiter, which gets the value.
  REQUIRE(wait_until(
      [&] {
        return holder.call({"PSET", "later", *held.token, "computed", "100", "30"}) == ":1\r\n";
      },
      20s));
  const auto woken = parse_pget(waiter.read_reply(20s));
  CHECK(woken.state == "fresh");
  CHECK(woken.value == std::optional<std::string>("computed"));
}

TEST_CASE("sentinel: SENTINEL FAILOVER under load from 20 clients", "[sentinel]") {
  failover_under_load(false);
}

TEST_CASE("sentinel: the primary SIGKILLed under load from 20 clients", "[sentinel]") {
  failover_under_load(true);
}

TEST_CASE("sentinel: sentinels with a password: --sentinel-password, a wrong one said clearly",
          "[sentinel]") {
  sentinel_set_options options;
  options.sentinel_password = "s3cret";
  redis_sentinel_set set(options);
  proxy_server proxy(set.url(), {"--sentinel-password", "s3cret"});
  raw_client c(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "v"}) == "+OK\r\n"; }, 20s));
  CHECK(raw_client(set.node(0).port()).call({"GET", "k"}) == "$1\r\nv\r\n");
  // Its subscription to +switch-master is logged in too: the failover is followed.
  const std::uint16_t old_port = set.node(0).port();
  set.failover();
  REQUIRE(set.await_primary_change(old_port, 60s));
  CHECK(wait_until(
      [&] { return proxy_metric(proxy.port(), primary_info(set.node(1).port())) == 1; }, 20s));
  CHECK(proxy.log().find("announces a failover of 'puppymaster'") != std::string::npos);
  // The wrong password: no primary, and the reason in the log (never the password).
  proxy_server wrong(set.url(), {"--sentinel-password", "nope"});
  raw_client w(wrong.port());
  CHECK(w.call({"GET", "k"}).rfind("-ERR upstream unavailable (connect to no primary known", 0) ==
        0);
  REQUIRE(wait_until(
      [&] { return wrong.log().find("no sentinel names a working primary") != std::string::npos; },
      20s));
  CHECK(wrong.log().find("authentication failed") != std::string::npos);
  CHECK(wrong.log().find("nope") == std::string::npos);
}

TEST_CASE("sentinel: given one sentinel, the proxy learns the others and outlives its loss",
          "[sentinel]") {
  redis_sentinel_set set;
  const auto at = [&](std::size_t i) {
    return "127.0.0.1:" + std::to_string(set.sentinel_port(i));
  };
  proxy_server proxy("redis-sentinel://" + at(0) + "/" + set.master_name());
  raw_client c(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "v"}) == "+OK\r\n"; }, 20s));
  // Sentinel 0 named the primary, then listed the other two (SENTINEL sentinels).
  for (std::size_t i : {1, 2}) {
    const std::string learned = "sentinel " + at(i) + " learned from sentinel " + at(0);
    REQUIRE(wait_until([&] { return proxy.log().find(learned) != std::string::npos; }, 20s));
  }
  // The one sentinel given is gone; a failover through another is followed all the same.
  set.kill_sentinel(0);
  const std::uint16_t old_port = set.node(0).port();
  const auto start = std::chrono::steady_clock::now();
  set.failover(1);
  REQUIRE(set.await_primary_change(old_port, 60s));
  const auto first = first_write_on(proxy.port(), set.node(1).port(), start);
  CHECK(proxy_metric(proxy.port(), primary_info(set.node(1).port())) == 1);
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 1);
  CHECK(proxy.running());
  std::cout << "one sentinel given, then killed: SENTINEL FAILOVER through a learned one, first "
            << "write on the new primary through the proxy " << first.count() << " ms after\n";
}

TEST_CASE("sentinel: rediss-sentinel:// reaches TLS data nodes and follows a failover",
          "[sentinel]") {
  sentinel_set_options options;
  options.tls = true;
  redis_sentinel_set set(options);
  const std::string ca = test_pki() + "/ca.crt";
  // The sentinels name the nodes by address: the name their certificates carry is given.
  const auto [code, out] = run_proxy({"--upstream", set.url(), "--upstream-tls-ca-cert-file", ca});
  CHECK(code != 0);
  CHECK(out.find("rediss-sentinel://: give the name the data nodes' certificates carry "
                 "(--upstream-tls-server-name)") != std::string::npos);
  // A name they do not carry: the ROLE check's TLS handshake fails, no primary is taken.
  proxy_server mismatched(set.url(), {"--upstream-tls-ca-cert-file", ca,
                                      "--upstream-tls-server-name", "redis.example.com"});
  REQUIRE(wait_until(
      [&] {
        return mismatched.log().find("no sentinel names a working primary") != std::string::npos;
      },
      20s));
  // (Checked once a round has ended: before, no primary is known either way.)
  CHECK(raw_client(mismatched.port())
            .call({"GET", "k"})
            .rfind("-ERR upstream unavailable (connect to no primary known", 0) == 0);
  CHECK(proxy_metric(mismatched.port(), "puppy_upstream_primary_info{address=\"\"}") == 1);
  CHECK(mismatched.log().find("certificate verify failed") != std::string::npos);

  proxy_server proxy(
      set.url(), {"--upstream-tls-ca-cert-file", ca, "--upstream-tls-server-name", "localhost"});
  raw_client c(proxy.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "v"}) == "+OK\r\n"; }, 20s));
  CHECK(raw_client(set.node(0).port(), set.node_options()).call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(proxy_metric(proxy.port(), primary_info(set.node(0).port())) == 1);
  // The replica, replicating over TLS, is promoted; the proxy's connections move to it.
  const std::uint16_t old_port = set.node(0).port();
  const auto start = std::chrono::steady_clock::now();
  set.failover();
  REQUIRE(set.await_primary_change(old_port, 60s));
  const auto first = first_write_on(proxy.port(), set.node(1).port(), start, set.node_options());
  CHECK(proxy_metric(proxy.port(), primary_info(set.node(1).port())) == 1);
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_failovers_total") == 1);
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");  // replicated over TLS, read on the new one
  // The sentinels announce their TLS ports to each other: not learned (asked in the clear).
  CHECK(proxy.log().find("learned from") == std::string::npos);
  CHECK(proxy.running());
  std::cout << "rediss-sentinel: SENTINEL FAILOVER, first write on the new primary through the "
            << "proxy " << first.count() << " ms after\n";
}
