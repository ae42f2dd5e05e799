// A managed Redis endpoint that moves to a new primary (docs/sentinel.md, "A host name that
// moves"): the upstream is a host name, resolved again at every connection, whose address the
// test moves (a relay re-pointed from the old primary to the new one, as a DNS record would be);
// the old primary, now a replica, answers -READONLY. Under load from 20 checked clients the
// proxy must move within seconds, never answering a request with another's reply.
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>

#include "client.hpp"
#include "fault_relay.hpp"
#include "load.hpp"
#include "review_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

TEST_CASE("managed endpoint: the old primary answers READONLY, the proxy moves", "[sentinel]") {
  redis_server old_primary;
  redis_server next({"--replicaof", "127.0.0.1", std::to_string(old_primary.port())});
  REQUIRE(wait_until(
      [&] {
        return raw_client(next.port())
                   .call({"INFO", "replication"})
                   .find("master_link_status:up") != std::string::npos;
      },
      20s));
  fault_relay endpoint(old_primary.port());
  // "localhost": a name, resolved at every connection (to ::1, refused, then 127.0.0.1).
  proxy_server proxy("redis://localhost:" + std::to_string(endpoint.port()));
  raw_client pinned(proxy.port());
  REQUIRE(pinned.call({"SELECT", "0"}) == "+OK\r\n");
  failover_load load(proxy.port());
  REQUIRE(load.wait_for_more(2000, 60s));
  // The failover: the replica is promoted, the name moves to it, the old primary follows it.
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(raw_client(next.port()).call({"REPLICAOF", "NO", "ONE"}) == "+OK\r\n");
  endpoint.retarget(next.port());
  REQUIRE(raw_client(old_primary.port())
              .call({"REPLICAOF", "127.0.0.1", std::to_string(next.port())}) == "+OK\r\n");
  // The client on its own connection writes to the old primary: Redis's READONLY, then the
  // proxy closes it (its state was there), so that it reconnects to the new primary.
  CHECK(pinned.call({"SET", "pinned", "x"}).rfind("-READONLY", 0) == 0);
  CHECK(pinned.read_until_closed(20s).empty());
  // Writes through the proxy reach the new primary again.
  raw_client reader(next.port());
  std::string last;
  std::unique_ptr<raw_client> c;
  bool moved = false;
  for (int i = 0; !moved && std::chrono::steady_clock::now() - start < 60s; ++i) {
    const std::string value = "v" + std::to_string(i);
    try {
      if (!c) c = std::make_unique<raw_client>(proxy.port());
      last = c->call({"SET", "probe", value});
    } catch (const std::exception& e) {
      last = e.what();
      c.reset();
    }
    moved = last == "+OK\r\n" && reader.call({"GET", "probe"}) ==
                                     "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  }
  INFO(last);
  REQUIRE(moved);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  REQUIRE(load.wait_for_more(2000, 60s));
  load.stop();
  INFO(load.wrong_sample());
  CHECK(load.wrong() == 0);
  CHECK(load.unclear_errors() == "");
  CHECK(proxy_metric(proxy.port(), "puppy_upstream_readonly_total") >= 1);
  CHECK(proxy.running());
  std::cout << "managed endpoint moved under 20 clients: first write on the new primary "
            << took.count() << " ms after the promotion; " << load.errors().size()
            << " errors (READONLY from the old primary before the move), " << load.lost_writes()
            << " lost or refused writes\n";
}

TEST_CASE("managed endpoint: --upstream-require-primary refuses a replica the name still reaches",
          "[sentinel]") {
  redis_server primary;
  redis_server replica({"--replicaof", "127.0.0.1", std::to_string(primary.port())});
  REQUIRE(raw_client(primary.port()).call({"SET", "k", "v"}) == "+OK\r\n");
  REQUIRE(wait_until(
      [&] {
        return raw_client(replica.port()).call({"GET", "k"}) == "$1\r\nv\r\n";
      },
      20s));
  // The name still reaches the replica (a DNS record not yet moved, or cached).
  fault_relay endpoint(replica.port());
  const std::string url = "redis://localhost:" + std::to_string(endpoint.port());
  // By default a replica is served: reads work (a read-only deployment), writes get READONLY.
  proxy_server lenient(url);
  CHECK(raw_client(lenient.port()).call({"GET", "k"}) == "$1\r\nv\r\n");
  // With the flag every connection asks ROLE and refuses it: a prompt error, never a read from
  // the replica, and not ready.
  proxy_server strict(url, {"--upstream-require-primary", "--metrics-listen", "127.0.0.1:0",
                            "--health-check-interval-ms", "100"});
  raw_client c(strict.port());
  const std::string refused = c.call({"GET", "k"});
  INFO(refused);
  CHECK(refused.rfind("-ERR upstream unavailable (", 0) == 0);
  // (The node's address as the proxy sees it: the relay's.)
  const std::string at_replica = "the node at 127.0.0.1:" + std::to_string(endpoint.port()) +
                                 " is a replica, not the primary (--upstream-require-primary)";
  CHECK(refused.find(at_replica) != std::string::npos);
  raw_client pinned(strict.port());  // a connection of its own is refused the same way
  CHECK(pinned.call({"SELECT", "0"}).find(at_replica) != std::string::npos);
  // A refused node is not taken for the primary: no address known yet.
  CHECK(proxy_metric(strict.port(), "puppy_upstream_primary_info{address=\"\"}") == 1);
  // The name moves to the primary: the next connection takes it.
  endpoint.retarget(primary.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "w"}) == "+OK\r\n"; }, 20s));
  CHECK(raw_client(primary.port()).call({"GET", "k"}) == "$1\r\nw\r\n");
  // (A client on another worker may still meet that worker's back-off from the refusals.)
  CHECK(wait_until(
      [&] {
        return raw_client(strict.port()).call({"SELECT", "0"}) == "+OK\r\n";
      },
      10s));
  REQUIRE(wait_until([&] { return proxy_metric(strict.port(), "puppy_upstream_up") == 1; }, 10s));
  CHECK(proxy_metric(strict.port(), "puppy_upstream_primary_info{address=\"127.0.0.1:" +
                                        std::to_string(endpoint.port()) + "\"}") == 1);

  // A failover that demotes the primary in place: its connections stay open. The health check
  // asks every time: not ready. A write gets READONLY and moves the shared connection, which
  // the name (not moved yet) takes back to the demoted node: refused.
  REQUIRE(raw_client(replica.port()).call({"REPLICAOF", "NO", "ONE"}) == "+OK\r\n");
  REQUIRE(
      raw_client(primary.port()).call({"REPLICAOF", "127.0.0.1", std::to_string(replica.port())}) ==
      "+OK\r\n");
  REQUIRE(wait_until([&] { return proxy_metric(strict.port(), "puppy_upstream_up") == 0; }, 10s));
  CHECK(c.call({"SET", "k", "x"}).rfind("-READONLY", 0) == 0);
  REQUIRE(wait_until(
      [&] {
        return c.call({"GET", "k"}).find(at_replica) != std::string::npos;
      },
      20s));
  // The name moves to the new primary.
  endpoint.retarget(replica.port());
  REQUIRE(wait_until([&] { return c.call({"SET", "k", "y"}) == "+OK\r\n"; }, 20s));
  CHECK(raw_client(replica.port()).call({"GET", "k"}) == "$1\r\ny\r\n");
  CHECK(wait_until([&] { return proxy_metric(strict.port(), "puppy_upstream_up") == 1; }, 10s));
  CHECK(proxy_metric(strict.port(), "puppy_upstream_readonly_total") >= 1);
  CHECK(strict.log().find("not the primary") != std::string::npos);
  // Refused where a cluster or memcached is the upstream.
  const auto [code, out] =
      run_proxy({"--upstream", "memcached://127.0.0.1:1", "--upstream-require-primary"});
  CHECK(code == 2);
  CHECK(out.find("--upstream-require-primary needs one Redis (redis:// or rediss://)") !=
        std::string::npos);
}

