// The cluster layer against real servers: the key specs Redis reports with COMMAND, evaluated by
// puppy::cluster::key_positions, name exactly the keys COMMAND GETKEYS names for a corpus of
// commands of every key-spec shape (index and keyword starts, ranges with steps and limits,
// numkeys, several specs, subcommands); and the slot map read from CLUSTER SLOTS of a real
// 3-master cluster sends every key to the node that stores it, the others answering -MOVED to it;
// multi-key commands split per slot across that cluster and merged answer byte for byte as one
// plain redis-server answers them.
// No proxy involved yet: the router that uses them is issue 15's work in progress.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client.hpp"
#include "puppy/cluster/key_specs.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/cluster/split.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// The key names of COMMAND GETKEYS's reply; nullopt for "no key arguments" (or an error).
std::optional<std::vector<std::string>> getkeys_names(const std::string& reply) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
  redisReaderFeed(reader.get(), reply.data(), reply.size());
  void* raw = nullptr;
  REQUIRE(redisReaderGetReply(reader.get(), &raw) == REDIS_OK);
  REQUIRE(raw != nullptr);
  std::unique_ptr<redisReply, void (*)(void*)> r(static_cast<redisReply*>(raw), freeReplyObject);
  if (r->type == REDIS_REPLY_ERROR) return std::nullopt;
  REQUIRE(r->type == REDIS_REPLY_ARRAY);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < r->elements; ++i) {
    names.emplace_back(r->element[i]->str, r->element[i]->len);
  }
  return names;
}

}  // namespace

TEST_CASE("cluster: key specs from COMMAND name the keys COMMAND GETKEYS names") {
  redis_server redis;
  raw_client c(redis.port());
  puppy::cluster::key_spec_table table;
  std::string error;
  REQUIRE(puppy::cluster::parse_command_info(c.call({"COMMAND"}, 30s), &table, &error));
  CHECK(table.size() > 200);  // every command and subcommand of Redis 7
  const std::vector<std::vector<std::string>> corpus = {
      {"GET", "k"},
      {"SET", "k", "v", "EX", "10"},
      {"MSET", "a", "1", "b", "2", "c", "3"},
      {"MGET", "a", "b", "c"},
      {"DEL", "a", "b"},
      {"EXISTS", "a", "b", "a"},
      {"COPY", "a", "b", "REPLACE"},
      {"RENAME", "a", "b"},
      {"LMOVE", "a", "b", "LEFT", "RIGHT"},
      {"BLPOP", "a", "b", "0"},
      {"BLMPOP", "0", "2", "a", "b", "LEFT"},
      {"LMPOP", "3", "a", "b", "c", "RIGHT", "COUNT", "2"},
      {"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"},
      {"ZINTERCARD", "2", "a", "b", "LIMIT", "1"},
      {"ZRANGESTORE", "d", "s", "0", "-1"},
      {"SINTERCARD", "2", "a", "b"},
      {"SMOVE", "a", "b", "m"},
      {"BITOP", "AND", "d", "a", "b", "c"},
      {"PFMERGE", "d", "a", "b"},
      {"EVAL", "return 1", "2", "a", "b", "x", "y"},
      {"EVALSHA", "0123456789012345678901234567890123456789", "1", "a", "x"},
      {"FCALL", "f", "2", "a", "b", "x"},
      {"XADD", "s", "*", "f", "v"},
      {"XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"},
      {"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"},
      {"XINFO", "STREAM", "s"},
      {"XGROUP", "CREATE", "s", "g", "$"},
      {"OBJECT", "ENCODING", "k"},
      {"MEMORY", "USAGE", "k"},
      {"GEOSEARCHSTORE", "d", "s", "FROMLONLAT", "0", "0", "BYRADIUS", "1", "km"},
      {"SUNIONSTORE", "d", "a", "b"},
      {"TOUCH", "a", "b"},
      {"UNLINK", "a", "b"},
      {"WATCH", "a", "b"},
      {"GETEX", "k", "PERSIST"},
      {"LCS", "a", "b"},
      {"HSET", "h", "f", "v"},
      {"PING"},
      {"DBSIZE"},
  };
  int compared = 0;
  for (const auto& cmd : corpus) {
    INFO(cmd[0] << (cmd.size() > 1 ? " " + cmd[1] : std::string()));
    std::string name = cmd[0];
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto it = table.find(name);
    if (cmd.size() > 1) {
      std::string sub = cmd[1];
      for (auto& ch : sub) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (auto s = table.find(name + "|" + sub); s != table.end()) it = s;
    }
    REQUIRE(it != table.end());
    const std::vector<std::string_view> args(cmd.begin(), cmd.end());
    const auto positions = puppy::cluster::key_positions(it->second, args);
    std::vector<std::string> request = {"COMMAND", "GETKEYS"};
    request.insert(request.end(), cmd.begin(), cmd.end());
    const auto expected = getkeys_names(c.call(request));
    REQUIRE(positions);  // none of these needs the server's help
    std::vector<std::string> got;
    for (const auto p : *positions) got.push_back(cmd[p]);
    CHECK(got == expected.value_or(std::vector<std::string>{}));
    ++compared;
  }
  CHECK(compared == static_cast<int>(corpus.size()));
}

