// Edges of puppy-proxy in front of a real Redis Cluster: a client's own connection to a node
// (docs/cluster.md, "Lanes") closed by the node inside MULTI or under a WATCH, and the PGET
// family's wake-up publication on a shard channel of the key's slot ("PGET").
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

constexpr const char* execabort =
    "-EXECABORT Transaction discarded because of previous errors.\r\n";

double upstream_lost(const proxy_server& proxy) {
  return proxy_metric(proxy.port(), "puppy_errors_total{kind=\"upstream_lost\"}");
}

// The id of the one client of the node whose CLIENT LIST line holds `field` ("flags=x": the
// proxy's own connection of a client in MULTI; "cmd=watch": the one a WATCH went to).
std::string only_client_with(raw_client& node, const std::string& field) {
  const auto list = bulk_strings("*1\r\n" + node.call({"CLIENT", "LIST"}));
  REQUIRE(list.size() == 1);
  std::istringstream in(list.front());
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    if ((line + " ").find(" " + field + " ") != std::string::npos) {
      ids.push_back(line.substr(3, line.find(' ') - 3));
    }
  }
  INFO(list.front());
  REQUIRE(ids.size() == 1);
  return ids.front();
}

// Closes that client's connection on the node, and waits until the proxy has seen it go (its
// upstream_lost count goes up), so that what the client sends next meets a connection known to
// be gone (not one whose end is still in flight: that would be "connection lost", as for a
// request written before a failure).
void kill_and_await(raw_client& node, const std::string& id, const proxy_server& proxy) {
  const double before = upstream_lost(proxy);
  REQUIRE(node.call({"CLIENT", "KILL", "ID", id}) == ":1\r\n");
  REQUIRE(wait_until([&] { return upstream_lost(proxy) > before; }, 10s));
}

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

std::string pushed(const std::string& kind, const std::string& channel,
                   const std::string& payload) {
  return "*3\r\n" + bulk(kind) + bulk(channel) + bulk(payload);
}

}  // namespace

TEST_CASE("cluster: the own connection of a client in MULTI closed by its node: EXECABORT") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  raw_client other(proxy.port());
  const std::string key = "{edge1}a";
  raw_client node(cluster.node(cluster.owner_of(key)).port());

  REQUIRE(c.call({"MULTI"}) == "+OK\r\n");
  REQUIRE(c.call({"SET", key, "1"}) == "+QUEUED\r\n");
  kill_and_await(node, only_client_with(node, "flags=x"), proxy);
  // The node discarded the transaction with the connection; nothing more of it is sent (on a
  // new connection EXEC would find no MULTI).
  SECTION("EXEC") {
    CHECK(c.call({"EXEC"}) == execabort);
  }
  SECTION("DISCARD") {
    CHECK(c.call({"DISCARD"}) == "+OK\r\n");
  }
  CHECK(other.call({"EXISTS", key}) == ":0\r\n");
  // The client's connection to the proxy goes on; its next transaction opens a new connection.
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  c.send(encode({"MULTI"}) + encode({"SET", key, "2"}) + encode({"EXEC"}));
  CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
  CHECK(other.call({"GET", key}) == "$1\r\n2\r\n");
}