namespace {

// A master's ROLE reply of exactly `size` bytes (its third element padded with a bulk string).
std::string role_reply_of(std::size_t size) {
  const std::string head = "*3\r\n$6\r\nmaster\r\n:0\r\n*1\r\n";
  for (std::size_t pad = 0;; ++pad) {
    const std::string r =
        head + "$" + std::to_string(pad) + "\r\n" + std::string(pad, 'x') + "\r\n";
    if (r.size() == size) return r;
    if (r.size() > size) throw std::logic_error("no ROLE reply of that size");
  }
}

// A proxy with --upstream-require-primary in front of a hand-driven upstream answering ROLE with
// `role_reply` (then, if the node is `taken`, PING with +PONG): what the client's PING gets.
std::string ping_behind_role(const std::string& role_reply, bool taken) {
  fake_upstream up(4);
  proxy_server proxy(up.url(), {"--upstream-require-primary"});
  raw_client c(proxy.port());
  c.send(encode({"PING"}));
  const int fd = up.accept_one(10s);
  REQUIRE(fd >= 0);
  REQUIRE(read_n(fd, 14, 10s) == "*1\r\n$4\r\nROLE\r\n");
  write_all(fd, role_reply);
  if (taken) {
    REQUIRE(read_n(fd, 14, 10s) == "*1\r\n$4\r\nPING\r\n");
    write_all(fd, "+PONG\r\n");
  }
  return c.read_reply();
}

}  // namespace

TEST_CASE("require primary: ROLE's reply up to max_role_reply (64 KiB), read whole", "[sentinel]") {
  // At the limit: taken, and nothing of it is left to be read as PING's reply.
  CHECK(ping_behind_role(role_reply_of(64 * 1024), true) == "+PONG\r\n");
  // One byte beyond: refused.
  const std::string refused = ping_behind_role(role_reply_of(64 * 1024 + 1), false);
  CHECK(refused.rfind("-ERR upstream unavailable (", 0) == 0);
  CHECK(refused.find("ROLE check failed: unexpected reply") != std::string::npos);
  // A user who may not run ROLE: refused, saying so.
  const std::string noperm =
      ping_behind_role("-NOPERM this user has no permissions to run the 'role' command\r\n", false);
  CHECK(noperm.find("ROLE check failed: NOPERM this user has no permissions") != std::string::npos);
  // A server with requirepass the proxy does not log in to: refused, saying what to do.
  CHECK(ping_behind_role("-NOAUTH Authentication required.\r\n", false)
            .find("ROLE check failed: NOAUTH Authentication required. (the proxy must log in: "
                  "--upstream-password)") != std::string::npos);
  // Not ROLE's answer, or a role of the node's own words: never repeated to the client.
  CHECK(ping_behind_role(":1\r\n", false).find("ROLE check failed: unexpected reply") !=
        std::string::npos);
  const std::string odd = ping_behind_role("*1\r\n$8\r\nsl\r\nave!\r\n", false);
  CHECK(odd.find("is not a master, not the primary") != std::string::npos);
  CHECK(odd.find("ave!") == std::string::npos);
}
