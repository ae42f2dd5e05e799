// What a PGET costs Redis (issue 13): a fresh hit is one MGET of the key and its status, in every
// form (plain, WAIT, BETA), as django-puppy-cache's read; only the rare paths (taking a lease, an
// early BETA refresh, a miss that waits) pay for more. Counted with INFO commandstats, which
// noise does not move. Also: a PGET whose answer takes a second step keeps its place among the
// client's replies, and statuses written by others (django-puppy-cache) are understood.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <sstream>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// A fresh value for `key` through the proxy: lease, PSET.
void make_fresh(raw_client& c, const std::string& key, const std::string& value) {
  const auto lease = pget(c, {key, "100", "10"});
  REQUIRE(lease.state == "lease");
  REQUIRE(c.call({"PSET", key, *lease.token, value, "100", "10"}) == ":1\r\n");
}

}  // namespace

TEST_CASE("a fresh hit costs Redis one MGET, whatever form the PGET takes", "[cost]") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  make_fresh(c, "hot", "value");
  const std::vector<std::vector<std::string>> forms = {
      {"hot", "100", "10"},
      {"hot", "100", "10", "WAIT", "5000"},
      {"hot", "100", "10", "BETA", "1"},
      {"hot", "100", "10", "WAIT", "5000", "BETA", "2.5"},
      {"hot"},
  };
  for (const auto& form : forms) {
    reset_stats(direct);
    for (int i = 0; i < 10; ++i) {
      const auto a = pget(c, form);
      CHECK(a.state == "fresh");
      CHECK(a.value == std::optional<std::string>("value"));
    }
    const auto calls = command_calls(direct);
    INFO("PGET " << form.size() << " arguments");
    CHECK(calls == std::map<std::string, long>{{"mget", 10}});
  }
  // The status holds the freshness deadline (PSET's time + timeout), so BETA decides from it.
  const std::string status = direct.call({"GET", "puppy:hot"});
  const auto colon = status.rfind(':');
  REQUIRE(colon != std::string::npos);
  const std::int64_t deadline = std::stoll(status.substr(colon + 1));
  CHECK(deadline > wall_ms() + 90'000);
  CHECK(deadline <= wall_ms() + 100'000);
}

TEST_CASE(
    "the rare paths: a cold miss takes the lease in a second step, a waiting miss asks "
    "the script",
    "[cost]") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  reset_stats(direct);
  CHECK(pget(c, {"cold", "100", "10"}).state == "lease");
  // MGET found nothing; SET status NX GET took the lease and GET read the value again.
  CHECK(command_calls(direct) == std::map<std::string, long>{{"mget", 1}, {"set", 1}, {"get", 1}});
  reset_stats(direct);
  raw_client other(proxy.port());
  CHECK(pget(other, {"cold", "100", "10"}).state == "miss");
  CHECK(command_calls(direct) == std::map<std::string, long>{{"mget", 1}});
  // A reader that waits: MGET, then the script (and the wake-up subscription); looking again
  // when the wait or the lease runs out (or, until the subscription is up, every 50 ms) is the
  // script's job, without another MGET (only a publish makes a plain read worth it).
  reset_stats(direct);
  const auto waited = pget(other, {"cold", "100", "10", "WAIT", "100"});
  CHECK(waited.state == "miss");
  const auto calls = command_calls(direct);
  // (The subscription coming up looks once more, with a read: anything may have been published.)
  CHECK(calls.at("mget") >= 1);
  CHECK(calls.at("mget") <= 2);
  CHECK(calls.at("evalsha") >= 2);
}

