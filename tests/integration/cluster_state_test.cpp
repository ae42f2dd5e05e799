// Stateful clients through puppy-proxy in front of a real Redis Cluster: transactions, WATCH and
// blocking commands on the client's own connection to their node (docs/cluster.md).
#include <catch2/catch.hpp>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

constexpr const char* crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
constexpr const char* execabort =
    "-EXECABORT Transaction discarded because of previous errors.\r\n";

// A key of `prefix` served by node `i`.
std::string key_on(redis_cluster& c, std::size_t i, const std::string& prefix) {
  for (int n = 0;; ++n) {
    const std::string k = prefix + std::to_string(n);
    if (c.owner_of(k) == i) return k;
  }
}

long counter(raw_client& c, const std::string& name) {
  const std::string stats = c.call({"PUPPY", "STATS"});
  const auto at = stats.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stol(stats.substr(at + name.size() + 2));
}

long blocked_on(redis_cluster& c) {
  long sum = 0;
  for (std::size_t i = 0; i < c.size(); ++i) {
    raw_client n(c.node(i).port());
    const std::string info = n.call({"INFO", "clients"});
    sum += std::stol(info.substr(info.find("blocked_clients:") + 16));
  }
  return sum;
}

}  // namespace

TEST_CASE("cluster: a transaction runs on the node of its first key") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());

  SECTION("pipelined, as client libraries send it") {
    c.send(encode({"MULTI"}) + encode({"SET", "{t}a", "1"}) + encode({"INCR", "{t}a"}) +
           encode({"GET", "{t}a"}) + encode({"EXEC"}));
    CHECK(c.read_replies(5) ==
          "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n");
  }
  SECTION("one command at a time, keyless commands first: it moves to its key's node") {
    // MULTI is answered before its key is known; every master is the first key's in turn.
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      const std::string k = key_on(cluster, i, "tx");
      INFO(k);
      REQUIRE(c.call({"MULTI"}) == "+OK\r\n");
      REQUIRE(c.call({"PING"}) == "+QUEUED\r\n");
      REQUIRE(c.call({"SET", k, "v"}) == "+QUEUED\r\n");
      REQUIRE(c.call({"APPEND", k, "w"}) == "+QUEUED\r\n");
      CHECK(c.call({"EXEC"}) == "*3\r\n+PONG\r\n+OK\r\n:2\r\n");
      CHECK(c.call({"GET", k}) == "$2\r\nvw\r\n");
    }
    // A transaction without keys runs on any master.
    REQUIRE(c.call({"MULTI"}) == "+OK\r\n");
    REQUIRE(c.call({"ECHO", "x"}) == "+QUEUED\r\n");
    CHECK(c.call({"EXEC"}) == "*1\r\n$1\r\nx\r\n");
  }
  SECTION("a key of another slot: -CROSSSLOT, and the transaction is aborted") {
    const std::string a = key_on(cluster, 0, "x");
    const std::string b = key_on(cluster, 1, "x");
    c.send(encode({"MULTI"}) + encode({"SET", a, "1"}) + encode({"SET", b, "1"}) +
           encode({"EXEC"}));
    CHECK(c.read_replies(4) == std::string("+OK\r\n+QUEUED\r\n") + crossslot + execabort);
    CHECK(c.call({"EXISTS", a, b}) == ":0\r\n");
    // Same node, other slot: the node's own -CROSSSLOT at EXEC (Redis Cluster's rule).
    std::string same;
    for (int n = 0; same.empty(); ++n) {
      const std::string k = "y" + std::to_string(n);
      if (cluster.owner_of(k) == 0 && k != a) same = k;
    }
    c.send(encode({"MULTI"}) + encode({"SET", a, "1"}) + encode({"SET", same, "1"}) +
           encode({"EXEC"}));
    CHECK(c.read_replies(4) == std::string("+OK\r\n+QUEUED\r\n+QUEUED\r\n") + crossslot);
  }
  SECTION("DISCARD, nesting and errors are the node's") {
    c.send(encode({"MULTI"}) + encode({"SET", "{d}a", "1"}) + encode({"MULTI"}) +
           encode({"DISCARD"}) + encode({"EXISTS", "{d}a"}) + encode({"EXEC"}) +
           encode({"DISCARD"}));
    CHECK(c.read_replies(7) ==
          "+OK\r\n+QUEUED\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n:0\r\n"
          "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n");
  }
  SECTION("WATCH: a change by another client makes EXEC fail") {
    raw_client other(proxy.port());
    REQUIRE(c.call({"WATCH", "{w}k"}) == "+OK\r\n");
    REQUIRE(other.call({"SET", "{w}k", "theirs"}) == "+OK\r\n");
    c.send(encode({"MULTI"}) + encode({"SET", "{w}k", "mine"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*-1\r\n");
    CHECK(c.call({"GET", "{w}k"}) == "$6\r\ntheirs\r\n");
    // Unchanged: it runs. UNWATCH without WATCH is answered here.
    REQUIRE(c.call({"WATCH", "{w}k"}) == "+OK\r\n");
    c.send(encode({"MULTI"}) + encode({"SET", "{w}k", "mine"}) + encode({"EXEC"}));
    CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
    CHECK(c.call({"UNWATCH"}) == "+OK\r\n");
    // Keys watched on two nodes cannot be used by one transaction.
    REQUIRE(c.call({"WATCH", key_on(cluster, 0, "w")}) == "+OK\r\n");
    CHECK(c.call({"WATCH", key_on(cluster, 1, "w")}) == crossslot);
    CHECK(c.call({"UNWATCH"}) == "+OK\r\n");
  }
  SECTION("its slot moves before EXEC: it runs whole on the new node; with WATCH it fails") {
    const std::size_t from = cluster.owner_of("{m}a");
    c.send(encode({"MULTI"}) + encode({"SET", "{m}a", "1"}) + encode({"INCR", "{m}b"}));
    REQUIRE(c.read_replies(3) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n");
    cluster.move_slot("{m}a", (from + 1) % cluster.size());
    CHECK(c.call({"EXEC"}) == "*2\r\n+OK\r\n:1\r\n");
    CHECK(c.call({"MGET", "{m}a", "{m}b"}) == "*2\r\n$1\r\n1\r\n$1\r\n1\r\n");
    CHECK(counter(c, "puppy_cluster_moved_total") >= 1);
    // Queued after the move: the node redirects while queuing; it still runs whole.
    c.send(encode({"MULTI"}) + encode({"INCR", "{m}b"}));
    REQUIRE(c.read_replies(2) == "+OK\r\n+QUEUED\r\n");
    cluster.move_slot("{m}a", (from + 2) % cluster.size());
    c.send(encode({"INCR", "{m}b"}) + encode({"EXEC"}));
    CHECK(c.read_replies(2) == "+QUEUED\r\n*2\r\n:2\r\n:3\r\n");
    // WATCH: the watch stays on the old node, so the transaction cannot run.
    REQUIRE(c.call({"WATCH", "{m}a"}) == "+OK\r\n");
    c.send(encode({"MULTI"}) + encode({"SET", "{m}a", "2"}));
    REQUIRE(c.read_replies(2) == "+OK\r\n+QUEUED\r\n");
    cluster.move_slot("{m}a", from);
    CHECK(c.call({"EXEC"}) == "*-1\r\n");
    CHECK(c.call({"GET", "{m}a"}) == "$1\r\n1\r\n");
  }
}

TEST_CASE("cluster: a blocking command waits on its own connection, holding up no one") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client blocked(proxy.port());
  raw_client other(proxy.port());
  const std::string q = key_on(cluster, 0, "q");
  const std::string near = key_on(cluster, 0, "n");  // served by the same node
  // Pipelined after the BLPOP: answered after it, as by one Redis.
  blocked.send(encode({"BLPOP", q, "0"}) + encode({"GET", near}));
  REQUIRE(wait_until([&] { return blocked_on(cluster) == 1; }, 10s));
  // The shared connection to that node is not held up.
  for (int i = 0; i < 20; ++i) REQUIRE(other.call({"SET", near, std::to_string(i)}) == "+OK\r\n");
  CHECK_FALSE(blocked.has_data(std::chrono::milliseconds(0)));
  REQUIRE(other.call({"RPUSH", q, "job"}) == ":1\r\n");
  CHECK(blocked.read_replies(2) ==
        "*2\r\n$" + std::to_string(q.size()) + "\r\n" + q + "\r\n$3\r\njob\r\n$2\r\n19\r\n");
  // Keys of two slots: the cluster's error; a timeout: nil, as from one Redis.
  CHECK(blocked.call({"BLPOP", q, key_on(cluster, 1, "q"), "1"}) == crossslot);
  CHECK(blocked.call({"BRPOP", q, "0.01"}) == "*-1\r\n");
  // XREAD blocks only with BLOCK.
  CHECK(blocked.call({"XREAD", "STREAMS", "{s}x", "0"}) == "*-1\r\n");
}

TEST_CASE("cluster: pub/sub, classic and sharded, through the proxy") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client sub(proxy.port());
  raw_client pub(proxy.port());
  const auto message = [](const std::string& kind, const std::string& channel,
                          const std::string& payload) {
    return "*3\r\n$" + std::to_string(kind.size()) + "\r\n" + kind + "\r\n$" +
           std::to_string(channel.size()) + "\r\n" + channel + "\r\n$" +
           std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
  };

  SECTION("SUBSCRIBE hears PUBLISH through the proxy and on any node") {
    REQUIRE(sub.call({"SUBSCRIBE", "news"}) == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    // Every client's SUBSCRIBE and PUBLISH share a node: the count is of the proxy's clients.
    CHECK(pub.call({"PUBLISH", "news", "a"}) == ":1\r\n");
    CHECK(sub.read_reply() == message("message", "news", "a"));
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      raw_client node(cluster.node(i).port());
      node.call({"PUBLISH", "news", "from" + std::to_string(i)});
      CHECK(sub.read_reply() == message("message", "news", "from" + std::to_string(i)));
    }
    CHECK(pub.call({"PUBSUB", "NUMSUB", "news"}) == "*2\r\n$4\r\nnews\r\n:1\r\n");
    CHECK(pub.call({"PUBSUB", "CHANNELS"}) == "*1\r\n$4\r\nnews\r\n");
    // Subscribed: other commands are refused as by one Redis, whichever node their key is on.
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      CHECK(sub.call({"GET", key_on(cluster, i, "k")}) ==
            "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
            "RESET are allowed in this context\r\n");
    }
    CHECK(sub.call({"PING"}) == "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    // Pipelined: the last UNSUBSCRIBE ends the context, the GET after it is routed.
    REQUIRE(pub.call({"SET", key_on(cluster, 2, "k"), "v"}) == "+OK\r\n");
    sub.send(encode({"UNSUBSCRIBE"}) + encode({"GET", key_on(cluster, 2, "k")}));
    CHECK(sub.read_replies(2) == "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n$1\r\nv\r\n");
  }
  SECTION("SSUBSCRIBE on the master of each shard channel's slot") {
    const std::string a = key_on(cluster, 0, "sc");
    const std::string b = key_on(cluster, 1, "sc");
    sub.send(encode({"SSUBSCRIBE", a}) + encode({"SSUBSCRIBE", b}));
    CHECK(sub.read_replies(2) == "*3\r\n$10\r\nssubscribe\r\n$" + std::to_string(a.size()) +
                                     "\r\n" + a + "\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$" +
                                     std::to_string(b.size()) + "\r\n" + b + "\r\n:1\r\n");
    CHECK(pub.call({"SPUBLISH", a, "x"}) == ":1\r\n");
    CHECK(sub.read_reply() == message("smessage", a, "x"));
    CHECK(pub.call({"SPUBLISH", b, "y"}) == ":1\r\n");
    CHECK(sub.read_reply() == message("smessage", b, "y"));
    CHECK(pub.call({"PUBSUB", "SHARDNUMSUB", a, b}) ==
          "*4\r\n$" + std::to_string(a.size()) + "\r\n" + a + "\r\n:1\r\n$" +
              std::to_string(b.size()) + "\r\n" + b + "\r\n:1\r\n");
    // SUNSUBSCRIBE of everything: each node confirms its own (counts are per node).
    sub.send(encode({"SUNSUBSCRIBE"}));
    const std::string all = sub.read_replies(2);
    CHECK(all.find("sunsubscribe\r\n$" + std::to_string(a.size()) + "\r\n" + a) !=
          std::string::npos);
    CHECK(all.find("sunsubscribe\r\n$" + std::to_string(b.size()) + "\r\n" + b) !=
          std::string::npos);
    CHECK(sub.call({"GET", a}) == "$-1\r\n");
    // Channels of two slots in one SSUBSCRIBE: the cluster's error.
    CHECK(sub.call({"SSUBSCRIBE", a, b}) == crossslot);
    // Nothing subscribed: the node's answer.
    CHECK(sub.call({"SUNSUBSCRIBE"}) == "*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n");
  }
}

TEST_CASE("cluster: RESP3 clients: their own protocol on every path, pushes while subscribed") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client c(proxy.port());
  REQUIRE(c.call({"HELLO", "3"}).rfind("%7\r\n", 0) == 0);
  REQUIRE(c.call({"HSET", "{h}x", "f", "v"}) == ":1\r\n");
  CHECK(c.call({"HGETALL", "{h}x"}) == "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  CHECK(c.call({"GET", "nothing"}) == "_\r\n");
  CHECK(c.call({"MGET", key_on(cluster, 0, "r"), key_on(cluster, 1, "r")}) == "*2\r\n_\r\n_\r\n");
  CHECK(c.call({"BLPOP", "{q}3", "0.01"}) == "_\r\n");  // own connection: RESP3 as well
  c.send(encode({"MULTI"}) + encode({"HGETALL", "{h}x"}) + encode({"EXEC"}));
  CHECK(c.read_replies(3) == "+OK\r\n+QUEUED\r\n*1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  // Subscribed, a RESP3 client may run any command; messages are pushes.
  CHECK(c.call({"SUBSCRIBE", "n3"}) == ">3\r\n$9\r\nsubscribe\r\n$2\r\nn3\r\n:1\r\n");
  CHECK(c.call({"GET", key_on(cluster, 2, "r")}) == "_\r\n");
  raw_client other(proxy.port());
  CHECK(other.call({"PUBLISH", "n3", "hi"}) == ":1\r\n");
  CHECK(c.read_reply() == ">3\r\n$7\r\nmessage\r\n$2\r\nn3\r\n$2\r\nhi\r\n");
  // Back to RESP2: the subscriptions end with the own connections (docs/cluster.md).
  REQUIRE(c.call({"UNSUBSCRIBE"}) == ">3\r\n$11\r\nunsubscribe\r\n$2\r\nn3\r\n:0\r\n");
  REQUIRE(c.call({"HELLO", "2"}).rfind("*14\r\n", 0) == 0);
  CHECK(c.call({"HGETALL", "{h}x"}) == "*2\r\n$1\r\nf\r\n$1\r\nv\r\n");
  CHECK(c.call({"BLPOP", "{q}3", "0.01"}) == "*-1\r\n");
}

TEST_CASE("cluster: a subscribed client whose node goes away is disconnected") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url());
  raw_client sub(proxy.port());
  const std::string ch = key_on(cluster, 1, "sc");
  REQUIRE(sub.call({"SSUBSCRIBE", ch}).find(":1\r\n") != std::string::npos);
  cluster.node(1).kill();
  // Its subscription is gone: the client is closed, as by a Redis that went away.
  CHECK(sub.read_until_closed() == "");
}
