// detail::recycling_allocator: a freed block is handed out again on the same thread; arrays and
// other threads are not affected.
#include <array>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "puppy/server/recycling_allocator.hpp"

using puppy::server::detail::recycling_allocator;

namespace {

struct part {
  std::array<char, 200> bytes{};
  int value = 0;
};

std::shared_ptr<part> make(int value) {
  auto p = std::allocate_shared<part>(recycling_allocator<part>());
  p->value = value;
  return p;
}

}  // namespace

TEST_CASE("recycling_allocator: a released block is the next one made") {
  if (!puppy::server::detail::recycle_blocks) return;  // AddressSanitizer: the heap's blocks
  auto a = make(1);
  const void* where = a.get();
  a.reset();
  auto b = make(2);
  CHECK(static_cast<const void*>(b.get()) == where);
  CHECK(b->value == 2);
  auto c = make(3);  // the list is empty again: a new block
  CHECK(static_cast<const void*>(c.get()) != where);
}

TEST_CASE("recycling_allocator: arrays go to the heap, and each thread has its own blocks") {
  recycling_allocator<part> alloc;
  part* many = alloc.allocate(3);
  alloc.deallocate(many, 3);
  auto a = make(1);
  const void* where = a.get();
  a.reset();
  const void* other = nullptr;
  std::thread([&] {
    auto t = make(4);  // this thread's list is empty: not the block freed above
    other = t.get();
  }).join();
  if (!puppy::server::detail::recycle_blocks) return;
  CHECK(other != where);
  CHECK(static_cast<const void*>(make(5).get()) == where);
}
