// The near cache (cache/near_cache.hpp) with an injected clock: deadlines, write generations,
// invalidation of both spaces, the byte budget at its edge, S3-FIFO's admission and second
// chances, and fills in flight.
#include <catch2/catch.hpp>
#include <string>

#include "near_test_support.hpp"
#include "puppy/cache/near_cache.hpp"

using namespace puppy::cache;
using puppy::test::t0;
using clock_type = near_cache::clock;
using namespace std::chrono_literals;

namespace {

struct fixture : puppy::test::near_fixture {
  using near_fixture::near_fixture;
  bool put(std::string_view key, std::string_view value, clock_type::time_point until = t0 + 60s) {
    return cache.store(space::pget, key, value, false, 5, until,
                       taken(key, "puppy:" + std::string(key)));
  }
  bool has(std::string_view key, clock_type::time_point now = t0) {
    return cache.find(space::pget, key, now).has_value();
  }
};

// Charge of an entry with a key of `k` bytes and a value of `v` bytes.
std::size_t charge(std::size_t k, std::size_t v) {
  return 1 + k + v + near_cache::entry_overhead;
}

}  // namespace

TEST_CASE("near cache: a copy answers until its deadline, then is dropped") {
  fixture f;
  REQUIRE(f.put("k", "value", t0 + 10s));
  const auto c = f.cache.find(space::pget, "k", t0 + 10s - 1ms);
  REQUIRE(c);
  CHECK(c->value == "value");
  CHECK(c->compute_ms == 5);
  CHECK(c->fresh_until == t0 + 10s);
  CHECK_FALSE(f.has("k", t0 + 10s));  // at the deadline: gone
  CHECK(f.cache.entries() == 0);
  CHECK(f.cache.bytes() == 0);
  CHECK(f.stats.entries.value() == 0);
  CHECK(f.stats.hits.value() == 1);
  CHECK(f.stats.misses.value() == 1);
}

TEST_CASE("near cache: GET copies end with the key's expiry, may be nil, apart from PGET's") {
  fixture f;
  const stamp s = f.taken("g");
  REQUIRE(f.cache.store(space::get, "g", "", true, 0, clock_type::time_point::max(), s));
  const auto c = f.cache.find(space::get, "g", t0 + 1000h);
  REQUIRE(c);
  CHECK(c->nil);
  CHECK_FALSE(f.cache.find(space::pget, "g", t0));
  // A key with a TTL: the copy ends when the key does.
  REQUIRE(f.cache.store(space::get, "t", "v", false, 0, t0 + 300ms, f.taken("t")));
  CHECK(f.cache.find(space::get, "t", t0 + 299ms));
  CHECK_FALSE(f.cache.find(space::get, "t", t0 + 300ms));
}

TEST_CASE("near cache: a write through the proxy (a generation bump) makes a copy unusable") {
  fixture f;
  REQUIRE(f.put("k", "v"));
  f.gens.bump(write_gens::slot_of("k"));
  CHECK_FALSE(f.has("k"));
  REQUIRE(f.put("k", "v"));
  f.gens.bump(write_gens::slot_of("puppy:k"));  // a write of the status key
  CHECK_FALSE(f.has("k"));
  REQUIRE(f.put("k", "v"));
  f.gens.bump_epoch();  // FLUSHALL
  CHECK_FALSE(f.has("k"));
  // A fill that started before a write is refused.
  const stamp before = f.taken("k", "puppy:k");
  f.gens.bump(write_gens::slot_of("k"));
  CHECK_FALSE(f.cache.store(space::pget, "k", "old", false, 0, t0 + 60s, before));
  CHECK(f.cache.entries() == 0);
  // Other keys are not touched (unless they share a slot).
  REQUIRE(f.put("a", "1"));
  f.gens.bump(write_gens::slot_of("b"));
  if (write_gens::slot_of("a") != write_gens::slot_of("b")) CHECK(f.has("a"));
}