TEST_CASE("cluster: a WATCH whose own connection went: EXEC fails as if a watched key changed") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  raw_client other(proxy.port());
  const std::string key = "{edge2}a";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  REQUIRE(other.call({"SET", key, "1"}) == "+OK\r\n");
  REQUIRE(c.call({"WATCH", key}) == "+OK\r\n");
  const std::string watching = only_client_with(node, "cmd=watch");
  // What the key holds at the end: the transaction never ran.
  std::string stays = "$1\r\n1\r\n";

  SECTION("closed by the node, then MULTI") {
    kill_and_await(node, watching, proxy);
    // MULTI and its commands go to a new connection, where nothing is watched: EXEC discards.
    CHECK(c.call({"MULTI"}) == "+OK\r\n");
    CHECK(c.call({"SET", key, "2"}) == "+QUEUED\r\n");
    CHECK(c.call({"EXEC"}) == "*-1\r\n");
  }
  SECTION("closed by the node, then a blocking command opens a new connection to that node") {
    kill_and_await(node, watching, proxy);
    CHECK(c.call({"BLPOP", "{edge2}q", "0.01"}) == "*-1\r\n");
    REQUIRE(other.call({"SET", key, "theirs"}) == "+OK\r\n");
    stays = "$6\r\ntheirs\r\n";
    c.send(encode({"MULTI"}) + encode({"SET", key, "2"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*-1\r\n");
  }
  SECTION("closed by the node, then a WATCH of another key on a new connection to that node") {
    kill_and_await(node, watching, proxy);
    CHECK(c.call({"WATCH", "{edge2}b"}) == "+OK\r\n");
    REQUIRE(other.call({"SET", key, "theirs"}) == "+OK\r\n");
    stays = "$6\r\ntheirs\r\n";
    c.send(encode({"MULTI"}) + encode({"SET", key, "2"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*-1\r\n");
  }
  SECTION("closed by the node, then UNWATCH: +OK as always, and the next transaction runs") {
    kill_and_await(node, watching, proxy);
    CHECK(c.call({"UNWATCH"}) == "+OK\r\n");
    c.send(encode({"MULTI"}) + encode({"SET", key, "2"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
    stays = "$1\r\n2\r\n";
  }
  SECTION("closed by the proxy: HELLO 3 ends the own connections (RESP3's null)") {
    REQUIRE(c.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
    c.send(encode({"MULTI"}) + encode({"SET", key, "2"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n_\r\n");
  }
  CHECK(other.call({"GET", key}) == stays);
  // The client goes on: a new WATCH holds on a new connection, and its transaction runs.
  REQUIRE(c.call({"WATCH", key}) == "+OK\r\n");
  c.send(encode({"MULTI"}) + encode({"SET", key, "mine"}) + encode({"EXEC"}));
  CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
  CHECK(other.call({"GET", key}) == "$4\r\nmine\r\n");
}

TEST_CASE("cluster: PSET, PRELEASE and PINVALIDATE SPUBLISH the key on its slot's shard channel") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  // The channel a change of `key` is published on: "<wake channel>:<status key>", the status
  // key "puppy:{key}" (or "puppy:key" for a key with a hash tag) in the key's slot; the payload
  // is the key. (A PGET ... WAIT answered after a PSET over a cluster: pget_backends_test.cpp.)
  const std::string key = "edge3";
  const std::string channel = "puppy:wake:puppy:{edge3}";
  raw_client sub(cluster.node(cluster.owner_of(key)).port());
  REQUIRE(sub.call({"SSUBSCRIBE", channel}) ==
          "*3\r\n" + bulk("ssubscribe") + bulk(channel) + ":1\r\n");
  // On the same connection, the classic wake channel: nothing is published there in a cluster.
  REQUIRE(sub.call({"SUBSCRIBE", "puppy:wake"}) ==
          "*3\r\n" + bulk("subscribe") + bulk("puppy:wake") + ":1\r\n");

  const auto lease = pget(c, {key, "100", "10"});
  REQUIRE(lease.state == "lease");
  REQUIRE(lease.token);
  CHECK(c.call({"PSET", key, *lease.token, "v1", "100", "10"}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("smessage", channel, key));
  // A refused PSET and a fresh hit publish nothing; PINVALIDATE and PRELEASE do.
  CHECK(c.call({"PSET", key, *lease.token, "v2", "100", "10"}) == ":0\r\n");
  CHECK(pget(c, {key, "100", "10"}).value == std::optional<std::string>("v1"));
  CHECK(c.call({"PINVALIDATE", key}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("smessage", channel, key));
  const auto again = pget(c, {key, "100", "10"});
  REQUIRE(again.state == "lease");
  REQUIRE(again.token);
  CHECK(c.call({"PRELEASE", key, *again.token}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("smessage", channel, key));
  // The status is gone: PINVALIDATE finds none and publishes nothing.
  CHECK(c.call({"PINVALIDATE", key}) == ":1\r\n");
  // Markers published on the node itself come next: nothing else was published on either.
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  REQUIRE(node.call({"SPUBLISH", channel, "end"}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("smessage", channel, "end"));
  REQUIRE(node.call({"PUBLISH", "puppy:wake", "end"}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("message", "puppy:wake", "end"));

  // A key with a hash tag: its status key is "puppy:<key>", already in the tag's slot.
  const std::string tagged = "{edge3}t";
  const std::string tagged_channel = "puppy:wake:puppy:{edge3}t";
  REQUIRE(sub.call({"SSUBSCRIBE", tagged_channel}) ==
          "*3\r\n" + bulk("ssubscribe") + bulk(tagged_channel) + ":2\r\n");
  const auto t = pget(c, {tagged, "100", "10"});
  REQUIRE(t.token);
  CHECK(c.call({"PSET", tagged, *t.token, "tv", "100", "10"}) == ":1\r\n");
  CHECK(sub.read_reply() == pushed("smessage", tagged_channel, tagged));
}

namespace {

// Calls of `command` the node has run (INFO commandstats), 0 if none.
long calls_of(raw_client& node, const std::string& command) {
  const std::string info = node.call({"INFO", "commandstats"});
  const std::string field = "cmdstat_" + command + ":calls=";
  const auto at = info.find(field);
  return at == std::string::npos ? 0 : std::stol(info.substr(at + field.size()));
}

// What a PGET costs the node: its first read and its script.
long pget_looks(raw_client& node) {
  return calls_of(node, "mget") + calls_of(node, "evalsha") + calls_of(node, "eval");
}

// PUBSUB SHARDNUMSUB of one channel on the node.
std::string shard_subscribers(raw_client& node, const std::string& channel) {
  return node.call({"PUBSUB", "SHARDNUMSUB", channel});
}

std::string one_subscriber(const std::string& channel) {
  return "*2\r\n" + bulk(channel) + ":1\r\n";
}

}  // namespace

TEST_CASE("cluster: PGET ... WAIT is woken through its key's shard channel, not by polling") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client a(proxy.port());
  raw_client b(proxy.port());
  const std::string key = "edge4";
  const std::string channel = "puppy:wake:puppy:{edge4}";
  const std::size_t owner = cluster.owner_of(key);
  raw_client node(cluster.node(owner).port());

  const auto lease = pget(a, {key, "100", "30"});
  REQUIRE(lease.token);
  const long base = pget_looks(node);  // a's read and script (loading it on the node)
  b.send(encode({"PGET", key, "100", "30", "WAIT", "20000"}));
  // The proxy subscribes to the key's channel on the key's node, then looks once more (a PSET
  // may have come before the subscription), and from then on waits without asking the node.
  REQUIRE(
      wait_until([&] { return shard_subscribers(node, channel) == one_subscriber(channel); }, 10s));
  // b's read and script, twice: before and after its subscription was confirmed.
  // b's read and script, then again once its subscription is confirmed (and more if a poll
  // came first, on a slow machine).
  REQUIRE(wait_until([&] { return pget_looks(node) >= base + 4; }, 10s));

  SECTION("published") {
    CHECK_FALSE(b.has_data(300ms));  // the look after the confirmation is done by then
    const long settled = pget_looks(node);
    CHECK_FALSE(b.has_data(300ms));
    CHECK(pget_looks(node) == settled);  // no polling (every 25 ms without a subscription)
  }
  SECTION("its subscribed connection closed by the node: it looks again and subscribes again") {
    const std::string id = only_client_with(node, "cmd=ssubscribe");
    REQUIRE(node.call({"CLIENT", "KILL", "ID", id}) == ":1\r\n");
    // It looks again at once, polls while it is not subscribed, and subscribes again (after
    // shard_wakes::retry_after_failure).
    CHECK(wait_until([&] { return pget_looks(node) >= base + 6; }, 10s));
    REQUIRE(wait_until([&] { return shard_subscribers(node, channel) == one_subscriber(channel); },
                       10s));
    CHECK_FALSE(b.has_data(100ms));
  }
  SECTION("its slot moved: the node ends the subscription, the proxy subscribes on the new node") {
    const std::size_t to = (owner + 1) % cluster.size();
    cluster.move_slot(key, to);
    raw_client new_node(cluster.node(to).port());
    REQUIRE(wait_until(
        [&] { return shard_subscribers(new_node, channel) == one_subscriber(channel); }, 10s));
    CHECK(shard_subscribers(node, channel) == "*2\r\n" + bulk(channel) + ":0\r\n");
    CHECK_FALSE(b.has_data(100ms));
  }
  CHECK(a.call({"PSET", key, *lease.token, "computed", "100", "30"}) == ":1\r\n");
  const auto got = parse_pget(b.read_reply(10s));
  CHECK(got.state == "fresh");
  CHECK(got.value == std::optional<std::string>("computed"));
  // The last waiter gone, the proxy's subscription ends.
  const std::size_t now_owner = cluster.owner_of(key);
  raw_client last(cluster.node(now_owner).port());
  CHECK(wait_until(
      [&] { return shard_subscribers(last, channel) == "*2\r\n" + bulk(channel) + ":0\r\n"; },
      10s));
}

TEST_CASE("cluster: a cold miss takes the lease with SET NX GET and GET, no script") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(), {"--threads", "1"});
  raw_client c(proxy.port());
  raw_client other(proxy.port());
  const std::string key = "edge-cold";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  REQUIRE(node.call({"CONFIG", "RESETSTAT"}) == "+OK\r\n");
  const auto lease = pget(c, {key, "100", "10"});
  CHECK(lease.state == "lease");
  REQUIRE(lease.token);
  // The read, then the lease step on the key's master: what a session costs a single Redis.
  CHECK(calls_of(node, "mget") == 1);
  CHECK(calls_of(node, "set") == 1);
  CHECK(calls_of(node, "get") == 1);
  CHECK(calls_of(node, "evalsha") + calls_of(node, "eval") == 0);
  // The lease is the node's: another reader misses, the holder's PSET is taken.
  CHECK(pget(other, {key, "100", "10"}).state == "miss");
  CHECK(c.call({"PSET", key, *lease.token, "v1", "100", "10"}) == ":1\r\n");
  // A value without a status (written by another client): the lease, with the value.
  REQUIRE(node.call({"DEL", "puppy:{" + key + "}"}) == ":1\r\n");
  const auto again = pget(other, {key, "100", "10"});
  CHECK(again.state == "lease");
  CHECK(again.value == std::optional<std::string>("v1"));
  // The only script was PSET's: the node did not have it (EVALSHA, NOSCRIPT, then EVAL).
  CHECK(calls_of(node, "evalsha") == 1);
  CHECK(calls_of(node, "eval") == 1);
}

TEST_CASE("cluster: the waiters of one key share their looks: one read per publication") {
  // 50 clients wait for one key on one worker thread. When the key is published, one of them
  // looks and its value answers all 50: the node sees one MGET, not 50. (While they wait, the
  // waiters also look through the same sharing at least once a second, and every 25 ms until
  // the proxy has the subscription's confirmation: such a look may fall in the moments between
  // the PSET and the last answer, hence "at most 5", not "1"; 50 without the sharing.)
  redis_cluster cluster;
  proxy_server proxy(cluster.url(), {"--threads", "1"});
  raw_client a(proxy.port());
  const std::string key = "edge6";
  const std::string channel = "puppy:wake:puppy:{edge6}";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  const auto lease = pget(a, {key, "100", "30"});
  REQUIRE(lease.token);
  const double waits = proxy_metric(proxy.port(), "puppy_pget_waits_total");
  std::vector<std::unique_ptr<raw_client>> waiters;
  for (int i = 0; i < 50; ++i) {
    waiters.push_back(std::make_unique<raw_client>(proxy.port()));
    waiters.back()->send(encode({"PGET", key, "100", "30", "WAIT", "20000"}));
  }
  REQUIRE(wait_until(
      [&] { return proxy_metric(proxy.port(), "puppy_pget_waits_total") >= waits + 50; }, 10s));
  REQUIRE(
      wait_until([&] { return shard_subscribers(node, channel) == one_subscriber(channel); }, 10s));
  // The look that follows the confirmation is answered by then, and no waiter was answered.
  CHECK_FALSE(waiters.front()->has_data(300ms));
  REQUIRE(node.call({"CONFIG", "RESETSTAT"}) == "+OK\r\n");
  CHECK(a.call({"PSET", key, *lease.token, "computed", "100", "30"}) == ":1\r\n");
  for (auto& w : waiters) {
    const auto got = parse_pget(w->read_reply(10s));
    CHECK(got.state == "fresh");
    CHECK(got.value == std::optional<std::string>("computed"));
  }
  CHECK(calls_of(node, "mget") <= 5);
  CHECK(calls_of(node, "evalsha") + calls_of(node, "eval") <= 5);
  // The last waiter answered, the proxy's subscription ends.
  CHECK(wait_until(
      [&] { return shard_subscribers(node, channel) == "*2\r\n" + bulk(channel) + ":0\r\n"; },
      10s));
}

TEST_CASE("cluster: a PGET ... WAIT whose client went away ends at once, leaving its channel") {
  // Redis frees a blocked client when it goes; the proxy lets a waiting PGET's client go at once
  // too (not when the wait would have run out, 60 s here), and its subscription ends with its
  // last waiter.
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client a(proxy.port());
  const std::string key = "edge5";
  const std::string channel = "puppy:wake:puppy:{edge5}";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  const auto lease = pget(a, {key, "300", "100"});
  REQUIRE(lease.token);
  {
    raw_client b(proxy.port());
    b.send(encode({"PGET", key, "300", "100", "WAIT", "60000"}));
    REQUIRE(wait_until([&] { return shard_subscribers(node, channel) == one_subscriber(channel); },
                       10s));
    CHECK(proxy_metric(proxy.port(), "puppy_connections_current") == 3);  // a, b, and this one
  }  // b disconnects while its PGET waits
  CHECK(wait_until(
      [&] { return shard_subscribers(node, channel) == "*2\r\n" + bulk(channel) + ":0\r\n"; },
      10s));
  CHECK(wait_until([&] { return proxy_metric(proxy.port(), "puppy_connections_current") == 2; },
                   10s));
  CHECK(a.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("cluster: a client that goes while blocked is let go at once, and so is its node's") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  const std::string key = "{edge6}q";
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  const auto blocked_on_node = [&] {
    return node.call({"CLIENT", "LIST"}).find("cmd=blpop") != std::string::npos;
  };
  {
    raw_client c(proxy.port());
    c.send(encode({"BLPOP", key, "0"}) + encode({"PING"}));
    REQUIRE(wait_until(blocked_on_node, 10s));
  }  // gone while BLPOP blocks (forever)
  CHECK(wait_until([&] { return !blocked_on_node(); }, 10s));
  CHECK(wait_until([&] { return proxy_metric(proxy.port(), "puppy_connections_current") == 1; },
                   10s));
  // A client that only half-closes after a request that does not block still gets its answer.
  raw_client d(proxy.port());
  d.send(encode({"LPUSH", key, "x"}) + encode({"LPOP", key}));
  d.shutdown_write();
  CHECK(d.read_until_closed() == ":1\r\n$1\r\nx\r\n");
}

TEST_CASE("cluster: a blocking command that would start after its client went is let go too") {
  // BLPOP waits in the proxy behind the client's earlier request (a script busy for 300 ms on
  // the node) when the client goes; once the script is answered, BLPOP would start for nobody.
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  const std::string key = "{edge7}q";
  const std::string busy =
      "local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] "
      "repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - t0 > 300000 return 1";
  {
    raw_client c(proxy.port());
    c.send(encode({"EVAL", busy, "1", key}) + encode({"BLPOP", key, "0"}));
  }  // gone while the script runs
  CHECK(wait_until([&] { return proxy_metric(proxy.port(), "puppy_connections_current") == 1; },
                   10s));
  raw_client node(cluster.node(cluster.owner_of(key)).port());
  CHECK(wait_until(
      [&] {
        return node.call({"CLIENT", "LIST"}).find("cmd=blpop") == std::string::npos;
      },
      10s));
}
