// The cluster layer without sockets: CRC16 and hash slots (the cluster specification's examples),
// key positions from key specs, reading COMMAND INFO.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "puppy/cluster/key_specs.hpp"
#include "puppy/cluster/slot.hpp"

using namespace puppy::cluster;

TEST_CASE("cluster: CRC16 (XMODEM) and hash slots as the cluster specification gives them") {
  CHECK(crc16("123456789") == 0x31C3);  // the specification's check value
  CHECK(crc16("") == 0);
  CHECK(key_slot("123456789") == 0x31C3 % 16384);
  CHECK(key_slot("foo") == 12182);  // CLUSTER KEYSLOT foo
  CHECK(key_slot("bar") == 5061);
  // Hash tags: the first '{' and the first '}' after it, if not empty.
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(hashed_part("{user1000}.following") == "user1000");
  CHECK(hashed_part("foo{}{bar}") == "foo{}{bar}");
  CHECK(hashed_part("foo{{bar}}zap") == "{bar");
  CHECK(hashed_part("foo{bar}{zap}") == "bar");
  CHECK(hashed_part("foo{bar") == "foo{bar");
  CHECK(hashed_part("}{x}") == "x");
  for (const std::string& key :
       std::vector<std::string>{"", "a", std::string("\0\xff", 2), std::string(1000, 'k')}) {
    CHECK(key_slot(key) < slot_count);
  }
}

namespace {

key_spec index_range(int index, int lastkey, int keystep = 1, int limit = 0) {
  key_spec s;
  s.begin_kind = key_spec::begin::index;
  s.index = index;
  s.find_kind = key_spec::find::range;
  s.lastkey = lastkey;
  s.keystep = keystep;
  s.limit = limit;
  return s;
}

key_spec index_keynum(int index, int keynumidx, int firstkey, int keystep = 1) {
  key_spec s;
  s.begin_kind = key_spec::begin::index;
  s.index = index;
  s.find_kind = key_spec::find::keynum;
  s.keynumidx = keynumidx;
  s.firstkey = firstkey;
  s.keystep = keystep;
  return s;
}

key_spec keyword_range(const char* word, int startfrom, int lastkey, int keystep, int limit) {
  key_spec s = index_range(0, lastkey, keystep, limit);
  s.begin_kind = key_spec::begin::keyword;
  s.keyword = word;
  s.startfrom = startfrom;
  return s;
}

using positions = std::optional<std::vector<std::size_t>>;
positions at(std::vector<std::size_t> v) {
  return v;
}

}  // namespace