TEST_CASE("a PGET answered in a second step keeps its place among the client's replies") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  make_fresh(c, "hot", "v1");
  c.send(encode({"PGET", "cold-a", "100", "10"}) + encode({"SET", "x", "1"}) +
         encode({"GET", "x"}) + encode({"PGET", "hot", "100", "10"}) + encode({"PING"}) +
         encode({"PGET", "cold-b", "100", "10"}) + encode({"INCR", "x"}) +
         encode({"PGET", "hot", "100", "10", "BETA", "1"}));
  const auto a = parse_pget(c.read_reply());
  CHECK(a.state == "lease");
  CHECK_FALSE(a.value);
  CHECK(c.read_reply() == "+OK\r\n");
  CHECK(c.read_reply() == "$1\r\n1\r\n");
  CHECK(c.read_reply() == "*3\r\n$5\r\nfresh\r\n$2\r\nv1\r\n$-1\r\n");
  CHECK(c.read_reply() == "+PONG\r\n");
  CHECK(parse_pget(c.read_reply()).state == "lease");
  CHECK(c.read_reply() == ":2\r\n");
  CHECK(c.read_reply() == "*3\r\n$5\r\nfresh\r\n$2\r\nv1\r\n$-1\r\n");
  // A blocking command after such a PGET is sent only once the PGET is answered (else the
  // second step would wait behind it): the lease comes first, then BLPOP's timeout.
  c.send(encode({"PGET", "cold-c", "100", "10"}) + encode({"BLPOP", "nothing", "0.2"}) +
         encode({"GET", "x"}));
  CHECK(parse_pget(c.read_reply(5s)).state == "lease");
  CHECK(c.read_reply(5s) == "*-1\r\n");
  CHECK(c.read_reply(5s) == "$1\r\n2\r\n");
}

TEST_CASE("statuses written by django-puppy-cache: current is fresh, updating is a lease") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  CHECK(direct.call({"SET", "seeded", "old"}) == "+OK\r\n");
  CHECK(direct.call({"SET", "puppy:seeded", "current", "EX", "100"}) == "+OK\r\n");
  CHECK(c.call({"PGET", "seeded", "100", "10"}) == "*3\r\n$5\r\nfresh\r\n$3\r\nold\r\n$-1\r\n");
  // BETA with no deadline in the status asks the script, which reads the TTL; compute time 0:
  // never early.
  CHECK(parse_pget(c.call({"PGET", "seeded", "100", "10", "BETA", "1000"})).state == "fresh");
  // updating: someone regenerates; nobody else gets a lease, and no PSET can claim it.
  CHECK(direct.call({"SET", "puppy:seeded", "updating", "EX", "100"}) == "+OK\r\n");
  CHECK(c.call({"PGET", "seeded", "100", "10"}) == "*3\r\n$5\r\nstale\r\n$3\r\nold\r\n$-1\r\n");
  CHECK(c.call({"PSET", "seeded", "updating", "new", "100", "10"}) == ":0\r\n");
  CHECK(direct.call({"DEL", "seeded"}) == ":1\r\n");
  CHECK(parse_pget(c.call({"PGET", "seeded", "100", "10"})).state == "miss");
  // The seed's writer replaces it with current: fresh again.
  CHECK(direct.call({"SET", "seeded", "new"}) == "+OK\r\n");
  CHECK(direct.call({"SET", "puppy:seeded", "current", "EX", "100"}) == "+OK\r\n");
  CHECK(c.call({"PGET", "seeded", "100", "10"}) == "*3\r\n$5\r\nfresh\r\n$3\r\nnew\r\n$-1\r\n");
}

TEST_CASE("BETA's early refresh is decided from the deadline in the status", "[cost]") {
  redis_server redis;
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  raw_client direct(redis.port());
  CHECK(direct.call({"SET", "b", "v"}) == "+OK\r\n");
  // Far from its deadline: fresh, one MGET.
  const std::string far = "current:1000:" + std::to_string(wall_ms() + 50'000'000);
  CHECK(direct.call({"SET", "puppy:b", far, "EX", "100"}) == "+OK\r\n");
  reset_stats(direct);
  for (int i = 0; i < 20; ++i) {
    CHECK(parse_pget(c.call({"PGET", "b", "100", "10", "BETA", "1"})).state == "fresh");
  }
  CHECK(command_calls(direct) == std::map<std::string, long>{{"mget", 20}});
  // 500 ms before it, a last regeneration of 1 s and BETA 1,000,000: early (unless -ln(u) <
  // 5e-7), taken by the script; the others then read fresh until the deadline.
  const std::string near = "current:1000:" + std::to_string(wall_ms() + 500);
  CHECK(direct.call({"SET", "puppy:b", near, "EX", "100"}) == "+OK\r\n");
  const auto early = pget(c, {"b", "100", "10", "BETA", "1000000"});
  CHECK(early.state == "lease");
  CHECK(early.value == std::optional<std::string>("v"));
  CHECK(pget(c, {"b", "100", "10", "BETA", "1000000"}).state == "fresh");
}
