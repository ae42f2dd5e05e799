// The near cache in front of a real Redis Cluster (docs/near-cache.md, "In front of a Redis
// Cluster"): fresh PGET values and GET/MGET replies under --near-cache-prefix answered from the
// worker's copies without touching the nodes, each worker's tracking connection per master
// invalidating the copies of that master's keys, writes through the proxy seen at once (the
// write generations in the cluster backend), every copy dropped when a tracking connection is
// lost or a slot changes owner, and no copy of a missing key (a slot migration would leave no
// invalidation for it).
//
// What a hit costs a node is counted with INFO commandstats read from the node itself (MGET for
// a PGET's read, EVALSHA/EVAL for its script, GET/MGET for plain reads); the near cache's own
// figures come from PUPPY STATS, as exact deltas. Fills and invalidations arrive
// asynchronously and are awaited through those figures: nothing sleeps for a fixed time.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client.hpp"
#include "near_support.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;
using namespace puppy::test::near;

namespace {

// One worker thread: every connection's copies are the same worker's (exact hit counts).
const std::vector<std::string> one_worker = {"--near-cache-size", "64mb", "--threads", "1"};

// `count` keys "<prefix>N", each served by another master (in the cluster's current map).
std::vector<std::string> keys_on_masters(redis_cluster& cluster, const std::string& prefix,
                                         std::size_t count) {
  std::vector<std::string> keys;
  std::vector<std::size_t> owners;
  for (int i = 0; keys.size() < count; ++i) {
    const std::string key = prefix + std::to_string(i);
    const std::size_t owner = cluster.owner_of(key);
    bool taken = false;
    for (const auto o : owners) taken = taken || o == owner;
    if (taken) continue;
    keys.push_back(key);
    owners.push_back(owner);
  }
  return keys;
}

// Calls of `command` the node ran since its last CONFIG RESETSTAT.
long calls(raw_client& node, const std::string& command) {
  const auto all = command_calls(node);
  const auto it = all.find(command);
  return it == all.end() ? 0 : it->second;
}

// What PGETs cost a node: their reads and scripts.
long pget_looks(raw_client& node) {
  return calls(node, "mget") + calls(node, "evalsha") + calls(node, "eval");
}

// A value PSET through the proxy (fresh for 100 s), then read once so that it is filled, and
// awaited until `c`'s worker answers it from its copy.
void warm(raw_client& c, near_stats& stats, const std::string& key, const std::string& value) {
  const auto lease = pget(c, {key, "100", "10"});
  REQUIRE(lease.state == "lease");
  REQUIRE(c.call({"PSET", key, *lease.token, value, "100", "10"}) == ":1\r\n");
  await_copies(stats, {&c}, key, value);
}

// A fresh value written straight to the key's node, as PSET writes it (the status key of a key
// without a hash tag is "puppy:{key}" in front of a cluster).
void write_on_node(raw_client& node, const std::string& key, const std::string& value) {
  REQUIRE(node.call({"SET", key, value, "EX", "1000"}) == "+OK\r\n");
  REQUIRE(node.call({"SET", "puppy:{" + key + "}",
                     "current:0:" + std::to_string(wall_ms() + 100'000), "EX", "101"}) ==
          "+OK\r\n");
}

// A 3-master cluster, a proxy with one worker thread, a client of it, and two keys on two
// masters (A and B) whose fresh values the worker holds copies of.
struct two_copies {
  redis_cluster cluster;
  proxy_server proxy;
  raw_client c;
  near_stats stats;
  std::vector<std::string> keys;
  raw_client node_a;
  raw_client node_b;

  two_copies(const std::string& prefix, const std::string& value_a, const std::string& value_b)
      : proxy(cluster.url(), one_worker),
        c(proxy.port()),
        stats(proxy.port()),
        keys(keys_on_masters(cluster, prefix, 2)),
        node_a(cluster.node(cluster.owner_of(keys[0])).port()),
        node_b(cluster.node(cluster.owner_of(keys[1])).port()) {
    warm(c, stats, keys[0], value_a);
    warm(c, stats, keys[1], value_b);
  }
};

}  // namespace

TEST_CASE("cluster near: a fresh PGET hit is answered from the copy, without its node", "[near]") {
  two_copies t("hot", "va", "vb");

  reset_stats(t.node_a);
  reset_stats(t.node_b);
  const auto before = t.stats.read();
  const std::vector<std::vector<std::string>> forms = {
      {"100", "10"},
      {},
      {"100", "10", "WAIT", "5000"},
      {"100", "10", "BETA", "1"},  // PSET measured ~0 ms of compute: never early
  };
  for (const auto& form : forms) {
    for (int i = 0; i < 5; ++i) {
      for (const auto& [key, value] : {std::pair{t.keys[0], "va"}, std::pair{t.keys[1], "vb"}}) {
        std::vector<std::string> request = {"PGET", key};
        request.insert(request.end(), form.begin(), form.end());
        CHECK(t.c.call(request) == fresh(value));
      }
    }
  }
  const auto after = t.stats.read();
  CHECK(after.hits - before.hits == 40);
  CHECK(after.misses == before.misses);
  CHECK(after.fills == before.fills);
  CHECK(pget_looks(t.node_a) == 0);
  CHECK(pget_looks(t.node_b) == 0);
  // Hits keep their place among the replies of the nodes (pipelined, keys of both masters).
  t.c.send(encode({"PGET", t.keys[0]}) + encode({"INCR", t.keys[1] + "n"}) +
           encode({"PGET", t.keys[1]}) + encode({"ECHO", "x"}));
  CHECK(t.c.read_reply() == fresh("va"));
  CHECK(t.c.read_reply() == ":1\r\n");
  CHECK(t.c.read_reply() == fresh("vb"));
  CHECK(t.c.read_reply() == "$1\r\nx\r\n");
  CHECK(t.stats.read().hits - before.hits == 42);
  CHECK(pget_looks(t.node_a) + pget_looks(t.node_b) == 0);
}

TEST_CASE("cluster near: BETA's early refresh is decided from the copy and goes to the node",
          "[near]") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(), one_worker);
  raw_client c(proxy.port());
  near_stats stats(proxy.port());
  const std::string key = "beta";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  // Fresh for a minute, after a regeneration of 1000 s: BETA 0.00001 is never early (10 ms *
  // -ln(u) < 60 s), BETA 1000000 always (unless -ln(u) < 6e-8).
  REQUIRE(node.call({"SET", key, "old", "EX", "1000"}) == "+OK\r\n");
  REQUIRE(node.call({"SET", "puppy:{beta}", "current:1000000:" + std::to_string(wall_ms() + 60'000),
                     "EX", "61"}) == "+OK\r\n");
  await_copies(stats, {&c}, key, "old");
  reset_stats(node);
  const auto before = stats.read();
  CHECK(c.call({"PGET", key, "100", "10", "BETA", "0.00001"}) == fresh("old"));
  CHECK(pget_looks(node) == 0);
  CHECK(stats.read().hits - before.hits == 1);
  // Early: the read and the script go to the node, which hands out the lease.
  CHECK(is_lease(c.call({"PGET", key, "100", "10", "BETA", "1000000"}), std::string("old")));
  CHECK(calls(node, "mget") == 1);
  CHECK(calls(node, "evalsha") + calls(node, "eval") >= 1);  // EVAL after NOSCRIPT: loaded
  // Everyone else still gets the fresh value (the lease changed the status key on the node: its
  // invalidation drops the copy, and the next read fills it again).
  CHECK(pget_call(c, key) == fresh("old"));
}

TEST_CASE("cluster near: a write made on a node drops the copies of that node's keys only",
          "[near]") {
  two_copies t("inv", "a1", "b1");

  // On A, not through the proxy: A's invalidation reaches the proxy on its tracking connection.
  const auto before = t.stats.read();
  write_on_node(t.node_a, t.keys[0], "a2");
  await([&] { return pget_call(t.c, t.keys[0]) == fresh("a2"); }, "A's invalidation");
  CHECK(t.stats.read().invalidations - before.invalidations == 1);
  // B's copy is still answered, without B.
  reset_stats(t.node_b);
  CHECK(pget_call(t.c, t.keys[1]) == fresh("b1"));
  CHECK(pget_looks(t.node_b) == 0);

  // Then on B: the same through B's tracking connection; A's new copy stays.
  await_copies(t.stats, {&t.c}, t.keys[0], "a2");
  write_on_node(t.node_b, t.keys[1], "b2");
  await([&] { return pget_call(t.c, t.keys[1]) == fresh("b2"); }, "B's invalidation");
  reset_stats(t.node_a);
  CHECK(pget_call(t.c, t.keys[0]) == fresh("a2"));
  CHECK(pget_looks(t.node_a) == 0);
  // A delete on the node: the next PGET is Redis's miss (a lease), not the copy.
  REQUIRE(t.node_a.call({"DEL", t.keys[0]}) == ":1\r\n");
  await([&] { return pget_call(t.c, t.keys[0]) != fresh("a2"); }, "A's invalidation of the DEL");
}

TEST_CASE("cluster near: a write through the proxy is read at once, on any worker thread",
          "[near]") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(),
                     {"--near-cache-size", "64mb", "--threads", "2", "--near-cache-prefix", "p:"});
  raw_client a(proxy.port());
  raw_client b(proxy.port());  // the next worker thread
  near_stats stats(proxy.port());
  const auto keys = keys_on_masters(cluster, "ryw", 2);
  const auto gets = keys_on_masters(cluster, "p:ryw", 2);

