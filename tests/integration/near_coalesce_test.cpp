// Coalescing with the near cache (issue 13): concurrent PGETs of one key on one proxy that need
// Redis share one read. Forced deterministically: a relay holds the first reader's MGET back
// until every other client's PGET has been taken in.
#include <catch2/catch.hpp>

#include <sstream>

#include "client.hpp"
#include "fault_relay.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

long mget_calls(raw_client& direct) {
  std::istringstream in(direct.call({"INFO", "commandstats"}));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("cmdstat_mget:calls=", 0) == 0) return std::stol(line.substr(19));
  }
  return 0;
}

}  // namespace

TEST_CASE("near cache: 50 concurrent misses of one key cost Redis one read", "[near]") {
  redis_server redis;
  fault_relay relay(redis.port());
  proxy_server proxy("redis://127.0.0.1:" + std::to_string(relay.port()),
                     {"--near-cache-size", "8mb", "--shared-connections", "1"});
  raw_client setup(proxy.port());
  const auto lease = pget(setup, {"hot", "100", "10"});
  REQUIRE(lease.token);
  REQUIRE(setup.call({"PSET", "hot", *lease.token, "v1", "100", "10"}) == ":1\r\n");
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 50; ++i) clients.push_back(std::make_unique<raw_client>(proxy.port()));
  raw_client direct(redis.port());
  REQUIRE(direct.call({"CONFIG", "RESETSTAT"}) == "+OK\r\n");
  const double misses = proxy_metric(proxy.port(), "puppy_near_cache_misses_total");

  relay.blackhole(true);  // the first reader's MGET waits in the relay
  for (auto& c : clients) c->send(encode({"PGET", "hot", "100", "10"}));
  // Every PGET has missed the (empty) near cache and joined the first one's read.
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_near_cache_misses_total") >= misses + 50; },
      10s));
  relay.blackhole(false);
  for (auto& c : clients) {
    CHECK(c->read_reply() == "*3\r\n$5\r\nfresh\r\n$2\r\nv1\r\n$-1\r\n");
  }
  // One read for all fifty, and one more on the tracking connection to fill the copy.
  REQUIRE(
      wait_until([&] { return proxy_metric(proxy.port(), "puppy_near_cache_entries") == 1; }, 10s));
  CHECK(mget_calls(direct) == 2);
  // Now they are hits: no Redis command at all.
  for (auto& c : clients) {
    CHECK(c->call({"PGET", "hot", "100", "10"}) == "*3\r\n$5\r\nfresh\r\n$2\r\nv1\r\n$-1\r\n");
  }
  CHECK(mget_calls(direct) == 2);
}

TEST_CASE("near cache: a client that wrote the key does not join a read sent before its write",
          "[near]") {
  redis_server redis;
  fault_relay relay(redis.port());
  proxy_server proxy("redis://127.0.0.1:" + std::to_string(relay.port()),
                     {"--near-cache-size", "8mb", "--shared-connections", "1"});
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  const auto lease = pget(a, {"k", "100", "10"});
  REQUIRE(lease.token);
  REQUIRE(a.call({"PSET", "k", *lease.token, "old", "100", "10"}) == ":1\r\n");
  const double misses = proxy_metric(proxy.port(), "puppy_near_cache_misses_total");
  relay.blackhole(true);
  a.send(encode({"PGET", "k", "100", "10"}));  // its MGET is held
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_near_cache_misses_total") >= misses + 1; },
      10s));
  // b writes the key, then reads it: its read must not be a's, sent before the write.
  b.send(encode({"SET", "k", "new"}) + encode({"PGET", "k", "100", "10"}));
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_near_cache_misses_total") >= misses + 2; },
      10s));
  relay.blackhole(false);
  CHECK(parse_pget(a.read_reply()).value == std::optional<std::string>("old"));
  CHECK(b.read_reply() == "+OK\r\n");
  CHECK(b.read_reply() == "*3\r\n$5\r\nfresh\r\n$3\r\nnew\r\n$-1\r\n");
}
