// Upstream URLs (upstream/address.hpp) and Redis Sentinel's replies (upstream/sentinel.hpp).
#include <catch2/catch.hpp>

#include "puppy/upstream/address.hpp"
#include "puppy/upstream/sentinel.hpp"

using namespace puppy::upstream;

TEST_CASE("upstream URLs: one Redis, a cluster's seeds, memcached servers") {
  std::string error;
  const auto one = parse_address("redis://u:p%40ss@10.0.0.1:7000", &error);
  REQUIRE(one);
  CHECK(one->servers.size() == 1);
  CHECK(one->servers[0].host == "10.0.0.1");
  CHECK(one->servers[0].port == 7000);
  CHECK(one->user == "u");
  CHECK(one->password == "p@ss");
  CHECK_FALSE(one->sentinel);
  CHECK(one->text() == "redis://u:***@10.0.0.1:7000");
  const auto seeds = parse_address("rediss-cluster://a:1,[::1]:2", &error);
  REQUIRE(seeds);
  CHECK(seeds->cluster);
  CHECK(seeds->kind == scheme::rediss);
  CHECK(seeds->text() == "rediss-cluster://a:1,[::1]:2");
  CHECK_FALSE(parse_address("redis://a:1,b:2", &error));
  CHECK(error.find("exactly one host:port") != std::string::npos);
}

TEST_CASE("upstream URLs: sentinels and the name of the primary they know") {
  std::string error;
  const auto s = parse_address("redis-sentinel://s1:26380,s2,[::1]:26381/mymaster", &error);
  REQUIRE(s);
  CHECK(s->sentinel);
  CHECK_FALSE(s->cluster);
  CHECK(s->kind == scheme::redis);
  CHECK(s->master_name == "mymaster");
  REQUIRE(s->servers.size() == 3);
  CHECK(s->servers[0].port == 26380);
  CHECK(s->servers[1].host == "s2");
  CHECK(s->servers[1].port == 26379);  // Sentinel's port by default
  CHECK(s->servers[2].host == "::1");
  CHECK(s->text() == "redis-sentinel://s1:26380,s2:26379,[::1]:26381/mymaster");
  // The credentials are the data nodes'; rediss: TLS to them.
  const auto tls = parse_address("rediss-sentinel://:secret@s1/m/", &error);
  REQUIRE(tls);
  CHECK(tls->kind == scheme::rediss);
  CHECK(tls->password == "secret");
  CHECK(tls->master_name == "m");
  CHECK(tls->text() == "rediss-sentinel://:***@s1:26379/m");
  for (const char* bad :
       {"redis-sentinel://s1:26379", "redis-sentinel://s1/", "redis-sentinel://s1/a/b"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_address(bad, &error));
    CHECK(error.find("MASTER_NAME") != std::string::npos);
  }
  CHECK_FALSE(parse_address("redis-sentinel://s1:99999/m", &error));
  CHECK(error.find("port") != std::string::npos);
}

TEST_CASE("sentinel: the requests, as RESP") {
  CHECK(sentinel::ask_primary("m1") ==
        "*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$2\r\nm1\r\n");
  CHECK(sentinel::ask_role() == "*1\r\n$4\r\nROLE\r\n");
  CHECK(sentinel::subscribe_switches() == "*2\r\n$9\r\nSUBSCRIBE\r\n$14\r\n+switch-master\r\n");
}

TEST_CASE("sentinel: get-master-addr-by-name's answers") {
  const auto ok = sentinel::parse_primary("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6390\r\n");
  REQUIRE(ok.primary);
  CHECK(ok.primary->host == "127.0.0.1");
  CHECK(ok.primary->port == 6390);
  CHECK(ok.why.empty());
  CHECK(sentinel::parse_primary("*-1\r\n").why == "unknown master");  // RESP2 null array
  CHECK(sentinel::parse_primary("$-1\r\n").why == "unknown master");
  CHECK(sentinel::parse_primary("-IDONTKNOW No such master\r\n").why == "IDONTKNOW No such master");
  for (const char* bad :
       {"*2\r\n$1\r\nh\r\n$1\r\n0\r\n", "*2\r\n$1\r\nh\r\n$5\r\n65536\r\n", "*1\r\n$1\r\nh\r\n",
        "*2\r\n$0\r\n\r\n$2\r\n10\r\n", "*2\r\n$1\r\nh", ":1\r\n", "garbage"}) {
    INFO(bad);
    const auto a = sentinel::parse_primary(bad);
    CHECK_FALSE(a.primary);
    CHECK(a.why == "malformed reply");
  }
}

TEST_CASE("sentinel: ROLE's first element") {
  CHECK(sentinel::parse_role("*3\r\n$6\r\nmaster\r\n:3129659\r\n*0\r\n") == "master");
  CHECK(sentinel::parse_role(
            "*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:9999\r\n$9\r\nconnected\r\n:3167038\r\n") ==
        "slave");
  CHECK(sentinel::parse_role("-NOAUTH Authentication required.\r\n").empty());
  CHECK(sentinel::parse_role("+OK\r\n").empty());
}

