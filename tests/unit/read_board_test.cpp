// The worker's read board (server/read_board.hpp): concurrent reads of one key share the
// leader's answer; a write since the read was sent, or a leader that goes, ends the sharing.
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "puppy/cache/write_gens.hpp"
#include "puppy/server/read_board.hpp"

using puppy::cache::stamp;
using puppy::cache::write_gens;
using puppy::server::read_board;
using puppy::server::read_listener;

namespace {

// A follower that records what it was told.
struct recorder : read_listener {
  struct heard {
    std::string key;
    std::uint64_t slot;
    std::optional<std::string> reply;  // nullopt: read for yourself
  };
  std::vector<heard> told;
  void on_joined_read(const std::string& key, const read_board::follower& f,
                      const std::string_view* reply) override {
    told.push_back({key, f.slot, reply ? std::optional<std::string>(*reply) : std::nullopt});
  }
};

read_board::follower following(const std::shared_ptr<recorder>& r, std::uint64_t slot) {
  return {r, slot, 100, 10, 0};
}

}  // namespace

TEST_CASE("read board: followers decide from the leader's answer, once") {
  write_gens gens;
  read_board board(gens);
  const int leader = 0;  // any address identifies a leader
  CHECK_FALSE(board.reading("k"));
  CHECK_FALSE(board.joinable("k"));
  board.lead("k", &leader, stamp::of_keys(gens, "k", "puppy:{k}"));
  CHECK(board.reading("k"));
  CHECK(board.joinable("k"));
  CHECK_FALSE(board.joinable("other"));

  auto a = std::make_shared<recorder>();
  auto b = std::make_shared<recorder>();
  board.join("k", following(a, 7));
  board.join("k", following(b, 9));
  // Another leader's answer for the key is not this read's.
  const int stranger = 0;
  board.done("k", &stranger, "wrong");
  CHECK(a->told.empty());

  board.done("k", &leader, "*2\r\n$1\r\nv\r\n$-1\r\n");
  REQUIRE(a->told.size() == 1);
  CHECK(a->told[0].key == "k");
  CHECK(a->told[0].slot == 7);
  CHECK(a->told[0].reply == "*2\r\n$1\r\nv\r\n$-1\r\n");
  REQUIRE(b->told.size() == 1);
  CHECK(b->told[0].slot == 9);
  // The read is over: nothing more to join, and a second answer tells nobody.
  CHECK_FALSE(board.reading("k"));
  board.done("k", &leader, "again");
  CHECK(a->told.size() == 1);
}

TEST_CASE("read board: a write through the proxy since the read was sent stops joining") {
  write_gens gens;
  read_board board(gens);
  const int leader = 0;
  board.lead("k", &leader, stamp::of_keys(gens, "k", "puppy:{k}"));
  gens.bump(write_gens::slot_of("puppy:{k}"));  // e.g. a PSET of the key, sent after the read
  CHECK(board.reading("k"));
  CHECK_FALSE(board.joinable("k"));
  gens.bump_epoch();
  board.lead("j", &leader, stamp::of_keys(gens, "j", "puppy:{j}"));
  CHECK(board.joinable("j"));
  gens.bump_epoch();  // FLUSHALL
  CHECK_FALSE(board.joinable("j"));
}

TEST_CASE("read board: a leader that goes sends its followers to read for themselves") {
  write_gens gens;
  read_board board(gens);
  const int leader = 0;
  board.lead("k", &leader, stamp::of_keys(gens, "k", "puppy:{k}"));
  auto a = std::make_shared<recorder>();
  auto gone = std::make_shared<recorder>();
  board.join("k", following(a, 1));
  board.join("k", following(gone, 2));
  gone.reset();  // a follower whose client went is skipped
  board.abandon("k", &leader);
  REQUIRE(a->told.size() == 1);
  CHECK_FALSE(a->told[0].reply);
  CHECK_FALSE(board.reading("k"));
}