  SECTION("PGET family") {
    for (const auto& key : keys) {
      warm(a, stats, key, "v1");
      await_copies(stats, {&a, &b}, key, "v1");
      // PINVALIDATE through a: b's next PGET is not the copy's fresh v1 but a lease.
      REQUIRE(a.call({"PINVALIDATE", key}) == ":1\r\n");
      const auto lease = b.call({"PGET", key, "100", "10"});
      REQUIRE(is_lease(lease, std::string("v1")));
      REQUIRE(b.call({"PSET", key, *parse_pget(lease).token, "v2", "100", "10"}) == ":1\r\n");
      CHECK(a.call({"PGET", key, "100", "10"}) == fresh("v2"));
      // Pipelined behind the write, on the writer's own connection.
      a.send(encode({"PINVALIDATE", key}) + encode({"PGET", key, "100", "10"}));
      CHECK(a.read_reply() == ":1\r\n");
      CHECK(is_lease(a.read_reply(), std::string("v2")));
    }
  }
  SECTION("GET and MGET under the prefix, over two masters") {
    REQUIRE(a.call({"SET", gets[0], "x1"}) == "+OK\r\n");
    REQUIRE(a.call({"SET", gets[1], "y1"}) == "+OK\r\n");
    const std::string both = "*2\r\n" + bulk("x1") + bulk("y1");
    await(
        [&] {
          const long hits = stats.read().hits;
          for (auto* c : {&a, &b}) REQUIRE(c->call({"MGET", gets[0], gets[1]}) == both);
          return stats.read().hits - hits == 4;  // two keys on each worker
        },
        "copies on both workers");
    REQUIRE(a.call({"SET", gets[0], "x2"}) == "+OK\r\n");
    CHECK(b.call({"GET", gets[0]}) == bulk("x2"));
    // Pipelined: the write and the read in one go (a copy would answer y1).
    a.send(encode({"SET", gets[1], "y2"}) + encode({"MGET", gets[0], gets[1]}));
    CHECK(a.read_reply() == "+OK\r\n");
    CHECK(a.read_reply() == "*2\r\n" + bulk("x2") + bulk("y2"));
    // A transaction's writes, at EXEC.
    a.send(encode({"MULTI"}) + encode({"SET", gets[1], "y3"}) + encode({"EXEC"}) +
           encode({"GET", gets[1]}));
    CHECK(a.read_replies(4) == "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n" + bulk("y3"));
    CHECK(b.call({"MGET", gets[0], gets[1]}) == "*2\r\n" + bulk("x2") + bulk("y3"));
    // A delete, and DEL split across the two masters.
    a.send(encode({"DEL", gets[0], gets[1]}) + encode({"MGET", gets[0], gets[1]}));
    CHECK(a.read_reply() == ":2\r\n");
    CHECK(a.read_reply() == "*2\r\n$-1\r\n$-1\r\n");
  }
}

