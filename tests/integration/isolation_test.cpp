// Isolation (issue 12): nothing one client legitimately does may close, stall or corrupt another
// client's connection. Replies Redis itself nests thousands of levels deep, a script that runs
// longer than the shared connection's reply timeout: the other clients on the same upstream
// connection keep getting exactly their replies. Only an upstream that sends what is not RESP
// is a fault that drops a shared connection (counted as upstream_protocol). And the proxy opens
// its shared connection only when a request needs it, so that what clients count in INFO
// clients after CLIENT KILL or a Redis restart is what they count against Redis directly.
// Runs in both `integration` (shared connection) and `integration_pinned`.
#include <catch2/catch.hpp>

#include <atomic>
#include <sstream>
#include <thread>

#include "client.hpp"
#include "review_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

const std::string self_holding_table = "local a = {}; local b = {a}; a[1] = b; return a";
const std::string nested_maps =
    "local r = {double=1.5}; for i=1,tonumber(ARGV[1]) do r = {map={k=r}} end; return r";

double proxy_errors(std::uint16_t proxy_port, const std::string& kind) {
  return proxy_metric(proxy_port, "puppy_errors_total{kind=\"" + kind + "\"}");
}

// A client that pipelines SET/GET pairs with values unique to it and to the round, and checks
// every reply byte for byte, until stopped. Runs in a thread of its own. `busy_ok`: a -BUSY
// error is a right reply too (while a script runs, Redis answers every other connection so).
class bystander {
 public:
  bystander(std::uint16_t port, int id, bool busy_ok = false)
      : id_(id), busy_ok_(busy_ok), thread_([this, port] { run(port); }) {}
  ~bystander() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long rounds() const { return rounds_; }
  const std::string& failure() const { return failure_; }

 private:
  void run(std::uint16_t port) {
    try {
      raw_client c(port);
      for (long r = 0; !stop_; ++r) {
        std::string requests;
        std::vector<std::string> expected;
        for (int j = 0; j < 16; ++j) {
          const std::string key = "by:" + std::to_string(id_) + ":" + std::to_string(j);
          const std::string value =
              std::to_string(id_) + "/" + std::to_string(r) + "/" + std::to_string(j);
          requests += encode({"SET", key, value}) + encode({"GET", key});
          expected.push_back("+OK\r\n");
          expected.push_back("$" + std::to_string(value.size()) + "\r\n" + value + "\r\n");
        }
        c.send(requests);
        bool set_refused = false;
        for (std::size_t i = 0; i < expected.size(); ++i) {
          const std::string got = c.read_reply();
          if (busy_ok_ && got.rfind("-BUSY ", 0) == 0) {
            set_refused = set_refused || i % 2 == 0;
            continue;
          }
          // A GET after a refused SET may find the value of an earlier round.
          if (got != expected[i] && !(set_refused && i % 2 == 1 && got[0] == '$')) {
            failure_ = "round " + std::to_string(r) + ", reply " + std::to_string(i) +
                       ": wrong reply " + got.substr(0, 60);
            return;
          }
        }
        ++rounds_;
      }
    } catch (const std::exception& e) {
      failure_ = std::string("connection failed: ") + e.what();
    }
  }

  int id_;
  bool busy_ok_;
  std::atomic<bool> stop_{false};
  std::atomic<long> rounds_{0};
  std::string failure_;
  std::thread thread_;
};

// Waits until every bystander has completed `more` rounds beyond `since`.
void await_rounds(const std::vector<std::unique_ptr<bystander>>& all,
                  const std::vector<long>& since, long more) {
  REQUIRE(wait_until(
      [&] {
        for (std::size_t i = 0; i < all.size(); ++i) {
          if (!all[i]->failure().empty()) return true;
          if (all[i]->rounds() < since[i] + more) return false;
        }
        return true;
      },
      60s));
}

std::vector<long> rounds_of(const std::vector<std::unique_ptr<bystander>>& all) {
  std::vector<long> out;
  for (const auto& b : all) out.push_back(b->rounds());
  return out;
}

}  // namespace

