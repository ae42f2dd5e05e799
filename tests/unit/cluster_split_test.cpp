// cluster::plan_split / merge_replies: multi-key commands split per hash slot and merged back.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/cluster/slot.hpp"
#include "puppy/cluster/split.hpp"

using namespace puppy::cluster;

TEST_CASE("cluster split: one part per slot, keys grouped, requests as RESP") {
  // {a}x and {a}y share a slot; b and c (almost surely) do not.
  REQUIRE(key_slot("b") != key_slot("c"));
  REQUIRE(key_slot("{a}x") != key_slot("b"));
  const auto plan = plan_split({"MGET", "{a}x", "b", "{a}y", "c"});
  REQUIRE(plan);
  CHECK(plan->how == split_plan::merge::values_in_order);
  CHECK(plan->keys == 4);
  REQUIRE(plan->parts.size() == 3);
  CHECK(plan->parts[0].slot == key_slot("{a}x"));
  CHECK(plan->parts[0].request == "*3\r\n$4\r\nMGET\r\n$4\r\n{a}x\r\n$4\r\n{a}y\r\n");
  CHECK(plan->parts[0].positions == std::vector<std::size_t>{0, 2});
  CHECK(plan->parts[1].request == "*2\r\n$4\r\nMGET\r\n$1\r\nb\r\n");
  CHECK(plan->parts[2].positions == std::vector<std::size_t>{3});

  const auto mset = plan_split({"mset", "b", "1", "c", "2", "{b}z", "3"});
  REQUIRE(mset);
  CHECK(mset->how == split_plan::merge::all_ok);
  REQUIRE(mset->parts.size() == 2);
  CHECK(mset->parts[0].request ==
        "*5\r\n$4\r\nmset\r\n$1\r\nb\r\n$1\r\n1\r\n$4\r\n{b}z\r\n$1\r\n3\r\n");
  for (const char* name : {"DEL", "unlink", "Exists", "TOUCH"}) {
    const auto p = plan_split({name, "b", "c", "b"});
    REQUIRE(p);
    CHECK(p->how == split_plan::merge::integer_sum);
    CHECK(p->parts.size() == 2);
    CHECK(p->parts[0].positions.size() == 2);  // duplicates kept: EXISTS b b counts 2
  }
  // Not split: other commands, wrong arity (a node refuses it as Redis would).
  CHECK_FALSE(plan_split({"GET", "a"}));
  CHECK_FALSE(plan_split({"MGET"}));
  CHECK_FALSE(plan_split({"MSET", "a"}));
  CHECK_FALSE(plan_split({"MSET", "a", "1", "b"}));
  CHECK_FALSE(plan_split({}));
}

TEST_CASE("cluster split: replies merged in the client's order, errors passed on") {
  const auto plan = plan_split({"MGET", "{a}x", "b", "{a}y", "c"});
  REQUIRE(plan);
  CHECK(merge_replies(
            *plan, {"*2\r\n$2\r\nax\r\n$-1\r\n", "*1\r\n$0\r\n\r\n", "*1\r\n$5\r\nc\r\nc!\r\n"}) ==
        "*4\r\n$2\r\nax\r\n$0\r\n\r\n$-1\r\n$5\r\nc\r\nc!\r\n");
  CHECK(merge_replies(*plan, {"*2\r\n_\r\n_\r\n", "*1\r\n_\r\n", "*1\r\n_\r\n"}) ==
        "*4\r\n_\r\n_\r\n_\r\n_\r\n");  // RESP3 nulls forwarded as they came
  CHECK(merge_replies(*plan, {"*2\r\n$-1\r\n$-1\r\n", "-MOVED 1 h:1\r\n", "*1\r\n$-1\r\n"}) ==
        "-MOVED 1 h:1\r\n");
  const std::string bad = "-ERR unexpected reply from a cluster node\r\n";
  CHECK(merge_replies(*plan, {"*1\r\n$-1\r\n", "*1\r\n$-1\r\n", "*1\r\n$-1\r\n"}) == bad);
  CHECK(merge_replies(*plan, {"*2\r\n$3\r\nab\r\n$-1\r\n", "*1\r\n$-1\r\n", "*1\r\n$-1\r\n"}) ==
        bad);
  CHECK(merge_replies(*plan, {"*2\r\n$-1\r\n$-1\r\n"}) == bad);  // a part missing

  const auto del = plan_split({"DEL", "b", "c", "b"});
  CHECK(merge_replies(*del, {":2\r\n", ":1\r\n"}) == ":3\r\n");
  CHECK(merge_replies(*del, {":2\r\n", "+OK\r\n"}) == bad);
  const auto mset = plan_split({"MSET", "b", "1", "c", "2"});
  CHECK(merge_replies(*mset, {"+OK\r\n", "+OK\r\n"}) == "+OK\r\n");
  CHECK(merge_replies(*mset, {"+OK\r\n", "-OOM no memory\r\n"}) == "-OOM no memory\r\n");
}
