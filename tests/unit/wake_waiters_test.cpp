// The waiters of PGET ... WAIT on one worker (server/wake_waiters.hpp): one reader looks per
// key, its answer goes to the others, and a reader that leaves hands the look on.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "puppy/server/wake_waiters.hpp"

using puppy::server::wake_listener;
using puppy::server::wake_waiters;

namespace {

// A waiter that records what it was told, as "wake", "look published", "look", "answer <r>",
// "miss <ms>".
struct fake_waiter : wake_listener {
  std::vector<std::string> told;
  void on_wake() override { told.push_back("wake"); }
  void attempt_now(bool published) override {
    told.push_back(published ? "look published" : "look");
  }
  void on_peer_answer(const std::string& reply) override { told.push_back("answer " + reply); }
  void on_peer_miss(std::int64_t retry_after_ms) override {
    told.push_back("miss " + std::to_string(retry_after_ms));
  }
};

using said = std::vector<std::string>;

}  // namespace

TEST_CASE("wake waiters: one waiter of a published key looks; its answer goes to the others") {
  wake_waiters w;
  auto a = std::make_shared<fake_waiter>();
  auto b = std::make_shared<fake_waiter>();
  auto c = std::make_shared<fake_waiter>();
  CHECK(w.empty());
  w.add("k", a);
  w.add("k", b);
  w.add("other", c);
  CHECK_FALSE(w.empty());

  w.published("k");
  CHECK(a->told == said{"look published"});
  CHECK(b->told.empty());
  CHECK(c->told.empty());
  // Published again while it looks: the reader is told, no second look starts.
  w.published("k");
  CHECK(a->told == said{"look published", "wake"});
  CHECK(b->told.empty());

  const std::string reply = "*3\r\n$5\r\nfresh\r\n$1\r\nv\r\n$-1\r\n";
  w.outcome("k", a.get(), &reply, -1);
  CHECK(b->told == said{"answer " + reply});
  CHECK(a->told.size() == 2);  // not told its own answer
  CHECK(c->told.empty());
}

TEST_CASE("wake waiters: a look that finds nothing lets the others go on waiting") {
  wake_waiters w;
  auto a = std::make_shared<fake_waiter>();
  auto b = std::make_shared<fake_waiter>();
  w.add("k", a);
  w.add("k", b);
  // b's timer says look again: b reads for both.
  w.ask("k", b);
  CHECK(b->told == said{"look"});
  // a's timer too, while b looks: a waits for b's outcome.
  w.ask("k", a);
  CHECK(a->told.empty());
  w.outcome("k", b.get(), nullptr, 250);
  CHECK(a->told == said{"miss 250"});
  // The look is over: the next ask looks again.
  w.ask("k", a);
  CHECK(a->told == said{"miss 250", "look"});
  // Not registered (yet): on its own.
  auto lone = std::make_shared<fake_waiter>();
  w.ask("nobody", lone);
  CHECK(lone->told == said{"look"});
}

TEST_CASE("wake waiters: a reader that leaves, or is gone, hands the look on") {
  wake_waiters w;
  auto a = std::make_shared<fake_waiter>();
  auto b = std::make_shared<fake_waiter>();
  auto c = std::make_shared<fake_waiter>();
  w.add("k", a);
  w.add("k", b);
  w.add("k", c);
  w.published("k");
  REQUIRE(a->told == said{"look published"});
  // The reader leaves (its client went) before its outcome: the next waiter looks at once.
  w.remove("k", a.get());
  CHECK(b->told == said{"look published"});
  // A waiter that was destroyed without leaving is skipped.
  b.reset();
  w.published("k");
  CHECK(c->told == said{"look published"});
  w.remove("k", c.get());
  CHECK(w.empty());
  // Removing twice, or from a key nobody waits for, is harmless.
  w.remove("k", c.get());
  w.remove("none", a.get());
  w.published("k");
  CHECK(a->told == said{"look published"});
}

TEST_CASE("wake waiters: a re-established subscription wakes every key") {
  wake_waiters w;
  auto a = std::make_shared<fake_waiter>();
  auto b = std::make_shared<fake_waiter>();
  w.add("k1", a);
  w.add("k2", b);
  w.published_all();
  CHECK(a->told == said{"look published"});
  CHECK(b->told == said{"look published"});
  w.clear();
  CHECK(w.empty());
}
