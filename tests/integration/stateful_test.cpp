// Per-connection state works because every client has its own upstream connection: transactions,
// SELECT, AUTH, HELLO 3, pub/sub, blocking commands, MONITOR, CLIENT, RESET, QUIT.
#include <catch2/catch.hpp>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

struct setup {
  redis_server redis;
  proxy_server proxy{redis.url()};
};

}  // namespace

TEST_CASE("MULTI/EXEC, WATCH and DISCARD") {
  setup s;
  raw_client c(s.proxy.port());
  raw_client other(s.proxy.port());
  CHECK(c.call({"MULTI"}) == "+OK\r\n");
  CHECK(c.call({"SET", "t", "1"}) == "+QUEUED\r\n");
  CHECK(c.call({"INCR", "t"}) == "+QUEUED\r\n");
  CHECK(c.call({"EXEC"}) == "*2\r\n+OK\r\n:2\r\n");
  CHECK(c.call({"WATCH", "t"}) == "+OK\r\n");
  CHECK(other.call({"SET", "t", "changed"}) == "+OK\r\n");
  CHECK(c.call({"MULTI"}) == "+OK\r\n");
  CHECK(c.call({"SET", "t", "mine"}) == "+QUEUED\r\n");
  CHECK(c.call({"EXEC"}) == "*-1\r\n");
  CHECK(c.call({"MULTI"}) == "+OK\r\n");
  CHECK(c.call({"DISCARD"}) == "+OK\r\n");
  CHECK(c.call({"GET", "t"}) == "$7\r\nchanged\r\n");
}

TEST_CASE("SELECT stays with its client") {
  setup s;
  raw_client a(s.proxy.port());
  raw_client b(s.proxy.port());
  CHECK(a.call({"SELECT", "3"}) == "+OK\r\n");
  CHECK(a.call({"SET", "db", "three"}) == "+OK\r\n");
  CHECK(b.call({"GET", "db"}) == "$-1\r\n");
  CHECK(b.call({"SELECT", "3"}) == "+OK\r\n");
  CHECK(b.call({"GET", "db"}) == "$5\r\nthree\r\n");
}