TEST_CASE("near cache: an invalidation drops the key in both spaces") {
  fixture f;
  REQUIRE(f.put("k", "v"));
  REQUIRE(f.cache.store(space::get, "k", "v", false, 0, {}, f.taken("k")));
  REQUIRE(f.put("other", "v"));
  CHECK(f.cache.invalidate("k") == 2);
  CHECK(f.cache.invalidate("k") == 0);
  CHECK(f.stats.invalidations.value() == 2);
  CHECK_FALSE(f.has("k"));
  CHECK(f.has("other"));
  f.cache.clear();
  CHECK(f.cache.entries() == 0);
  CHECK(f.cache.bytes() == 0);
  CHECK(f.stats.invalidations.value() == 3);
}

TEST_CASE("near cache: the byte budget at its edge") {
  const std::size_t each = charge(2, 10);  // keys "k0".."k9", values of 10 bytes
  SECTION("budget-1, budget, budget+1 for one entry") {
    fixture under(each - 1);
    CHECK_FALSE(under.put("k0", std::string(10, 'x')));
    fixture exact(each);
    CHECK(exact.put("k0", std::string(10, 'x')));
    CHECK(exact.cache.bytes() == each);
    fixture over(each + 1);
    CHECK(over.put("k0", std::string(10, 'x')));
  }
  SECTION("never more than the budget; the oldest unread entries go first") {
    fixture f(4 * each);
    for (int i = 0; i < 10; ++i) {
      REQUIRE(f.put("k" + std::to_string(i), std::string(10, 'x')));
      CHECK(f.cache.bytes() <= 4 * each);
    }
    CHECK(f.cache.entries() == 4);
    CHECK(f.stats.evictions.value() == 6);
    for (int i = 6; i < 10; ++i) CHECK(f.has("k" + std::to_string(i)));
  }
  SECTION("a key longer than max_key_size is not cached") {
    fixture f;
    CHECK(f.put(std::string(near_cache::max_key_size, 'a'), "v"));
    CHECK_FALSE(f.put(std::string(near_cache::max_key_size + 1, 'a'), "v"));
  }
}

TEST_CASE("near cache: S3-FIFO keeps what is read again over a scan of one-time keys") {
  const std::size_t each = charge(4, 10);
  fixture f(100 * each);
  // A hot set of 50 keys, read twice each.
  for (int i = 0; i < 50; ++i) REQUIRE(f.put("h" + std::to_string(100 + i), std::string(10, 'h')));
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 50; ++i) CHECK(f.has("h" + std::to_string(100 + i)));
  }
  // A scan of 1,000 keys read once each flows through the small queue only.
  for (int i = 0; i < 1000; ++i)
    REQUIRE(f.put("s" + std::to_string(1000 + i), std::string(10, 's')));
  int kept = 0;
  for (int i = 0; i < 50; ++i) kept += f.has("h" + std::to_string(100 + i)) ? 1 : 0;
  CHECK(kept == 50);
  CHECK(f.cache.bytes() <= 100 * each);
}

TEST_CASE("near cache: a key evicted unread and stored again goes to main (ghost)") {
  const std::size_t each = charge(4, 10);
  fixture f(20 * each);
  for (int i = 0; i < 40; ++i) REQUIRE(f.put("g" + std::to_string(100 + i), std::string(10, 'g')));
  CHECK_FALSE(f.has("g100"));  // evicted unread
  REQUIRE(f.put("g100", std::string(10, 'g')));
  // Another scan: g100 (in main) survives, though it was not read since.
  for (int i = 0; i < 40; ++i) REQUIRE(f.put("t" + std::to_string(100 + i), std::string(10, 't')));
  CHECK(f.has("g100"));
}

TEST_CASE("near cache: one fill per key at a time; off when the budget is 0") {
  fixture f;
  CHECK(f.cache.begin_fill(space::pget, "k"));
  CHECK_FALSE(f.cache.begin_fill(space::pget, "k"));
  CHECK(f.cache.begin_fill(space::get, "k"));
  f.cache.end_fill(space::pget, "k");
  CHECK(f.cache.begin_fill(space::pget, "k"));
  fixture off(0);
  CHECK_FALSE(off.cache.enabled());
  CHECK_FALSE(off.put("k", "v"));
  CHECK_FALSE(off.has("k"));
  REQUIRE(f.put("k", "v"));
  f.cache.set_budget(0);
  CHECK(f.cache.entries() == 0);
}