TEST_CASE("cluster: key positions from key specs, as Redis evaluates them") {
  // GET key
  CHECK(key_positions({index_range(1, 0)}, {"GET", "k"}) == at({1}));
  // MSET k v [k v ...]
  CHECK(key_positions({index_range(1, -1, 2)}, {"MSET", "a", "1", "b", "2"}) == at({1, 3}));
  // DEL k [k ...]
  CHECK(key_positions({index_range(1, -1)}, {"DEL", "a", "b", "c"}) == at({1, 2, 3}));
  // EVAL script numkeys k... arg...
  CHECK(key_positions({index_keynum(2, 0, 1)}, {"EVAL", "s", "2", "a", "b", "x"}) == at({3, 4}));
  CHECK(key_positions({index_keynum(2, 0, 1)}, {"EVAL", "s", "0", "x"}) == at({}));
  CHECK_FALSE(key_positions({index_keynum(2, 0, 1)}, {"EVAL", "s", "x"}));       // not a number
  CHECK_FALSE(key_positions({index_keynum(2, 0, 1)}, {"EVAL", "s", "-1"}));      // negative
  CHECK_FALSE(key_positions({index_keynum(2, 0, 1)}, {"EVAL", "s", "3", "a"}));  // too few
  // ZUNIONSTORE dest numkeys k... [WEIGHTS ...]
  CHECK(key_positions({index_range(1, 0), index_keynum(2, 0, 1)},
                      {"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}) == at({1, 3, 4}));
  // XREAD ... STREAMS k1 k2 id1 id2: the keyword searched from the start, half the rest.
  const key_spec xread = keyword_range("STREAMS", 1, -1, 1, 2);
  CHECK(key_positions({xread}, {"XREAD", "COUNT", "2", "streams", "a", "b", "0", "0"}) ==
        at({4, 5}));
  CHECK(key_positions({xread}, {"XREAD", "COUNT", "2"}) == at({}));  // no keyword: no keys
  // A keyword searched from the end (startfrom -2), as MIGRATE's KEYS.
  const key_spec from_end = keyword_range("KEYS", -2, -1, 1, 0);
  CHECK(key_positions({from_end}, {"X", "y", "KEYS", "a", "b"}) == at({3, 4}));
  // Searched backwards down to argument 2, never 1 (Redis's loop stops before its end index).
  CHECK(key_positions({from_end}, {"X", "KEYS", "a", "b"}) == at({}));
  // Keys beyond the arguments, unknown types, INCOMPLETE: the server must say (nullopt).
  CHECK_FALSE(key_positions({index_range(3, 0)}, {"GET", "k"}));
  CHECK_FALSE(key_positions({key_spec{}}, {"X", "k"}));
  key_spec incomplete = index_range(1, 0);
  incomplete.incomplete = true;
  CHECK_FALSE(key_positions({incomplete}, {"X", "k"}));
  // NOT_KEY specs (a shard channel) are skipped unless asked for.
  key_spec channel = index_range(1, 0);
  channel.not_key = true;
  CHECK(key_positions({channel}, {"SPUBLISH", "ch", "msg"}) == at({}));
  CHECK(key_positions({channel}, {"SPUBLISH", "ch", "msg"}, true) == at({1}));
}

TEST_CASE("cluster: COMMAND INFO's RESP2 reply read into key specs, subcommands included") {
  // COMMAND INFO GET XINFO (trimmed to what is read: name ... key specs, subcommands).
  const std::string get =
      "*10\r\n$3\r\nget\r\n:2\r\n*1\r\n+readonly\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n"
      "*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n$2\r\nRO\r\n$6\r\naccess\r\n"
      "$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n"
      "*2\r\n$5\r\nindex\r\n:1\r\n"
      "$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n"
      "*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n"
      "*0\r\n";
  const std::string sub =
      "*10\r\n$12\r\nxinfo|stream\r\n:-3\r\n*0\r\n:2\r\n:2\r\n:1\r\n*0\r\n*0\r\n"
      "*1\r\n*6\r\n$5\r\nflags\r\n*1\r\n$2\r\nRO\r\n"
      "$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n"
      "*2\r\n$5\r\nindex\r\n:2\r\n"
      "$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n"
      "*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n"
      "*0\r\n";
  const std::string xinfo =
      "*10\r\n$5\r\nXINFO\r\n:-2\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*0\r\n*1\r\n" + sub;
  key_spec_table table;
  std::string error;
  REQUIRE(parse_command_info("*3\r\n" + get + xinfo + "*-1\r\n", &table, &error));
  CHECK(error.empty());
  REQUIRE(table.count("get") == 1);
  REQUIRE(table["get"].size() == 1);
  CHECK(key_positions(table["get"], {"GET", "k"}) == at({1}));
  CHECK(table["xinfo"].empty());
  REQUIRE(table.count("xinfo|stream") == 1);
  CHECK(key_positions(table["xinfo|stream"], {"XINFO", "STREAM", "s"}) == at({2}));

  for (const std::string bad :
       {"", "+OK\r\n", "-ERR unknown\r\n", "*1\r\n*2\r\n$3\r\nget\r\n:2\r\n", "*1\r\n$3\r\nget\r\n",
        "*2\r\n"}) {
    INFO(bad);
    key_spec_table t;
    std::string e;
    CHECK_FALSE(parse_command_info(bad, &t, &e));
    CHECK_FALSE(e.empty());
  }
}
