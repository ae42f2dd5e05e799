// Review tests of the pinning transition: held requests, errors, half-closes, splits and
// failures around the moment a client gets its own upstream connection.
#include <catch2/catch.hpp>

#include "review_support.hpp"

using namespace puppy::test;

TEST_CASE("pinning: QUIT among the held requests is answered by Redis, in order, then close",
          "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  c.send(encode({"SET", "a", "1"}) + encode({"GET", "a"}) + encode({"SELECT", "1"}) +
         encode({"SET", "b", "2"}) + encode({"QUIT"}) + encode({"SET", "c", "3"}));
  CHECK(c.read_until_closed() == "+OK\r\n$1\r\n1\r\n+OK\r\n+OK\r\n+OK\r\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"SELECT", "1"}) == "+OK\r\n");
  CHECK(direct.call({"GET", "b"}) == "$1\r\n2\r\n");
  CHECK(direct.call({"EXISTS", "c"}) == ":0\r\n");
}

TEST_CASE("pinning: a protocol error after the pinning request comes after every reply",
          "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  c.send(encode({"SET", "a", "1"}) + encode({"SELECT", "1"}) + encode({"SET", "b", "2"}) +
         "*3\r\n$3\r\nSET\r\n$x\r\n");
  CHECK(c.read_until_closed() ==
        "+OK\r\n+OK\r\n+OK\r\n-ERR Protocol error: invalid bulk length\r\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"SELECT", "1"}) == "+OK\r\n");
  CHECK(direct.call({"GET", "b"}) == "$1\r\n2\r\n");
}

TEST_CASE("pinning: a client that half-closes right after pinning still gets every reply",
          "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  c.send(encode({"SET", "a", "1"}) + encode({"GET", "a"}) + encode({"SELECT", "2"}) +
         encode({"SET", "a", "2"}) + encode({"GET", "a"}));
  c.shutdown_write();
  CHECK(c.read_until_closed() == "+OK\r\n$1\r\n1\r\n+OK\r\n+OK\r\n$1\r\n2\r\n");
}