TEST_CASE("isolation: replies nested thousands of levels deep pass, other clients are untouched") {
  redis_server redis;
  proxy_server proxy(redis.url());
  // What Redis answers directly, RESP2 and RESP3.
  const std::string deep = encode({"EVAL", self_holding_table, "0"});
  const std::string maps = encode({"EVAL", nested_maps, "0", "100000"});
  raw_client direct(redis.port());
  const std::string deep_reply = direct.call({"EVAL", self_holding_table, "0"});
  const std::string maps_reply = direct.call({"EVAL", nested_maps, "0", "100000"});
  raw_client direct3(redis.port());
  direct3.call({"HELLO", "3"});
  const std::string deep_reply3 = direct3.call({"EVAL", self_holding_table, "0"});
  const std::string maps_reply3 = direct3.call({"EVAL", nested_maps, "0", "100000"});
  REQUIRE(deep_reply.size() > 30000);  // about 8,000 levels
  REQUIRE(deep_reply.rfind("-ERR reached lua stack limit\r\n") == deep_reply.size() - 30);
  REQUIRE(maps_reply3.size() > 20000);

  std::vector<std::unique_ptr<bystander>> others;
  for (int i = 0; i < 4; ++i) others.push_back(std::make_unique<bystander>(proxy.port(), i));
  await_rounds(others, std::vector<long>(others.size(), 0), 1);
  const auto before = rounds_of(others);

  raw_client actor(proxy.port());
  raw_client neighbour(proxy.port());
  for (int i = 0; i < 20; ++i) {
    // The neighbour's requests go before and after the deep reply on the same upstream
    // connection (with one shared connection per thread).
    neighbour.send(encode({"SET", "n", std::to_string(i)}));
    actor.send(deep + maps);
    neighbour.send(encode({"GET", "n"}));
    CHECK(actor.read_reply() == deep_reply);
    CHECK(actor.read_reply() == maps_reply);
    CHECK(neighbour.read_replies(2) == "+OK\r\n$" + std::to_string(std::to_string(i).size()) +
                                           "\r\n" + std::to_string(i) + "\r\n");
  }
  // RESP3 (HELLO pins the actor: its own connection).
  CHECK(actor.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
  for (int i = 0; i < 5; ++i) {
    actor.send(deep + maps);
    CHECK(actor.read_reply() == deep_reply3);
    CHECK(actor.read_reply() == maps_reply3);
  }
  CHECK(actor.call({"PING"}) == "+PONG\r\n");
  await_rounds(others, before, 1);
  for (auto& b : others) {
    b->stop();
    INFO("bystander: " << b->failure());
    CHECK(b->failure().empty());
  }
  CHECK(neighbour.call({"GET", "n"}) == "$2\r\n19\r\n");
  CHECK(proxy_errors(proxy.port(), "upstream_protocol") == 0);
  CHECK(proxy_errors(proxy.port(), "upstream_lost") == 0);
}

TEST_CASE("isolation: a script running past --upstream-timeout-ms closes nobody") {
  // Redis answers other connections -BUSY once a script ran past busy-reply-threshold; the
  // proxy's liveness probe hears that and keeps the shared connection.
  redis_server redis({"--busy-reply-threshold", "100"});
  proxy_server proxy(redis.url(), {"--upstream-timeout-ms", "300"});
  raw_client setup(proxy.port());
  CHECK(setup.call({"SET", "k", "v"}) == "+OK\r\n");
  std::vector<std::unique_ptr<bystander>> others;
  for (int i = 0; i < 2; ++i) {
    others.push_back(std::make_unique<bystander>(proxy.port(), i, true));
  }
  await_rounds(others, std::vector<long>(others.size(), 0), 1);

  raw_client actor(proxy.port());
  const std::string busy_loop =
      "local s = redis.call('TIME'); local t0 = s[1] * 1000000 + s[2]; "
      "repeat local t = redis.call('TIME') until t[1] * 1000000 + t[2] - t0 > 1500000; "
      "return 'done'";
  actor.send(encode({"EVAL", busy_loop, "0"}));
  // The script runs: Redis answers a connection of its own -BUSY.
  REQUIRE(wait_until(
      [&] {
        raw_client d(redis.port());
        return d.call({"PING"}).rfind("-BUSY ", 0) == 0;
      },
      10s));
  raw_client neighbour(proxy.port());
  neighbour.send(encode({"GET", "k"}));
  CHECK(actor.read_reply(20s) == "$4\r\ndone\r\n");
  // On a shared connection the GET waited behind the script; on its own connection Redis may
  // have answered it -BUSY, as it answers a client of its own.
  const std::string got = neighbour.read_reply(20s);
  CHECK((got == "$1\r\nv\r\n" || got.rfind("-BUSY ", 0) == 0));
  CHECK(neighbour.call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(actor.call({"PING"}) == "+PONG\r\n");
  const std::vector<long> after_script = rounds_of(others);
  await_rounds(others, after_script, 1);
  for (auto& b : others) {
    b->stop();
    INFO("bystander: " << b->failure());
    CHECK(b->failure().empty());
  }
  CHECK(proxy_errors(proxy.port(), "upstream_timeout") == 0);
  CHECK(proxy_errors(proxy.port(), "upstream_lost") == 0);
}

TEST_CASE(
    "isolation: a reply held back past the timeout while the upstream still answers PING "
    "keeps the shared connection; one that answers nothing is dropped") {
  if (second_run()) return;
  fake_upstream up(16);
  proxy_server proxy(up.url(), {"--shared-connections", "1", "--upstream-timeout-ms", "200",
                                "--upstream-connect-timeout-ms", "500"});
  raw_client w(proxy.port());
  raw_client other(proxy.port());
  const int shared = open_shared_connection(up, w);
  const std::string get = encode({"GET", "slow"});
  w.send(get);
  REQUIRE(read_n(shared, get.size(), 10s) == get);
  // The reply is held back: after 200 ms the proxy probes with a connection of its own.
  const int probe = up.accept_one(10s);
  REQUIRE(probe >= 0);
  const std::string ping = encode({"PING"});
  REQUIRE(read_n(probe, ping.size(), 10s) == ping);
  write_all(probe, "-BUSY Redis is busy running a script.\r\n");
  // Alive: the connection is kept; 200 ms later the proxy probes again, still waiting.
  const int probe2 = up.accept_one(10s);
  REQUIRE(probe2 >= 0);
  REQUIRE(read_n(probe2, ping.size(), 10s) == ping);
  write_all(probe2, "+PONG\r\n");
  write_all(shared, "$4\r\nlate\r\n");
  CHECK(w.read_reply() == "$4\r\nlate\r\n");
  other.send(encode({"ECHO", "x"}));
  REQUIRE(read_n(shared, encode({"ECHO", "x"}).size(), 10s) == encode({"ECHO", "x"}));
  write_all(shared, "$1\r\nx\r\n");
  CHECK(other.read_reply() == "$1\r\nx\r\n");
  CHECK(proxy_errors(proxy.port(), "upstream_timeout") == 0);

  // Now nothing answers: neither the request nor the probe. The connection is failed.
  w.send(get);
  REQUIRE(read_n(shared, get.size(), 10s) == get);
  const int probe3 = up.accept_one(10s);
  REQUIRE(probe3 >= 0);
  CHECK(until_closed(w, 10s).has_value());
  CHECK(until_closed(other, 10s).has_value());
  CHECK(proxy_errors(proxy.port(), "upstream_timeout") == 1);
  CHECK(proxy.log().find("and the upstream does not answer (no answer to a new connection's "
                         "PING within 500 ms)") != std::string::npos);
}

TEST_CASE("isolation: an upstream that sends what is not RESP is an upstream protocol fault") {
  if (second_run()) return;
  fake_upstream up(16);
  proxy_server proxy(up.url(), {"--shared-connections", "1"});
  raw_client w(proxy.port());
  raw_client other(proxy.port());
  const int shared = open_shared_connection(up, w);
  other.send(encode({"PING"}));
  REQUIRE(read_n(shared, encode({"PING"}).size(), 10s) == encode({"PING"}));
  write_all(shared, "?not RESP\r\n");
  CHECK(until_closed(other, 10s).has_value());
  CHECK(until_closed(w, 10s).has_value());  // attached to the same connection
  CHECK(proxy_errors(proxy.port(), "upstream_protocol") == 1);
  CHECK(proxy_errors(proxy.port(), "upstream_lost") == 0);
  CHECK(proxy.log().find("shared upstream connection ended (upstream protocol fault: invalid "
                         "reply: unknown reply type byte); closing its clients") !=
        std::string::npos);
}

namespace {

// connected_clients from INFO clients on `c`.
int connected_clients(raw_client& c) {
  const std::string info = c.call({"INFO", "clients"});
  const auto at = info.find("connected_clients:");
  REQUIRE(at != std::string::npos);
  return std::stoi(info.substr(at + 18));
}

// The sequence of the issue: a client writes (through the shared connection, if any), then
// kills every connection with CLIENT KILL SKIPME NO; a new client then counts the clients.
int count_after_kill_all(std::uint16_t port) {
  {
    raw_client c(port);
    CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
    CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
    c.send(encode({"CLIENT", "KILL", "SKIPME", "NO"}));
    CHECK(until_closed(c, 10s).has_value());
  }
  raw_client d(port);
  return connected_clients(d);
}

// The same around a Redis restart.
int count_after_restart(redis_server& redis, std::uint16_t port) {
  {
    raw_client c(port);
    CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
    redis.stop();
    redis.start();
  }
  raw_client d(port);
  return connected_clients(d);
}

}  // namespace

TEST_CASE("connected_clients after CLIENT KILL SKIPME NO through the proxy is Redis's own") {
  redis_server direct_redis;
  redis_server behind;
  proxy_server proxy(behind.url());
  const int direct = count_after_kill_all(direct_redis.port());
  CHECK(direct == 1);
  CHECK(count_after_kill_all(proxy.port()) == direct);
  // Again, with the proxy's connections all made before (none left from the first round).
  CHECK(count_after_kill_all(proxy.port()) == direct);
}

TEST_CASE("connected_clients after a Redis restart is Redis's own") {
  redis_server direct_redis;
  redis_server behind;
  proxy_server proxy(behind.url());
  const int direct = count_after_restart(direct_redis, direct_redis.port());
  CHECK(direct == 1);
  CHECK(count_after_restart(behind, proxy.port()) == direct);
}

TEST_CASE("the first request after the shared connection was killed waits for the new one") {
  redis_server redis;
  proxy_server proxy(redis.url());
  const char* args = std::getenv("PUPPY_TEST_PROXY_ARGS");
  const bool pinned =
      args != nullptr && std::string(args).find("--shared-connections 0") != std::string::npos;
  double lost = 0;
  for (int i = 0; i < 3; ++i) {
    {
      raw_client c(proxy.port());
      CHECK(c.call({"SET", "k", std::to_string(i)}) == "+OK\r\n");
    }
    raw_client direct(redis.port());
    // A pinned connection ends with its client: once it has, the kill finds none (else it
    // would race with the proxy closing it after the client's EOF).
    if (pinned) REQUIRE(wait_until([&] { return connected_clients(direct) == 1; }, 10s));
    const std::string killed = direct.call({"CLIENT", "KILL", "SKIPME", "YES"});
    REQUIRE(killed.rfind(":", 0) == 0);
    // Once the proxy saw every shared connection killed end (one per worker thread that served
    // a client so far; a request racing with the kill would be lost with it, as a direct
    // client's would).
    lost += std::stod(killed.substr(1));
    REQUIRE(wait_until([&] { return proxy_errors(proxy.port(), "upstream_lost") == lost; }, 10s));
    // Every request of a pipeline sent at once, right after: answered by Redis, none with an
    // error.
    raw_client c(proxy.port());
    c.send(encode({"GET", "k"}) + encode({"INCR", "n"}) + encode({"GET", "k"}));
    const std::string v = std::to_string(i);
    CHECK(c.read_replies(3) ==
          "$1\r\n" + v + "\r\n:" + std::to_string(i + 1) + "\r\n$1\r\n" + v + "\r\n");
  }
  CHECK(proxy_errors(proxy.port(), "upstream_unavailable") == 0);
}