TEST_CASE("cluster: the slot map of a real 3-master cluster sends every key to its node") {
  redis_cluster cluster(3);
  raw_client first(cluster.node(0).port());
  std::string error;
  const auto map = puppy::cluster::slot_map::from_cluster_slots(first.call({"CLUSTER", "SLOTS"}),
                                                                "127.0.0.1", &error);
  REQUIRE(map);
  CHECK(map->complete());
  REQUIRE(map->masters().size() == 3);
  std::map<std::uint16_t, std::unique_ptr<raw_client>> by_port;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    by_port[cluster.node(i).port()] = std::make_unique<raw_client>(cluster.node(i).port());
  }
  for (int i = 0; i < 200; ++i) {
    const std::string key = (i % 10 == 0 ? "{tag}" : "key:") + std::to_string(i);
    const std::uint16_t slot = puppy::cluster::key_slot(key);
    INFO(key << " slot " << slot);
    CHECK(first.call({"CLUSTER", "KEYSLOT", key}) == ":" + std::to_string(slot) + "\r\n");
    const auto* owner = map->master_of(slot);
    REQUIRE(owner != nullptr);
    REQUIRE(by_port.count(owner->port) == 1);
    // The owner stores it; every other node redirects to the owner with -MOVED.
    CHECK(by_port[owner->port]->call({"SET", key, "v"}) == "+OK\r\n");
    for (auto& [port, c] : by_port) {
      if (port == owner->port) continue;
      const auto r = puppy::cluster::parse_redirect(c->call({"GET", key}));
      REQUIRE(r);
      CHECK(r->what == puppy::cluster::redirect::kind::moved);
      CHECK(r->slot == slot);
      CHECK(r->to == *owner);
    }
  }
}

TEST_CASE("cluster: multi-key commands split per slot and merged answer as one Redis would") {
  redis_cluster cluster(3);
  redis_server single;
  raw_client one(single.port());
  raw_client first(cluster.node(0).port());
  std::string error;
  const auto map = puppy::cluster::slot_map::from_cluster_slots(first.call({"CLUSTER", "SLOTS"}),
                                                                "127.0.0.1", &error);
  REQUIRE(map);
  std::map<std::uint16_t, std::unique_ptr<raw_client>> by_port;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    by_port[cluster.node(i).port()] = std::make_unique<raw_client>(cluster.node(i).port());
  }
  // Each part to its slot's node; the merged reply.
  const auto through_cluster = [&](const std::vector<std::string>& cmd) {
    const std::vector<std::string_view> args(cmd.begin(), cmd.end());
    const auto plan = puppy::cluster::plan_split(args);
    REQUIRE(plan);
    std::vector<std::string> replies;
    for (const auto& part : plan->parts) {
      auto& c = *by_port.at(map->master_of(part.slot)->port);
      c.send(part.request);
      replies.push_back(c.read_reply());
    }
    return puppy::cluster::merge_replies(
        *plan, std::vector<std::string_view>(replies.begin(), replies.end()));
  };
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  for (int i = 0; i < 30; ++i) {
    const std::string key = (i % 7 == 0 ? "{t}" : "k") + std::to_string(i);
    if (i % 3 != 0) {
      mset.push_back(key);
      mset.push_back("value-" + std::to_string(i) + std::string(i % 5, 'x'));
    }
    mget.push_back(key);
  }
  mget.push_back("k1");  // a key asked twice
  const std::vector<std::vector<std::string>> script = {
      mset,
      mget,
      {"EXISTS", "k1", "k2", "k1", "absent", "{t}7"},
      {"TOUCH", "k1", "k4", "absent"},
      {"DEL", "k1", "k2", "absent", "{t}14", "k1"},
      mget,
      {"UNLINK", "k4", "k5", "k4"},
      mget,
  };
  for (const auto& cmd : script) {
    INFO(cmd[0]);
    CHECK(through_cluster(cmd) == one.call(cmd));
  }
}
