// The cluster changing under load behind puppy-proxy: live resharding with redis-cli, and a
// master killed (its replica takes over). 16 clients whose every reply is unique to its request
// (checked_load): no reply may ever go to the wrong request.
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>

#include "client.hpp"
#include "load.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

long counter(std::uint16_t proxy_port, const std::string& name) {
  raw_client c(proxy_port);
  const std::string stats = c.call({"PUPPY", "STATS"});
  const auto at = stats.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stol(stats.substr(at + name.size() + 2));
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size() && i < 20; ++i) out += v[i] + "\n";
  return out;
}

}  // namespace

TEST_CASE("cluster: live resharding under load from 16 clients: no error, no wrong reply") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  checked_load load(proxy.port(), 16);
  REQUIRE(load.wait_for_more(2000, 60s));
  // 1,000 slots from the first master to the second, then 1,000 from the second to the third,
  // while the clients write and read keys in every slot.
  for (std::size_t from = 0; from < 2; ++from) {
    const std::string dir = make_temp_dir("puppy-reshard");
    const std::string log = dir + "/reshard.log";
    process reshard(
        {"redis-cli", "--cluster", "reshard", "127.0.0.1:" + std::to_string(cluster.node(0).port()),
         "--cluster-from", cluster.node_id(from), "--cluster-to", cluster.node_id(from + 1),
         "--cluster-slots", "1000", "--cluster-yes"},
        log);
    const int status = reshard.wait(120s);
    INFO(read_file(log));
    remove_temp_dir(dir);
    REQUIRE(status == 0);
    REQUIRE(load.wait_for_more(1000, 60s));
  }
  load.stop();
  INFO(joined(load.errors()));
  INFO(load.wrong_sample());
  CHECK(load.wrong() == 0);
  CHECK(load.errors().empty());
  // The proxy learnt the moves from the redirections (or its refreshes) and followed them.
  const long moved = counter(proxy.port(), "puppy_cluster_moved_total");
  const long ask = counter(proxy.port(), "puppy_cluster_ask_total");
  std::cout << "resharding 2 x 1000 slots under 16 clients: " << load.ok()
            << " requests answered, MOVED followed " << moved << ", ASK " << ask << "\n";
  CHECK(proxy.running());
}

TEST_CASE("cluster: a master killed under load: its replica takes over, the proxy follows") {
  redis_cluster cluster(3, 1);
  proxy_server proxy(cluster.url());
  checked_load load(proxy.port(), 16);
  REQUIRE(load.wait_for_more(2000, 60s));
  // A key on the master to be killed: written through the proxy until it works again.
  std::size_t victim = 0;
  while (!cluster.is_master(victim)) ++victim;
  std::string probe;
  for (int i = 0; probe.empty(); ++i) {
    if (cluster.owner_of("probe" + std::to_string(i)) == victim)
      probe = "probe" + std::to_string(i);
  }
  raw_client c(proxy.port());
  REQUIRE(c.call({"SET", probe, "before"}) == "+OK\r\n");
  const auto killed = std::chrono::steady_clock::now();
  cluster.node(victim).kill();
  std::string last;
  REQUIRE(wait_until(
      [&] {
        last = c.call({"SET", probe, "after"}, 30s);
        return last == "+OK\r\n";
      },
      60s));
  const auto back = std::chrono::steady_clock::now() - killed;
  REQUIRE(load.wait_for_more(2000, 60s));
  load.stop();
  // While no master served the slots: clear errors (unavailable, connection lost, the
  // cluster's CLUSTERDOWN after the retries), never a wrong reply.
  INFO(load.wrong_sample());
  CHECK(load.wrong() == 0);
  const auto errors = load.errors();
  std::size_t unclear = 0;
  for (const auto& e : errors) {
    const bool clear = e.rfind("-ERR upstream unavailable (", 0) == 0 ||
                       e.rfind("-ERR upstream connection lost (", 0) == 0 ||
                       e.rfind("-CLUSTERDOWN", 0) == 0;
    if (!clear) ++unclear;
  }
  INFO(joined(errors));
  CHECK(unclear == 0);
  CHECK(c.call({"GET", probe}) == "$5\r\nafter\r\n");
  std::cout << "master killed under 16 clients: first write to its slots through the proxy "
            << std::chrono::duration_cast<std::chrono::milliseconds>(back).count()
            << " ms after the kill; " << errors.size() << " requests answered with an error, "
            << load.ok() << " as expected\n";
  CHECK(proxy.running());
}

TEST_CASE("cluster: --read-from replica and prefer-replica send reads to the slot's replicas") {
  redis_cluster cluster(3, 1);
  const auto calls = [&](std::size_t i, const std::string& cmd) {
    raw_client n(cluster.node(i).port());
    const std::string stats = n.call({"INFO", "commandstats"});
    const auto at = stats.find("cmdstat_" + cmd + ":calls=");
    return at == std::string::npos ? 0L : std::stol(stats.substr(at + 15 + cmd.size()));
  };
  SECTION("replica") {
    proxy_server proxy(cluster.url(), {"--read-from", "replica"});
    raw_client c(proxy.port());
    for (int i = 0; i < 30; ++i)
      REQUIRE(c.call({"SET", "r" + std::to_string(i), "v"}) == "+OK\r\n");
    // Replication is asynchronous: a read may come before the write reached the replica.
    for (int i = 0; i < 30; ++i) {
      REQUIRE(wait_until(
          [&] {
            return c.call({"GET", "r" + std::to_string(i)}) == "$1\r\nv\r\n";
          },
          10s));
    }
    CHECK(c.call({"MGET", "r1", "r2", "r3"}) == "*3\r\n$1\r\nv\r\n$1\r\nv\r\n$1\r\nv\r\n");
    long on_replicas = 0;
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      INFO("node " << i);
      if (cluster.is_master(i)) {
        CHECK(calls(i, "get") == 0);  // every read went to a replica
        CHECK(calls(i, "set") > 0);
      } else {
        on_replicas += calls(i, "get");
      }
    }
    CHECK(on_replicas >= 30);
    // Writes and transactions stay on the masters.
    c.send(encode({"MULTI"}) + encode({"GET", "r1"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n$1\r\nv\r\n");
  }
  SECTION("prefer-replica: a replica gone, its reads go to its master, without an error") {
    proxy_server proxy(cluster.url(), {"--read-from", "prefer-replica"});
    raw_client c(proxy.port());
    REQUIRE(c.call({"SET", "p", "v"}) == "+OK\r\n");
    REQUIRE(wait_until([&] { return c.call({"GET", "p"}) == "$1\r\nv\r\n"; }, 10s));
    const std::size_t master = cluster.owner_of("p");
    std::size_t replica = 0;
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      if (!cluster.is_master(i)) {
        raw_client n(cluster.node(i).port());
        if (n.call({"INFO", "replication"})
                .find("master_port:" + std::to_string(cluster.node(master).port())) !=
            std::string::npos) {
          replica = i;
        }
      }
    }
    REQUIRE(!cluster.is_master(replica));
    cluster.node(replica).kill();
    for (int i = 0; i < 20; ++i) CHECK(c.call({"GET", "p"}) == "$1\r\nv\r\n");
    CHECK(calls(master, "get") >= 20);
  }
}