TEST_CASE("pinning: a request split across reads around the pin goes through whole", "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  const std::string set_b = encode({"SET", "b", "straddling"});
  // The pinning request itself is split, and so is the one after it.
  c.send(encode({"SET", "a", "1"}) + "*2\r\n$6\r\nSEL");
  CHECK(c.read_reply() == "+OK\r\n");
  c.send("ECT\r\n$1\r\n3\r\n" + set_b.substr(0, 20));
  CHECK(c.read_reply() == "+OK\r\n");
  c.send(set_b.substr(20));
  CHECK(c.read_reply() == "+OK\r\n");
  CHECK(c.call({"GET", "b"}) == "$10\r\nstraddling\r\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"SELECT", "3"}) == "+OK\r\n");
  CHECK(direct.call({"GET", "b"}) == "$10\r\nstraddling\r\n");
}

TEST_CASE("pinning: the own connection cannot be made; the shared reply first, then the error",
          "[review]") {
  if (second_run()) return;
  fake_upstream up(0);
  proxy_server proxy(up.url(),
                     {"--shared-connections", "1", "--upstream-connect-timeout-ms", "300",
                      "--upstream-retry-min-ms", "60000", "--upstream-retry-max-ms", "60000"});
  raw_client w(proxy.port());
  const int shared = open_shared_connection(up, w);
  up.connect_filler();  // the own connection's SYNs are dropped: it times out
  raw_client c(proxy.port());
  const std::string get = encode({"GET", "x"});
  c.send(get + encode({"SELECT", "1"}) + encode({"GET", "y"}));
  REQUIRE(read_n(shared, get.size(), 10s) == get);
  write_all(shared, "$3\r\nabc\r\n");
  CHECK(c.read_reply() == "$3\r\nabc\r\n");
  const std::string error =
      "-ERR upstream unavailable (connect to 127.0.0.1:" + std::to_string(up.port()) +
      " failed: timed out";
  CHECK(c.read_reply().rfind(error, 0) == 0);  // SELECT
  CHECK(c.read_reply().rfind(error, 0) == 0);  // GET y: the client is pinned now
  CHECK(queued_bytes(shared) == 0);            // nothing of it went on the shared connection
}

TEST_CASE("pinning: the shared connection fails while a client with no shared reply due pins",
          "[review]") {
  if (second_run()) return;
  fake_upstream up(0);
  proxy_server proxy(up.url(),
                     {"--shared-connections", "1", "--upstream-connect-timeout-ms", "20000"});
  raw_client w(proxy.port());
  const int shared = open_shared_connection(up, w);
  up.connect_filler();
  const long overflows = listen_overflows();
  raw_client c(proxy.port());
  c.send(encode({"SELECT", "1"}));
  REQUIRE(wait_until([&] { return listen_overflows() > overflows; }, 30s));  // own SYN dropped
  up.close_fd(shared);
  CHECK(until_closed(w, 10s) == std::string());  // the shared client is closed ...
  REQUIRE(up.accept_one(1s) >= 0);
  const int own = up.accept_one(20s);
  REQUIRE(own >= 0);
  // ... the pinning one is not: nothing of it was on the shared connection.
  REQUIRE(read_n(own, encode({"SELECT", "1"}).size(), 10s) == encode({"SELECT", "1"}));
  write_all(own, "+OK\r\n");
  CHECK(c.read_reply() == "+OK\r\n");
  c.send(encode({"PING"}));
  REQUIRE(read_n(own, encode({"PING"}).size(), 10s) == encode({"PING"}));
  write_all(own, "+PONG\r\n");
  CHECK(c.read_reply() == "+PONG\r\n");
}

TEST_CASE("pinning: many clients pin at once, each in order", "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  constexpr int clients = 40;
  std::vector<std::unique_ptr<raw_client>> cs;
  for (int i = 0; i < clients; ++i) cs.push_back(std::make_unique<raw_client>(proxy.port()));
  for (int i = 0; i < clients; ++i) {
    const std::string k = "k" + std::to_string(i);
    const std::string db = std::to_string(1 + i % 8);
    cs[i]->send(encode({"SET", k, "zero"}) + encode({"GET", k}) + encode({"SELECT", db}) +
                encode({"SET", k, db}) + encode({"SELECT", "0"}) + encode({"GET", k}) +
                encode({"SELECT", db}) + encode({"GET", k}));
  }
  for (int i = 0; i < clients; ++i) {
    const std::string db = std::to_string(1 + i % 8);
    CHECK(cs[i]->read_replies(8) ==
          "+OK\r\n$4\r\nzero\r\n+OK\r\n+OK\r\n+OK\r\n$4\r\nzero\r\n+OK\r\n$" +
              std::to_string(db.size()) + "\r\n" + db + "\r\n");
  }
}

TEST_CASE("a shared connection killed upstream closes its clients, not the pinned ones",
          "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client pinned(proxy.port());
  CHECK(pinned.call({"SELECT", "5"}) == "+OK\r\n");
  CHECK(pinned.call({"SET", "p", "1"}) == "+OK\r\n");
  raw_client s(proxy.port());
  CHECK(s.call({"ECHO", "shared"}) == "$6\r\nshared\r\n");
  raw_client direct(redis.port());
  const std::string id = client_id_matching(direct, {" db=0 ", " cmd=echo "});
  REQUIRE(!id.empty());
  CHECK(direct.call({"CLIENT", "KILL", "ID", id}) == ":1\r\n");
  CHECK(s.read_until_closed() == "");
  CHECK(pinned.call({"GET", "p"}) == "$1\r\n1\r\n");
  raw_client fresh(proxy.port());
  CHECK(fresh.call({"ECHO", "again"}) == "$5\r\nagain\r\n");
}

TEST_CASE("local replies of unpinned clients (RESET, QUIT) keep their place among shared ones",
          "[review]") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  c.send(encode({"SET", "a", "1"}) + encode({"RESET"}) + encode({"GET", "a"}) + encode({"RESET"}) +
         encode({"INCR", "a"}) + encode({"QUIT"}) + encode({"INCR", "a"}));
  CHECK(c.read_until_closed() == "+OK\r\n+RESET\r\n$1\r\n1\r\n+RESET\r\n:2\r\n+OK\r\n");
  raw_client direct(redis.port());
  CHECK(direct.call({"GET", "a"}) == "$1\r\n2\r\n");
}