TEST_CASE("sentinel: +switch-master messages") {
  const auto moved = sentinel::parse_switch("m1 127.0.0.1 6390 127.0.0.1 6391", "m1");
  REQUIRE(moved);
  CHECK(moved->host == "127.0.0.1");
  CHECK(moved->port == 6391);
  CHECK_FALSE(sentinel::parse_switch("other 127.0.0.1 6390 127.0.0.1 6391", "m1"));
  CHECK_FALSE(sentinel::parse_switch("m1 127.0.0.1 6390 127.0.0.1", "m1"));
  CHECK_FALSE(sentinel::parse_switch("m1 127.0.0.1 6390 127.0.0.1 6391 x", "m1"));
  CHECK_FALSE(sentinel::parse_switch("m1 127.0.0.1 6390 127.0.0.1 port", "m1"));
  CHECK_FALSE(sentinel::parse_message("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$9\r\nm1"));
  const auto ok =
      sentinel::parse_message("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$4\r\nm1 a\r\n");
  REQUIRE(ok);
  CHECK(ok->channel == "+switch-master");
  CHECK(ok->payload == "m1 a");
  CHECK_FALSE(sentinel::parse_message(
      "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"));  // the confirmation
}

namespace {

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// One entry of SENTINEL sentinels' answer (RESP2: field names and values in one flat array).
std::string sentinel_entry(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "*" + std::to_string(fields.size() * 2) + "\r\n";
  for (const auto& [name, value] : fields) out += bulk(name) + bulk(value);
  return out;
}

std::string addresses(const std::vector<host_port>& v) {
  std::string out;
  for (const auto& hp : v) out += hp.host + ":" + std::to_string(hp.port) + " ";
  return out;
}

}  // namespace

TEST_CASE("sentinel: SENTINEL sentinels' answer: the other sentinels' addresses") {
  CHECK(sentinel::ask_sentinels("m1") == "*3\r\n$8\r\nSENTINEL\r\n$9\r\nsentinels\r\n$2\r\nm1\r\n");
  const std::string two =
      "*2\r\n" +
      sentinel_entry(
          {{"name", "f00d"}, {"ip", "127.0.0.1"}, {"port", "26380"}, {"flags", "sentinel"}}) +
      sentinel_entry({{"name", "beef"}, {"ip", "10.0.0.7"}, {"port", "26379"}});  // no flags
  CHECK(addresses(sentinel::parse_sentinels(two)) == "127.0.0.1:26380 10.0.0.7:26379 ");
  // Sentinels it believes down, or cannot reach, are left out; a flag is matched whole.
  const std::string flagged =
      "*5\r\n" + sentinel_entry({{"ip", "a"}, {"port", "1"}, {"flags", "s_down,sentinel"}}) +
      sentinel_entry({{"ip", "b"}, {"port", "2"}, {"flags", "sentinel,o_down"}}) +
      sentinel_entry({{"ip", "c"}, {"port", "3"}, {"flags", "disconnected"}}) +
      sentinel_entry({{"ip", "d"}, {"port", "4"}, {"flags", "sentinel,s_downish"}}) +
      sentinel_entry({{"ip", "e"}, {"port", "5"}, {"flags", ""}});
  CHECK(addresses(sentinel::parse_sentinels(flagged)) == "d:4 e:5 ");
  // Entries without a usable address are left out; the others kept.
  const std::string mixed = "*5\r\n" + sentinel_entry({{"name", "a"}, {"port", "1"}}) +
                            sentinel_entry({{"ip", "h"}, {"port", "0"}}) +
                            sentinel_entry({{"ip", "h"}, {"port", "x"}}) + ":1\r\n" +
                            sentinel_entry({{"port", "7"}, {"ip", "ok"}});
  CHECK(addresses(sentinel::parse_sentinels(mixed)) == "ok:7 ");
  CHECK(sentinel::parse_sentinels("*0\r\n").empty());
  CHECK(sentinel::parse_sentinels("-ERR No such master with that name\r\n").empty());
  CHECK(sentinel::parse_sentinels("*1\r\n*2\r\n$2\r\nip").empty());  // incomplete
  CHECK(sentinel::parse_sentinels("garbage").empty());
}

TEST_CASE("sentinel: learned sentinels are added once each, up to max_known_sentinels") {
  std::vector<host_port> known{{"a", 1}, {"b", 2}};
  CHECK(sentinel::add_sentinels(&known, {{"b", 2}, {"c", 3}, {"a", 9}, {"c", 3}}) == 2);
  CHECK(addresses(known) == "a:1 b:2 c:3 a:9 ");
  // At the limit: one short of it takes one more, then none.
  std::vector<host_port> nearly_full;
  for (std::size_t i = 0; i + 1 < sentinel::max_known_sentinels; ++i) {
    nearly_full.push_back({"h", static_cast<std::uint16_t>(i + 1)});
  }
  CHECK(sentinel::add_sentinels(&nearly_full, {{"x", 1}, {"y", 2}}) == 1);
  CHECK(nearly_full.size() == sentinel::max_known_sentinels);
  CHECK(nearly_full.back().host == "x");
  CHECK(sentinel::add_sentinels(&nearly_full, {{"z", 3}}) == 0);
  CHECK(nearly_full.size() == sentinel::max_known_sentinels);
}