TEST_CASE("AUTH is passed through to the upstream") {
  redis_server redis({"--requirepass", "sekret"});
  proxy_server proxy(redis.url());
  raw_client c(proxy.port());
  CHECK(c.call({"GET", "x"}) == "-NOAUTH Authentication required.\r\n");
  CHECK(c.call({"AUTH", "wrong"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK(c.call({"AUTH", "sekret"}) == "+OK\r\n");
  CHECK(c.call({"GET", "x"}) == "$-1\r\n");
}

TEST_CASE("HELLO 3 switches to RESP3 and pushes are relayed as they come") {
  setup s;
  raw_client c(s.proxy.port());
  const std::string hello = c.call({"HELLO", "3"});
  CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
  CHECK(c.call({"HSET", "h", "f", "v"}) == ":1\r\n");
  CHECK(c.call({"HGETALL", "h"}) == "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
  CHECK(c.call({"CLIENT", "TRACKING", "on"}) == "+OK\r\n");
  CHECK(c.call({"GET", "tracked"}) == "_\r\n");
  raw_client other(s.proxy.port());
  CHECK(other.call({"SET", "tracked", "1"}) == "+OK\r\n");
  CHECK(c.read_reply() == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$7\r\ntracked\r\n");
  // A push between replies does not upset ordering: a protocol error after it still comes last.
  c.send(encode({"PING"}) + "*1\r\n$x\r\n");
  CHECK(c.read_until_closed() == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n");
}

TEST_CASE("SUBSCRIBE, PSUBSCRIBE and SSUBSCRIBE relay messages as they arrive") {
  setup s;
  raw_client sub(s.proxy.port());
  raw_client pub(s.proxy.port());
  CHECK(sub.call({"SUBSCRIBE", "news", "sport"}) ==
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
  CHECK(sub.read_reply() == "*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n");
  CHECK(sub.call({"PSUBSCRIBE", "n*"}) == "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n");
  CHECK(sub.call({"SSUBSCRIBE", "shard"}) == "*3\r\n$10\r\nssubscribe\r\n$5\r\nshard\r\n:1\r\n");
  CHECK(pub.call({"PUBLISH", "news", "hello"}) == ":2\r\n");
  CHECK(sub.read_reply() == "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
  CHECK(sub.read_reply() == "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
  CHECK(pub.call({"SPUBLISH", "shard", "s"}) == ":1\r\n");
  CHECK(sub.read_reply() == "*3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n$1\r\ns\r\n");
  CHECK(sub.call({"PING"}) == "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
  CHECK(sub.call({"GET", "x"}) ==
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context\r\n");
  CHECK(sub.call({"UNSUBSCRIBE", "news"}) == "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n");
  // RESET leaves pub/sub; afterwards replies are counted again (a protocol error comes last).
  CHECK(sub.call({"RESET"}) == "+RESET\r\n");
  sub.send(encode({"GET", "x"}) + "*1\r\n$x\r\n");
  CHECK(sub.read_until_closed() == "$-1\r\n-ERR Protocol error: invalid bulk length\r\n");
}

TEST_CASE("RESP3 pub/sub: messages are pushes") {
  setup s;
  raw_client sub(s.proxy.port());
  raw_client pub(s.proxy.port());
  sub.call({"HELLO", "3"});
  CHECK(sub.call({"SUBSCRIBE", "ch"}) == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
  CHECK(sub.call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(pub.call({"PUBLISH", "ch", "m"}) == ":1\r\n");
  CHECK(sub.read_reply() == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
}

TEST_CASE("BLPOP 0 waits as long as it takes") {
  setup s;
  raw_client blocked(s.proxy.port());
  raw_client pusher(s.proxy.port());
  blocked.send(encode({"BLPOP", "queue", "0"}));
  CHECK_FALSE(blocked.has_data(300ms));
  CHECK(pusher.call({"RPUSH", "queue", "job"}) == ":1\r\n");
  CHECK(blocked.read_reply() == "*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
  CHECK(blocked.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("MONITOR streams every command") {
  setup s;
  raw_client mon(s.proxy.port());
  raw_client c(s.proxy.port());
  CHECK(mon.call({"MONITOR"}) == "+OK\r\n");
  CHECK(c.call({"SET", "watched", "1"}) == "+OK\r\n");
  const std::string line = mon.read_reply();
  CHECK(line.front() == '+');
  CHECK(line.find("\"SET\" \"watched\" \"1\"") != std::string::npos);
}

TEST_CASE("CLIENT SETNAME, GETNAME, ID, REPLY and KILL") {
  setup s;
  raw_client c(s.proxy.port());
  CHECK(c.call({"CLIENT", "SETNAME", "worker-1"}) == "+OK\r\n");
  CHECK(c.call({"CLIENT", "GETNAME"}) == "$8\r\nworker-1\r\n");
  CHECK(c.call({"CLIENT", "SETINFO", "LIB-NAME", "x"}).front() == '-');  // Redis 7.0: no SETINFO
  const std::string id = c.call({"CLIENT", "ID"});
  CHECK(id.front() == ':');
  // REPLY SKIP: no reply for the next command; REPLY OFF ... ON.
  c.send(encode({"CLIENT", "REPLY", "SKIP"}) + encode({"SET", "skipped", "1"}) +
         encode({"GET", "skipped"}));
  CHECK(c.read_reply() == "$1\r\n1\r\n");
  c.send(encode({"CLIENT", "REPLY", "OFF"}) + encode({"SET", "off", "1"}) +
         encode({"CLIENT", "REPLY", "ON"}) + encode({"GET", "off"}));
  CHECK(c.read_replies(2) == "+OK\r\n$1\r\n1\r\n");
  // Killing its own upstream connection closes the client, as Redis would.
  raw_client victim(s.proxy.port());
  const std::string victim_id = victim.call({"CLIENT", "ID"});
  CHECK(c.call({"CLIENT", "KILL", "ID", victim_id.substr(1, victim_id.size() - 3)}) == ":1\r\n");
  CHECK(victim.read_until_closed().empty());
}

TEST_CASE("QUIT answers +OK and closes") {
  setup s;
  raw_client c(s.proxy.port());
  c.send(encode({"QUIT"}));
  CHECK(c.read_until_closed() == "+OK\r\n");
}

TEST_CASE("scripts run through the pinned connection") {
  setup s;
  raw_client c(s.proxy.port());
  CHECK(c.call({"EVAL", "return {1, 'two', {3}}", "0"}) == "*3\r\n:1\r\n$3\r\ntwo\r\n*1\r\n:3\r\n");
  const std::string sha = c.call({"SCRIPT", "LOAD", "return redis.call('incr', KEYS[1])"});
  CHECK(sha.size() == 40 + 7);
  CHECK(c.call({"EVALSHA", sha.substr(5, 40), "1", "counter"}) == ":1\r\n");
}