TEST_CASE("cluster near: a node's tracking connection killed drops every copy", "[near]") {
  two_copies t("kill", "a", "b");
  const auto ids = tracking_clients(t.node_a);
  REQUIRE(ids.size() == 1);  // one worker: one tracking connection per master
  REQUIRE(tracking_clients(t.node_b).size() == 1);

  const auto before = t.stats.read();
  REQUIRE(t.node_a.call({"CLIENT", "KILL", "ID", ids.front()}) == ":1\r\n");
  await([&] { return t.stats.read().entries == 0; }, "the copies dropped");
  CHECK(t.stats.read().invalidations - before.invalidations == 2);
  // What changed on A meanwhile is unknown: both keys are read from their nodes again, and
  // filled again (A's on a new tracking connection).
  reset_stats(t.node_a);
  reset_stats(t.node_b);
  CHECK(pget_call(t.c, t.keys[0]) == fresh("a"));
  CHECK(pget_call(t.c, t.keys[1]) == fresh("b"));
  await([&] { return t.stats.read().entries == 2; }, "the fills");
  CHECK(calls(t.node_a, "mget") == 2);  // the PGET's read, the fill's
  CHECK(calls(t.node_b, "mget") == 2);
  const auto now = tracking_clients(t.node_a);
  REQUIRE(now.size() == 1);
  CHECK(now.front() != ids.front());
  CHECK(tracking_clients(t.node_b).size() == 1);
  reset_stats(t.node_a);
  CHECK(pget_call(t.c, t.keys[0]) == fresh("a"));
  CHECK(pget_looks(t.node_a) == 0);
}

