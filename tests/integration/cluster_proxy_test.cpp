// puppy-proxy in front of a real 3-master Redis Cluster (redis-cluster://): plain clients see one
// Redis but for the differences docs/cluster.md lists.
#include <catch2/catch.hpp>
#include <set>

#include "client.hpp"
#include "corpus.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// Corpus files whose subject a cluster behind the proxy does not serve as one Redis does.
const std::set<std::string> not_for_cluster = {
    "14b-databases.redis",  // a cluster has database 0 only (SELECT 1: the cluster's error)
    "15-server.redis",      // CONFIG, ACL, CLIENT, WAIT, ROLE: one node's, not one Redis's
};

std::string base_name(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

}  // namespace

TEST_CASE("cluster: the corpus through the proxy in front of a cluster equals one Redis") {
  redis_cluster cluster;
  redis_server direct;
  proxy_server proxy(cluster.url());
  corpus_runner r(direct.port(), proxy.port());
  r.set_cluster_keys(true);
  std::vector<std::uint16_t> nodes;
  for (std::size_t i = 0; i < cluster.size(); ++i) nodes.push_back(cluster.node(i).port());
  r.set_redis_ports(direct.port(), nodes);
  auto files = corpus_files(PUPPY_CORPUS_DIR);
  for (const auto& f : corpus_files(PUPPY_CLUSTER_CORPUS_DIR)) files.push_back(f);
  std::size_t run = 0;
  for (const auto& f : files) {
    if (not_for_cluster.count(base_name(f)) > 0) continue;
    ++run;
    SECTION(base_name(f)) {
      r.run_file(f);
    }
  }
  CHECK(run >= 13);
}

TEST_CASE("cluster: SCAN through the proxy visits every key of every master exactly once") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  std::set<std::string> written;
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "scan:" + std::to_string(i);
    REQUIRE(c.call({"SET", k, "v"}) == "+OK\r\n");
    written.insert(k);
  }
  std::multiset<std::string> seen;
  std::string cursor = "0";
  int calls = 0;
  do {
    const std::string r = c.call({"SCAN", cursor, "MATCH", "scan:*", "COUNT", "37"});
    REQUIRE(r.rfind("*2\r\n", 0) == 0);
    const auto header_end = r.find("\r\n", 4);
    const auto len = std::stoul(r.substr(5, header_end - 5));
    cursor = r.substr(header_end + 2, len);
    for (const auto& k : bulk_strings(r.substr(header_end + 2 + len + 2))) seen.insert(k);
    ++calls;
    REQUIRE(calls < 10000);
  } while (cursor != "0");
  CHECK(seen.size() == written.size());
  CHECK(std::set<std::string>(seen.begin(), seen.end()) == written);
  CHECK(calls >= 3);  // at least one page per master
  // A cursor the proxy did not make is refused as Redis refuses one.
  CHECK(c.call({"SCAN", "x"}) == "-ERR invalid cursor\r\n");
  CHECK(c.call({"SCAN", std::to_string((5ull << 10) | 1000)}) == "-ERR invalid cursor\r\n");
}

TEST_CASE("cluster: multi-key commands across slots: split in the client's order, or CROSSSLOT") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  std::string want = "*41\r\n";
  for (int i = 0; i < 40; ++i) {
    const std::string k = "m" + std::to_string(i);
    if (i % 3 != 0) {
      mset.insert(mset.end(), {k, "v" + std::to_string(i)});
      want += "$" + std::to_string(("v" + std::to_string(i)).size()) + "\r\nv" + std::to_string(i) +
              "\r\n";
    } else {
      want += "$-1\r\n";
    }
    mget.push_back(k);
  }
  mget.push_back("m1");
  want += "$2\r\nv1\r\n";
  REQUIRE(c.call(mset) == "+OK\r\n");
  CHECK(c.call(mget) == want);
  CHECK(c.call({"EXISTS", "m1", "m2", "m3", "m1", "nothing"}) == ":3\r\n");
  CHECK(c.call({"DEL", "m1", "m2", "m3", "nothing"}) == ":2\r\n");
  CHECK(c.call({"SUNION", "a", "b"}) ==
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
  CHECK(c.call({"SUNION", "{t}a", "{t}b"}) == "*0\r\n");
  CHECK(c.call({"SELECT", "1"}) == "-ERR SELECT is not allowed in cluster mode\r\n");
  CHECK(c.call({"SELECT", "0"}) == "+OK\r\n");
  CHECK(c.call({"HELLO", "4"}) == "-NOPROTO unsupported protocol version\r\n");
  // The proxy logs in to the nodes itself (here with no password): AUTH is checked against that.
  CHECK(c.call({"AUTH", "x"}).rfind("-ERR AUTH <password> called without any password", 0) == 0);
}

