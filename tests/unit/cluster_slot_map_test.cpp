// cluster::slot_map from CLUSTER SLOTS bytes, and reading -MOVED / -ASK.
#include <catch2/catch.hpp>
#include <string>

#include "puppy/cluster/slot_map.hpp"

using namespace puppy::cluster;

namespace {

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
std::string node_bytes(const std::string& host, int port, const std::string& id) {
  return "*3\r\n" + bulk(host) + ":" + std::to_string(port) + "\r\n" + bulk(id);
}

}  // namespace

TEST_CASE("cluster: a slot map from CLUSTER SLOTS, replicas and the asked node's empty host") {
  // Three masters; the second range of the first master; one replica; one empty host.
  const std::string reply =
      "*4\r\n"
      "*4\r\n:0\r\n:5460\r\n" +
      node_bytes("127.0.0.1", 7001, "a") + node_bytes("127.0.0.1", 7004, "d") +
      "*3\r\n:5461\r\n:10922\r\n" + node_bytes("", 7002, "b") + "*3\r\n:10923\r\n:16000\r\n" +
      node_bytes("127.0.0.1", 7003, "c") + "*3\r\n:16001\r\n:16383\r\n" +
      node_bytes("127.0.0.1", 7001, "a");
  std::string error;
  const auto map = slot_map::from_cluster_slots(reply, "10.0.0.9", &error);
  REQUIRE(map);
  CHECK(error.empty());
  CHECK(map->complete());
  REQUIRE(map->masters().size() == 3);
  CHECK(map->master_of(0)->address() == "127.0.0.1:7001");
  CHECK(map->master_of(5460)->address() == "127.0.0.1:7001");
  CHECK(map->master_of(5461)->address() == "10.0.0.9:7002");  // the asked node's host
  CHECK(map->master_of(16000)->port == 7003);
  CHECK(map->master_of(16383)->id == "a");
  REQUIRE(map->replicas_of(100).size() == 1);
  CHECK(map->replicas_of(100)[0].port == 7004);
  CHECK(map->replicas_of(16383).size() == 1);  // the same master's other range
  CHECK(map->replicas_of(6000).empty());
  CHECK(map->master_of(16384) == nullptr);
}

TEST_CASE("cluster: gaps, MOVED updates, and replies that are not CLUSTER SLOTS") {
  std::string error;
  auto map = slot_map::from_cluster_slots("*1\r\n*3\r\n:0\r\n:100\r\n" + node_bytes("h", 1, "x"),
                                          "asked", &error);
  REQUIRE(map);
  CHECK_FALSE(map->complete());
  CHECK(map->master_of(101) == nullptr);
  map->moved(101, node{"h2", 2, ""});
  CHECK(map->master_of(101)->address() == "h2:2");
  CHECK(map->masters().size() == 2);
  map->moved(50, node{"h", 1, ""});  // an existing master: no new entry
  CHECK(map->masters().size() == 2);
  CHECK(slot_map::from_cluster_slots("*0\r\n", "a", &error)->masters().empty());

  for (const std::string& bad :
       {std::string("-ERR This instance has cluster support disabled\r\n"), std::string("+OK\r\n"),
        std::string("*1\r\n*2\r\n:0\r\n:1\r\n"),
        "*1\r\n*3\r\n:5\r\n:4\r\n" + node_bytes("h", 1, "x"),
        "*1\r\n*3\r\n:0\r\n:16384\r\n" + node_bytes("h", 1, "x"),
        "*1\r\n*3\r\n:0\r\n:1\r\n" + node_bytes("h", 0, "x"), std::string("*1\r\n")}) {
    INFO(bad);
    std::string e;
    CHECK_FALSE(slot_map::from_cluster_slots(bad, "a", &e));
    CHECK_FALSE(e.empty());
  }
}

TEST_CASE("cluster: two maps with the same owner for every slot, whatever the masters' order") {
  std::string error;
  const std::string a = node_bytes("127.0.0.1", 7001, "a");
  const std::string b = node_bytes("127.0.0.1", 7002, "b");
  const auto map = slot_map::from_cluster_slots(
      "*2\r\n*3\r\n:0\r\n:99\r\n" + a + "*3\r\n:100\r\n:16383\r\n" + b, "x", &error);
  // The same ranges listed the other way round: the masters come in the other order.
  const auto reordered = slot_map::from_cluster_slots(
      "*2\r\n*3\r\n:100\r\n:16383\r\n" + b + "*3\r\n:0\r\n:99\r\n" + a, "x", &error);
  REQUIRE(map);
  REQUIRE(reordered);
  CHECK(map->same_owners(*reordered));
  CHECK(reordered->same_owners(*map));
  auto moved = *map;
  moved.moved(99, node{"127.0.0.1", 7002, ""});  // the last slot of a, to b
  CHECK_FALSE(map->same_owners(moved));
  CHECK_FALSE(moved.same_owners(*map));
  moved.moved(99, node{"127.0.0.1", 7001, ""});  // and back
  CHECK(map->same_owners(moved));
  auto third = *map;
  third.moved(16383, node{"127.0.0.1", 7003, ""});  // to a master the other map does not have
  CHECK_FALSE(map->same_owners(third));
  CHECK_FALSE(third.same_owners(*map));
  // A slot served in one map and not in the other.
  const auto gap = slot_map::from_cluster_slots(
      "*2\r\n*3\r\n:0\r\n:98\r\n" + a + "*3\r\n:100\r\n:16383\r\n" + b, "x", &error);
  REQUIRE(gap);
  CHECK_FALSE(map->same_owners(*gap));
  CHECK_FALSE(gap->same_owners(*map));
  CHECK(gap->same_owners(*gap));
  // Served by a master the other map does not know, where the other serves it by none.
  auto elsewhere = *gap;
  elsewhere.moved(99, node{"127.0.0.1", 7003, ""});
  auto unserved = *gap;
  CHECK_FALSE(elsewhere.same_owners(unserved));
}

TEST_CASE("cluster: -MOVED and -ASK read, anything else refused") {
  const auto m = parse_redirect("-MOVED 3999 127.0.0.1:6381\r\n");
  REQUIRE(m);
  CHECK(m->what == redirect::kind::moved);
  CHECK(m->slot == 3999);
  CHECK(m->to.address() == "127.0.0.1:6381");
  const auto a = parse_redirect("ASK 16383 ::1:7000");
  REQUIRE(a);
  CHECK(a->what == redirect::kind::ask);
  CHECK(a->slot == 16383);
  CHECK(a->to.host == "::1");
  CHECK(a->to.port == 7000);
  const auto empty_host = parse_redirect("-MOVED 1 :7000\r\n");
  REQUIRE(empty_host);
  CHECK(empty_host->to.host.empty());
  for (const char* bad :
       {"-ERR wrong", "-MOVED", "-MOVED 3999", "-MOVED 16384 h:1", "-MOVED -1 h:1", "-MOVED 1 h",
        "-MOVED 1 h:0", "-MOVED 1 h:65536", "-MOVED x h:1", "-MOVED 1 h:1 extra",
        "-TRYAGAIN Multiple keys", "-CLUSTERDOWN down"}) {
    INFO(bad);
    CHECK_FALSE(parse_redirect(bad));
  }
}