TEST_CASE("cluster near: a slot migrated under a copy: the new owner's value is read", "[near]") {
  redis_cluster cluster;
  // No periodic topology read during the test: the proxy learns of the move from -MOVED.
  proxy_server proxy(cluster.url(),
                     {"--near-cache-size", "64mb", "--threads", "1", "--near-cache-prefix",
                      "p:", "--cluster-refresh-interval-ms", "3600000"});
  raw_client c(proxy.port());
  near_stats stats(proxy.port());
  // `moving` on A, `staying` on B; the slot of `moving` goes to C.
  const auto keys = keys_on_masters(cluster, "mv", 3);
  const std::string moving = keys[0];
  const std::string staying = keys[1];
  const std::size_t to = cluster.owner_of(keys[2]);
  raw_client node_b(cluster.node(cluster.owner_of(staying)).port());
  raw_client node_to(cluster.node(to).port());
  // In the moving slot too: a GET copy of a key, and a key that does not exist.
  const std::string value_key = "p:{" + moving + "}v";
  const std::string missing_key = "p:{" + moving + "}none";
  warm(c, stats, moving, "old");
  warm(c, stats, staying, "stays");
  REQUIRE(c.call({"SET", value_key, "v1"}) == "+OK\r\n");
  CHECK(c.call({"GET", missing_key}) == "$-1\r\n");
  CHECK(c.call({"GET", value_key}) == bulk("v1"));
  // The two fills are read in order on A's tracking connection: once the second is stored, the
  // first was answered, and a missing key is not kept in front of a cluster.
  await([&] { return stats.read().entries == 3; }, "the GET fill");
  CHECK(c.call({"GET", value_key}) == bulk("v1"));
  const auto before = stats.read();
  CHECK(c.call({"GET", missing_key}) == "$-1\r\n");
  CHECK(stats.read().misses - before.misses == 1);

  cluster.move_slot(moving, to);
  // MIGRATE deleted the keys on A: A's invalidations drop their copies.
  await([&] { return stats.read().entries == 1; }, "A's invalidations of the migrated keys");
  write_on_node(node_to, moving, "new");
  REQUIRE(node_to.call({"SET", value_key, "v2"}) == "+OK\r\n");
  REQUIRE(node_to.call({"SET", missing_key, "born"}) == "+OK\r\n");  // no invalidation to A
  reset_stats(node_b);
  // The proxy still sends the slot to A, which answers -MOVED: the map is corrected, and every
  // copy of the worker dropped (the staying key's too: its node is asked again).
  CHECK(c.call({"GET", missing_key}) == bulk("born"));
  CHECK(pget_call(c, moving) == fresh("new"));
  CHECK(c.call({"GET", value_key}) == bulk("v2"));
  CHECK(pget_call(c, staying) == fresh("stays"));
  CHECK(wait_until([&] { return calls(node_b, "mget") == 2; }, 10s));  // the read and the fill
  // Copies again, filled on C's tracking connection, invalidated by C.
  await_copies(stats, {&c}, moving, "new");
  write_on_node(node_to, moving, "newer");
  await([&] { return pget_call(c, moving) == fresh("newer"); }, "C's invalidation");
}

