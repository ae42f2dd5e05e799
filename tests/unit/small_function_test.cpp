// detail::small_function: callables kept in place or on the heap, moved, reset, destroyed once.
#include <array>
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "puppy/server/small_function.hpp"

using puppy::server::detail::small_function;
using fn = small_function<void(const std::string_view&)>;

TEST_CASE("small_function: empty, null, and a call with its captures") {
  fn empty;
  CHECK_FALSE(empty);
  fn null = nullptr;
  CHECK_FALSE(null);
  std::string got;
  auto owner = std::make_shared<int>(7);
  fn f = [&got, owner](std::string_view s) { got = std::string(s) + std::to_string(*owner); };
  REQUIRE(f);
  f("x");
  CHECK(got == "x7");
  CHECK(owner.use_count() == 2);  // one copy, inside f
}

TEST_CASE("small_function: moving hands the callable over; each capture is destroyed once") {
  auto owner = std::make_shared<int>(1);
  std::array<char, 64> big{};  // too big to keep in place: on the heap
  int calls = 0;
  {
    fn small = [owner, &calls](std::string_view) { ++calls; };
    fn large = [owner, big, &calls](std::string_view) { calls += 1 + big[0]; };
    CHECK(owner.use_count() == 3);
    fn moved_small = std::move(small);
    fn moved_large = std::move(large);
    CHECK_FALSE(small);  // NOLINT: moved from on purpose
    CHECK_FALSE(large);  // NOLINT
    CHECK(owner.use_count() == 3);
    moved_small("a");
    moved_large("b");
    CHECK(calls == 2);
    fn assigned;
    assigned = std::move(moved_large);
    assigned("c");
    CHECK(calls == 3);
    assigned = nullptr;
    CHECK(owner.use_count() == 2);
    moved_small.reset();
    CHECK(owner.use_count() == 1);
  }
  CHECK(owner.use_count() == 1);
}

TEST_CASE("small_function: a function pointer, and a std::function inside one") {
  static int hits = 0;
  fn p = +[](const std::string_view&) { ++hits; };
  p("");
  std::function<void(const std::string_view&)> inner = [](const std::string_view&) { ++hits; };
  fn wrapped = inner;
  wrapped("");
  CHECK(hits == 2);
}
