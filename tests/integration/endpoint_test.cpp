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