TEST_CASE("cluster near: GET and MGET under the prefix over two masters", "[near]") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(),
                     {"--near-cache-size", "64mb", "--threads", "1", "--near-cache-prefix", "p:"});
  raw_client c(proxy.port());
  near_stats stats(proxy.port());
  const auto keys = keys_on_masters(cluster, "p:g", 2);
  raw_client node_a(cluster.node(cluster.owner_of(keys[0])).port());
  raw_client node_b(cluster.node(cluster.owner_of(keys[1])).port());
  REQUIRE(c.call({"SET", keys[0], "x"}) == "+OK\r\n");
  REQUIRE(c.call({"SET", keys[1], "y"}) == "+OK\r\n");
  const std::string outside = "x{" + keys[0] + "}";
  REQUIRE(c.call({"SET", outside, "z"}) == "+OK\r\n");
  const std::string both = "*2\r\n" + bulk("x") + bulk("y");
  CHECK(c.call({"MGET", keys[0], keys[1]}) == both);  // a miss: fills, one per key and node
  await([&] { return stats.read().entries == 2; }, "the fills");

  reset_stats(node_a);
  reset_stats(node_b);
  const auto before = stats.read();
  for (int i = 0; i < 5; ++i) {
    CHECK(c.call({"GET", keys[0]}) == bulk("x"));
    CHECK(c.call({"GET", keys[1]}) == bulk("y"));
    CHECK(c.call({"MGET", keys[0], keys[1]}) == both);
    CHECK(c.call({"MGET", keys[1], keys[0], keys[1]}) ==
          "*3\r\n" + bulk("y") + bulk("x") + bulk("y"));
  }
  CHECK(stats.read().hits - before.hits == 35);
  for (auto* node : {&node_a, &node_b}) {
    CHECK(calls(*node, "get") == 0);
    CHECK(calls(*node, "mget") == 0);
  }
  // A key outside the prefix (in the same slot): the MGET goes to the node.
  CHECK(c.call({"MGET", keys[0], outside}) == "*2\r\n" + bulk("x") + bulk("z"));
  CHECK(calls(node_a, "mget") == 1);
  // Written on A: A's invalidation; B's copy stays.
  REQUIRE(node_a.call({"SET", keys[0], "x2"}) == "+OK\r\n");
  await([&] { return c.call({"GET", keys[0]}) == bulk("x2"); }, "A's invalidation");
  await([&] { return stats.read().entries == 2; }, "A's key filled again");
  reset_stats(node_a);
  reset_stats(node_b);
  CHECK(c.call({"MGET", keys[0], keys[1]}) == "*2\r\n" + bulk("x2") + bulk("y"));
  CHECK(calls(node_a, "mget") + calls(node_b, "mget") == 0);
  // A RESP3 client is served by the nodes (GET copies are RESP2 replies).
  raw_client r3(proxy.port());
  REQUIRE(r3.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
  CHECK(r3.call({"GET", keys[1]}) == bulk("y"));
  CHECK(calls(node_b, "get") == 1);
}

TEST_CASE("cluster near: concurrent misses of one key cost its node one read", "[near]") {
  // Forced deterministically: the key's master is reached through a relay (it announces the
  // relay's port to the cluster), which holds the first reader's MGET back until every other
  // client's PGET has been taken in.
  redis_cluster cluster;
  const std::string key = "hot";
  const std::size_t owner = cluster.owner_of(key);
  fault_relay relay(cluster.node(owner).port());
  raw_client node(cluster.node(owner).port());
  REQUIRE(node.call({"CONFIG", "SET", "cluster-announce-port", std::to_string(relay.port())}) ==
          "+OK\r\n");
  const std::string relayed = ":" + std::to_string(relay.port()) + "\r\n";
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    raw_client n(cluster.node(i).port());
    await(
        [&] {
          return n.call({"CLUSTER", "SLOTS"}).find(relayed) != std::string::npos;
        },
        "every node announcing the relay for the key's master");
  }
  proxy_server proxy(cluster.url(), one_worker);
  raw_client setup(proxy.port());
  near_stats stats(proxy.port());
  const auto lease = pget(setup, {key, "100", "10"});
  REQUIRE(lease.token);
  REQUIRE(setup.call({"PSET", key, *lease.token, "v1", "100", "10"}) == ":1\r\n");
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<raw_client>(proxy.port()));
  reset_stats(node);
  const auto before = stats.read();

  relay.blackhole(true);  // the first reader's MGET waits in the relay
  for (auto& c : clients) c->send(encode({"PGET", key, "100", "10"}));
  // Every PGET has missed the (empty) near cache and joined the first one's read.
  await([&] { return stats.read().misses >= before.misses + 50; }, "50 misses");
  relay.blackhole(false);
  for (auto& c : clients) CHECK(c->read_reply() == fresh("v1"));
  // One read for all fifty, and one more on the tracking connection to fill the copy.
  await([&] { return stats.read().entries == 1; }, "the copy filled");
  CHECK(calls(node, "mget") == 2);
  CHECK(calls(node, "evalsha") + calls(node, "eval") == 0);
  // Now they are hits: no command at all.
  for (auto& c : clients) CHECK(c->call({"PGET", key, "100", "10"}) == fresh("v1"));
  CHECK(calls(node, "mget") == 2);
}
