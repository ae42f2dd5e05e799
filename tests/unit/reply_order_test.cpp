// detail::reply_order: replies released in request order whatever order they are known in.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/server/reply_order.hpp"

using puppy::server::detail::reply_order;

namespace {

std::string released(reply_order& o) {
  std::string out;
  o.release([&](std::string_view bytes) { out += bytes; });
  return out;
}

}  // namespace

TEST_CASE("reply_order: nothing open, nothing held") {
  reply_order o;
  CHECK_FALSE(o.open());
  CHECK_FALSE(o.hold("+now\r\n"));  // the caller sends it itself
  CHECK(o.held_bytes() == 0);
  CHECK(released(o).empty());
}

TEST_CASE("reply_order: replies behind an open slot wait for it, then go out in order") {
  reply_order o;
  CHECK(o.hold("") == false);
  const auto a = o.reserve();
  CHECK(a == 1);
  CHECK(o.hold("+after-a\r\n"));
  const auto b = o.reserve();
  CHECK(o.hold("+after-b1\r\n"));
  CHECK(o.hold("+after-b2\r\n"));
  CHECK(o.slots() == 2);
  const std::size_t held = std::string("+after-a\r\n+after-b1\r\n+after-b2\r\n").size();
  CHECK(o.held_bytes() == held);
  // b first: still behind a.
  o.fill(b, ":2\r\n");
  CHECK(released(o).empty());
  CHECK(o.held_bytes() == held + 4);
  o.fill(a, ":1\r\n");
  CHECK(released(o) == ":1\r\n+after-a\r\n:2\r\n+after-b1\r\n+after-b2\r\n");
  CHECK_FALSE(o.open());
  CHECK(o.held_bytes() == 0);
  CHECK(o.reserve() == 3);  // ids keep growing
}

TEST_CASE("reply_order: release stops at the first open slot") {
  reply_order o;
  const auto a = o.reserve();
  const auto b = o.reserve();
  const auto c = o.reserve();
  o.fill(a, "A");
  o.fill(c, "C");
  CHECK(released(o) == "A");
  CHECK(o.slots() == 2);
  CHECK(o.held_bytes() == 1);
  o.fill(b, "B");
  CHECK(released(o) == "BC");
  CHECK(o.slots() == 0);
}

TEST_CASE("reply_order: unknown, released or twice-filled slots are ignored") {
  reply_order o;
  const auto a = o.reserve();
  o.fill(a + 1, "never reserved");
  o.fill(0, "zero");
  CHECK(o.held_bytes() == 0);
  o.fill(a, "first");
  o.fill(a, "second");
  CHECK(released(o) == "first");
  o.fill(a, "after release");
  CHECK(released(o).empty());
  CHECK(o.held_bytes() == 0);
}

TEST_CASE("reply_order: a thousand slots filled in reverse come out in order") {
  reply_order o;
  std::vector<reply_order::slot_id> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(o.reserve());
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += ":" + std::to_string(i) + "\r\n";
  for (int i = 999; i >= 1; --i) o.fill(ids[i], ":" + std::to_string(i) + "\r\n");
  CHECK(released(o).empty());
  o.fill(ids[0], ":0\r\n");
  CHECK(released(o) == expected);
  CHECK(o.held_bytes() == 0);
}

TEST_CASE("reply_order: answer() fills and releases, the oldest slot without a copy") {
  reply_order o;
  std::string out;
  const auto emit = [&](std::string_view bytes) { out += bytes; };
  const auto a = o.reserve();
  CHECK(o.hold("+held-a\r\n"));
  const auto b = o.reserve();
  const auto c = o.reserve();
  CHECK(o.hold("+held-c\r\n"));
  o.answer(b, "B", emit);  // behind a: kept
  CHECK(out.empty());
  o.answer(a, "A", emit);  // the oldest: out at once, with what waited behind it
  CHECK(out == "A+held-a\r\nB");
  CHECK(o.slots() == 1);
  CHECK(o.held_bytes() == std::string("+held-c\r\n").size());
  o.answer(c, "C", emit);
  CHECK(out == "A+held-a\r\nBC+held-c\r\n");
  CHECK_FALSE(o.open());
  CHECK(o.held_bytes() == 0);
  o.answer(c, "again", emit);  // released already: ignored
  CHECK(out == "A+held-a\r\nBC+held-c\r\n");
}
