// Passwords: the proxy's own (--requirepass), checked by the proxy exactly as Redis checks its
// requirepass, and the credentials the proxy uses on its upstream connections.
#include <catch2/catch.hpp>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

const std::string noauth = "-NOAUTH Authentication required.\r\n";
const std::string wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

// Sends each request on its own to `port` and returns the replies, one per request.
std::vector<std::string> replies_of(std::uint16_t port, const std::vector<std::string>& requests) {
  raw_client c(port);
  std::vector<std::string> out;
  for (const auto& r : requests) {
    c.send(r);
    out.push_back(c.read_reply());
  }
  return out;
}

}  // namespace

TEST_CASE("requirepass: the proxy answers AUTH, HELLO and NOAUTH exactly as Redis does") {
  redis_server guarded({"--requirepass", "pw"});  // the reference: Redis's own requirepass
  redis_server open;
  proxy_server proxy(open.url(), {"--requirepass", "pw"});

  const std::vector<std::string> script = {
      encode({"GET", "k"}),
      encode({"SELECT", "1"}),
      encode({"AUTH"}),
      encode({"AUTH", "a", "b", "c"}),
      encode({"AUTH", "nope"}),
      encode({"AUTH", "default", "nope"}),
      encode({"AUTH", "alice", "pw"}),
      encode({"HELLO"}),
      encode({"HELLO", "3"}),
      encode({"HELLO", "4"}),
      encode({"HELLO", "x"}),
      encode({"HELLO", "3", "AUTH", "default"}),
      encode({"HELLO", "3", "AUTH", "default", "nope"}),
      "PING\r\n",
      encode({"AUTH", "pw"}),
      encode({"SET", "k", "v"}),
      encode({"GET", "k"}),
      encode({"AUTH", "nope"}),  // a failed AUTH leaves the client logged in
      encode({"GET", "k"}),
      encode({"RESET"}),  // ... and RESET logs it out
      encode({"GET", "k"}),
      encode({"AUTH", "default", "pw"}),
      encode({"GET", "k"}),
      encode({"QUIT"}),
  };
  const auto expected = replies_of(guarded.port(), script);
  CHECK(expected[0] == noauth);  // the reference behaves as assumed
  CHECK(replies_of(proxy.port(), script) == expected);
  // The proxy's own commands too. (Redis says "unknown command" to a command it does not know
  // before it says NOAUTH; the proxy cannot know the upstream's commands, so it says NOAUTH.)
  CHECK(replies_of(proxy.port(), {encode({"PGET", "k"}), encode({"NOSUCHCOMMAND"})}) ==
        std::vector<std::string>{noauth, noauth});
}

TEST_CASE("requirepass: Redis's pre-auth limits, lifted by AUTH in the same pipeline") {
  redis_server open;
  proxy_server proxy(open.url(), {"--requirepass", "pw"});
  const std::string eleven = "*11\r\n";
  {
    raw_client c(proxy.port());
    c.send(eleven);
    CHECK(c.read_until_closed() == "-ERR Protocol error: unauthenticated multibulk length\r\n");
  }
  {
    raw_client c(proxy.port());
    c.send("*1\r\n$16385\r\n");
    CHECK(c.read_until_closed() == "-ERR Protocol error: unauthenticated bulk length\r\n");
  }
  {
    // At the limits: 10 arguments of 16384 bytes each are fine (and get NOAUTH).
    raw_client c(proxy.port());
    std::vector<std::string> args(10, std::string(16384, 'x'));
    args[0] = "SET";
    CHECK(c.call(args) == noauth);
  }
  raw_client c(proxy.port());
  std::vector<std::string> big = {"MSET"};
  for (int i = 0; i < 6; ++i) {
    big.push_back("k" + std::to_string(i));
    big.push_back(std::string(20000, 'v'));
  }
  c.send(encode({"AUTH", "pw"}) + encode(big) + encode({"STRLEN", "k5"}));
  CHECK(c.read_replies(3) == "+OK\r\n+OK\r\n:20000\r\n");
}

TEST_CASE("requirepass: HELLO 3 AUTH logs in and switches the upstream connection to RESP3") {
  redis_server open;
  proxy_server proxy(open.url(), {"--requirepass", "pw"});
  raw_client c(proxy.port());
  const std::string hello = c.call({"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "app"});
  CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
  CHECK(c.call({"CLIENT", "GETNAME"}) == "$3\r\napp\r\n");
  CHECK(c.call({"HSET", "h", "f", "v"}) == ":1\r\n");
  CHECK(c.call({"HGETALL", "h"}) == "%1\r\n$1\r\nf\r\n$1\r\nv\r\n");  // a RESP3 map
}

TEST_CASE("upstream credentials: every upstream connection logs in, the password is never logged") {
  redis_server redis({"--requirepass", "up-secret"});
  proxy_server proxy("redis://:up-secret@127.0.0.1:" + std::to_string(redis.port()));
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");  // on the shared connection
  CHECK(c.call({"SELECT", "0"}) == "+OK\r\n");    // pinned: its own connection
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  // The PGET family's wake-up subscription logs in too: a waiter is woken by PSET.
  raw_client owner(proxy.port());
  const std::string lease = owner.call({"PGET", "p", "60", "10"});
  REQUIRE(lease.rfind("*3\r\n$5\r\nlease\r\n$-1\r\n$", 0) == 0);
  const std::string token = lease.substr(lease.rfind("\r\n", lease.size() - 3) + 2);
  raw_client waiter(proxy.port());
  waiter.send(encode({"PGET", "p", "60", "10", "WAIT", "5000"}));
  raw_client direct(redis.port());
  REQUIRE(direct.call({"AUTH", "up-secret"}) == "+OK\r\n");
  CHECK(wait_until(
      [&] {
        return direct.call({"PUBSUB", "NUMSUB", "puppy:wake"}) ==
               "*2\r\n$10\r\npuppy:wake\r\n:1\r\n";
      },
      10s));
  CHECK(owner.call({"PSET", "p", token.substr(0, token.size() - 2), "value"}) == ":1\r\n");
  CHECK(waiter.read_reply().rfind("*3\r\n$5\r\nfresh\r\n$5\r\nvalue\r\n", 0) == 0);
  CHECK(proxy.log().find("up-secret") == std::string::npos);
}

TEST_CASE("upstream credentials: an ACL user from the flags; a wrong password is a clear error") {
  redis_server redis({"--user", "alice", "on", ">alice-pw", "~*", "&*", "+@all"});
  {
    proxy_server proxy(redis.url(), {"--upstream-user", "alice", "--upstream-password", "alice-pw",
                                     "--shared-connections", "1"});
    raw_client c(proxy.port());
    CHECK(c.call({"ACL", "WHOAMI"}) == "$5\r\nalice\r\n");
    CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
  }
  proxy_server proxy(redis.url(), {"--upstream-user", "alice", "--upstream-password", "wrong-pw"});
  raw_client c(proxy.port());
  const std::string prefix =
      "-ERR upstream unavailable (connect to 127.0.0.1:" + std::to_string(redis.port()) +
      " failed: authentication failed: WRONGPASS invalid "
      "username-password pair or user is disabled.";
  CHECK(c.call({"GET", "k"}).rfind(prefix, 0) == 0);
  CHECK(c.call({"SELECT", "0"}).rfind(prefix, 0) == 0);
  CHECK(proxy.log().find("wrong-pw") == std::string::npos);
}
