// What near-cache copies answer and which write generations a command moves
// (cache/near_answer.hpp), with an injected clock: BETA's early refresh at its edge, GET/MGET
// answered only when every key has a copy, and the write notes of read-only, writing, unknown
// and FLUSHALL-like commands.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "near_test_support.hpp"
#include "puppy/cache/near_answer.hpp"

using namespace puppy::cache;
using puppy::test::t0;
using clock_type = near_cache::clock;
using namespace std::chrono_literals;

namespace {

struct fixture : puppy::test::near_fixture {
  void pget_copy_of(std::string_view key, std::string_view value, std::int64_t compute_ms,
                    clock_type::time_point until) {
    REQUIRE(cache.store(space::pget, key, value, false, compute_ms, until, taken(key)));
  }
  void get_copy_of(std::string_view key, std::string_view value, bool nil = false) {
    REQUIRE(cache.store(space::get, key, value, nil, 0, t0 + 60s, taken(key)));
  }
};

std::vector<std::string_view> views(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("near answer: a PGET copy answers fresh; BETA refreshes early from its deadline") {
  fixture f;
  f.pget_copy_of("k", "v", 100, t0 + 1000ms);  // compute 100 ms, 1000 ms left at t0
  SECTION("without BETA") {
    const auto c = pget_copy(f.cache, "k", 0, t0);
    REQUIRE(c);
    CHECK(c->value == "v");
    CHECK(f.stats.hits.value() == 1);
  }
  SECTION("BETA's factor below the edge: 100 * 9.99 < 1000") {
    CHECK(pget_copy(f.cache, "k", 9.99, t0));
  }
  SECTION("at the edge: 100 * 10 >= 1000, the lease is taken early from Redis") {
    CHECK_FALSE(pget_copy(f.cache, "k", 10, t0));
    CHECK(f.cache.entries() == 1);  // the copy stays for readers without BETA
  }
  SECTION("the edge comes closer as the deadline does: 100 * 2 >= 200") {
    CHECK(pget_copy(f.cache, "k", 2, t0 + 799ms));
    CHECK_FALSE(pget_copy(f.cache, "k", 2, t0 + 800ms));
  }
  SECTION("no copy, or past its deadline") {
    CHECK_FALSE(pget_copy(f.cache, "other", 0, t0));
    CHECK_FALSE(pget_copy(f.cache, "k", 0, t0 + 1000ms));
    CHECK(f.stats.misses.value() == 2);
  }
}

TEST_CASE("near answer: keys under the prefixes") {
  const std::vector<std::string> prefixes = {"config:", "s:"};
  CHECK(under_prefix("config:a", prefixes));
  CHECK(under_prefix("config:", prefixes));
  CHECK(under_prefix("s:x", prefixes));
  CHECK_FALSE(under_prefix("config", prefixes));
  CHECK_FALSE(under_prefix("x:config:a", prefixes));
  CHECK_FALSE(under_prefix("a", {}));
}

TEST_CASE("near answer: which GET and MGET copies may answer") {
  using args = std::vector<std::string_view>;
  const std::vector<std::string> prefixes = {"config:", "s:"};
  CHECK(get_eligible(args{"GET", "config:a"}, false, false, prefixes));
  CHECK(get_eligible(args{"mget", "config:a", "s:b", "s:b"}, true, false, prefixes));
  CHECK(get_eligible(args{"MGET", "s:"}, true, false, prefixes));
  // One key not under a prefix sends the whole command to Redis.
  CHECK_FALSE(get_eligible(args{"MGET", "config:a", "other"}, true, false, prefixes));
  CHECK_FALSE(get_eligible(args{"GET", "other"}, false, false, prefixes));
  // Wrong arity is Redis's to answer (its error).
  CHECK_FALSE(get_eligible(args{"GET"}, false, false, prefixes));
  CHECK_FALSE(get_eligible(args{"GET", "config:a", "config:b"}, false, false, prefixes));
  CHECK_FALSE(get_eligible(args{"MGET"}, true, false, prefixes));
  // RESP3 clients, and no prefixes at all.
  CHECK_FALSE(get_eligible(args{"GET", "config:a"}, false, true, prefixes));
  CHECK_FALSE(get_eligible(args{"GET", "config:a"}, false, false, {}));
}

TEST_CASE("near answer: GET and MGET from copies, only when every key has one") {
  fixture f;
  f.get_copy_of("a", "1");
  f.get_copy_of("gone", "", true);
  std::string reply = "before";
  std::vector<std::string_view> missing;
  const std::vector<std::string> get_a = {"GET", "a"};
  CHECK(get_reply(f.cache, views(get_a), false, t0, &reply, &missing));
  CHECK(reply == "before$1\r\n1\r\n");
  CHECK(missing.empty());

  reply.clear();
  const std::vector<std::string> both = {"MGET", "gone", "a", "a"};
  CHECK(get_reply(f.cache, views(both), true, t0, &reply, &missing));
  CHECK(reply == "*3\r\n$-1\r\n$1\r\n1\r\n$1\r\n1\r\n");

  reply = "kept";
  const std::vector<std::string> some = {"MGET", "x", "a", "y"};
  CHECK_FALSE(get_reply(f.cache, views(some), true, t0, &reply, &missing));
  CHECK(reply == "kept");
  CHECK(missing == std::vector<std::string_view>{"x", "y"});
  // Every key was looked up: 1 + 3 + 1 hits, 2 misses.
  CHECK(f.stats.hits.value() == 5);
  CHECK(f.stats.misses.value() == 2);
}

TEST_CASE("near answer: the write generations a command moves") {
  const auto spec = [](const char* name) { return puppy::resp::lookup_command(name); };
  const std::vector<std::string> set = {"SET", "k", "v"};
  const std::vector<std::string> get = {"GET", "k"};
  const std::vector<std::string> flush = {"FLUSHALL"};
  const std::vector<std::string> unknown = {"X.WRITE", "k"};
  const std::string long_key(near_cache::max_key_size + 1, 'k');
  const std::string edge_key(near_cache::max_key_size, 'k');
  const std::vector<std::string> long_args = {"SET", long_key, edge_key};

  CHECK(writes_of(spec("get"), views(get)).empty());
  const auto w = writes_of(spec("set"), views(set));
  CHECK_FALSE(w.all);
  CHECK(w.slots == std::vector<std::size_t>{write_gens::slot_of("k"), write_gens::slot_of("v")});
  CHECK(writes_of(spec("flushall"), views(flush)).all);
  CHECK(writes_of(spec("x.write"), views(unknown)).slots ==
        std::vector<std::size_t>{write_gens::slot_of("k")});
  CHECK(writes_of(spec("set"), views(set), false).all);  // arguments not known: everything
  // Arguments longer than a cached key cannot be one (limit - 1 is kept, limit + 1 not).
  CHECK(writes_of(spec("set"), views(long_args)).slots ==
        std::vector<std::size_t>{write_gens::slot_of(edge_key)});
  CHECK(pget_writes("k", "puppy:{k}").slots ==
        std::vector<std::size_t>{write_gens::slot_of("k"), write_gens::slot_of("puppy:{k}")});

  write_gens gens;
  write_note txn;
  txn.add(w);
  txn.add(writes_of(spec("flushall"), views(flush)));
  const auto k = write_gens::slot_of("k");
  txn.bump(gens);
  CHECK(gens.gen(k) == 1);
  CHECK(gens.epoch() == 1);
  txn.clear();
  CHECK(txn.empty());
}
