// detail::fifo: order, draining, compaction, and storage kept across a steady stream.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/server/fifo.hpp"

using puppy::server::detail::fifo;

TEST_CASE("fifo: first in, first out, across drains and compactions") {
  fifo<std::string> q;
  CHECK(q.empty());
  int next_in = 0, next_out = 0;
  // Uneven pushes and pops: the queue drains sometimes and compacts other times.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 7 + 1; ++i) q.push_back("item-" + std::to_string(next_in++));
    for (int i = 0; i < round % 5 + 1 && !q.empty(); ++i) {
      REQUIRE(q.front() == "item-" + std::to_string(next_out++));
      q.pop_front();
    }
    CHECK(q.size() == static_cast<std::size_t>(next_in - next_out));
    std::vector<std::string> seen(q.begin(), q.end());
    REQUIRE(seen.size() == q.size());
    if (!seen.empty()) {
      CHECK(seen.front() == "item-" + std::to_string(next_out));
      CHECK(seen.back() == "item-" + std::to_string(next_in - 1));
      CHECK(q.back() == seen.back());
    }
  }
  while (!q.empty()) {
    REQUIRE(q.front() == "item-" + std::to_string(next_out++));
    q.pop_front();
  }
  CHECK(next_out == next_in);
  q.emplace_back("again");
  CHECK(q.size() == 1);
  CHECK(q.front() == "again");
  q.clear();
  CHECK(q.empty());
}

TEST_CASE("fifo: a queue that never drains stays within twice its longest length") {
  fifo<int> q;
  for (int i = 0; i < 8; ++i) q.push_back(i);
  // One in, one out, forever: the consumed part is compacted away, never accumulated.
  for (int i = 8; i < 100000; ++i) {
    q.push_back(i);
    REQUIRE(q.front() == i - 8);
    q.pop_front();
    REQUIRE(q.size() == 8);
    REQUIRE(static_cast<std::size_t>(q.end() - q.begin()) == 8);
    REQUIRE(q.stored() <= 2 * 8 + 1);
  }
}