TEST_CASE("cluster: a master that cannot be reached: its requests retried, then a clear error") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(), {"--cluster-retry-timeout-ms", "300"});
  raw_client c(proxy.port());
  std::string key;
  for (int i = 0; key.empty(); ++i) {
    if (cluster.owner_of("k" + std::to_string(i)) == 0) key = "k" + std::to_string(i);
  }
  REQUIRE(c.call({"SET", key, "v"}) == "+OK\r\n");
  cluster.node(0).kill();
  // Refused connections: retried (topology read again) until the deadline, then the error.
  const std::string r = c.call({"GET", key});
  CHECK(r.rfind("-ERR upstream unavailable (", 0) == 0);
  const std::string stats = c.call({"PUPPY", "STATS"});
  const auto at = stats.find("\npuppy_cluster_retries_total ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stol(stats.substr(at + 29)) >= 2);
}

TEST_CASE("cluster: a slot migrating and migrated: -ASK and -MOVED never reach the client") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  // Keys of one slot ({mig}), some moved to another node while the slot is migrating.
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) {
    keys.push_back("{mig}" + std::to_string(i));
    REQUIRE(c.call({"SET", keys.back(), "v" + std::to_string(i)}) == "+OK\r\n");
  }
  const std::size_t from = cluster.owner_of(keys.front());
  const std::size_t to = (from + 1) % cluster.size();
  raw_client src(cluster.node(from).port());
  raw_client dst(cluster.node(to).port());
  const std::string slot_reply = src.call({"CLUSTER", "KEYSLOT", keys.front()});
  const std::string slot = slot_reply.substr(1, slot_reply.size() - 3);
  REQUIRE(dst.call({"CLUSTER", "SETSLOT", slot, "IMPORTING", cluster.node_id(from)}) == "+OK\r\n");
  REQUIRE(src.call({"CLUSTER", "SETSLOT", slot, "MIGRATING", cluster.node_id(to)}) == "+OK\r\n");
  std::vector<std::string> migrate = {
      "MIGRATE", "127.0.0.1", std::to_string(cluster.node(to).port()), "", "0", "5000", "KEYS"};
  for (int i = 0; i < 5; ++i) migrate.push_back(keys[i]);
  REQUIRE(src.call(migrate) == "+OK\r\n");
  // Half the keys are on the target now: the source answers -ASK for them.
  REQUIRE(src.call({"GET", keys[0]}).rfind("-ASK ", 0) == 0);
  for (int i = 0; i < 10; ++i) {
    INFO(keys[i]);
    CHECK(c.call({"GET", keys[i]}) == "$2\r\nv" + std::to_string(i) + "\r\n");
  }
  // A new key of the migrating slot goes where the source sends it (ASK: the target).
  CHECK(c.call({"SET", "{mig}new", "n"}) == "+OK\r\n");
  CHECK(c.call({"GET", "{mig}new"}) == "$1\r\nn\r\n");
  // The migration ends: every node is told the slot's new owner; the proxy's map is stale.
  std::vector<std::string> rest = {
      "MIGRATE", "127.0.0.1", std::to_string(cluster.node(to).port()), "", "0", "5000", "KEYS"};
  for (int i = 5; i < 10; ++i) rest.push_back(keys[i]);
  REQUIRE(src.call(rest) == "+OK\r\n");
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    raw_client n(cluster.node(i).port());
    REQUIRE(n.call({"CLUSTER", "SETSLOT", slot, "NODE", cluster.node_id(to)}) == "+OK\r\n");
  }
  for (int i = 0; i < 10; ++i) {
    INFO(keys[i]);
    CHECK(c.call({"GET", keys[i]}) == "$2\r\nv" + std::to_string(i) + "\r\n");
  }
  CHECK(c.call({"MGET", keys[0], keys[9], "{mig}new"}) ==
        "*3\r\n$2\r\nv0\r\n$2\r\nv9\r\n$1\r\nn\r\n");
  // The redirections were there, and followed.
  const std::string stats = c.call({"PUPPY", "STATS"});
  INFO(stats);
  const auto counter = [&stats](const std::string& name) {
    const auto at = stats.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stol(stats.substr(at + name.size() + 2));
  };
  CHECK(counter("puppy_cluster_ask_total") >= 5);
  CHECK(counter("puppy_cluster_moved_total") >= 1);
}
