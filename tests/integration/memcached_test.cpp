// A memcached upstream: the Redis commands it serves give the same replies as Redis does (proxy
// over Redis vs proxy over memcached, one and three servers), key placement matches twemproxy's
// ketama, errors for unsupported commands and keys, and a server that goes away.
#include <catch2/catch.hpp>
#include <fstream>

#include "client.hpp"
#include "corpus.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

std::string pool_url(const std::vector<std::unique_ptr<memcached_server>>& servers) {
  std::string url = "memcached://";
  for (std::size_t i = 0; i < servers.size(); ++i) {
    url += (i > 0 ? "," : "") + servers[i]->address();
  }
  return url;
}

std::vector<std::unique_ptr<memcached_server>> start_pool(int n) {
  std::vector<std::unique_ptr<memcached_server>> pool;
  for (int i = 0; i < n; ++i) pool.push_back(std::make_unique<memcached_server>());
  return pool;
}

// Which memcached server of `pool` holds `key` (-1: none), asked directly.
int holder(const std::vector<std::unique_ptr<memcached_server>>& pool, const std::string& key) {
  for (std::size_t i = 0; i < pool.size(); ++i) {
    raw_client c(pool[i]->port());
    c.send("mg " + key + "\r\n");
    if (c.read_line() == "HD\r\n") return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

TEST_CASE("memcached upstream: replies equal Redis's for the commands it serves") {
  for (const int servers : {1, 3}) {
    DYNAMIC_SECTION(servers << " memcached server(s)") {
      redis_server redis;
      proxy_server over_redis(redis.url());
      auto pool = start_pool(servers);
      proxy_server over_memcached(pool_url(pool));
      corpus_runner r(over_redis.port(), over_memcached.port());
      const auto files = corpus_files(PUPPY_MEMCACHED_CORPUS_DIR);
      REQUIRE(files.size() >= 2);
      for (const auto& f : files) r.run_file(f);
    }
  }
}

TEST_CASE("memcached upstream: unsupported commands and keys get clear errors") {
  auto pool = start_pool(1);
  proxy_server proxy(pool_url(pool));
  raw_client c(proxy.port());
  CHECK(c.call({"LPUSH", "l", "a"}) ==
        "-ERR unsupported command 'LPUSH' for a memcached upstream\r\n");
  CHECK(c.call({"hset", "h", "f", "v"}) ==
        "-ERR unsupported command 'hset' for a memcached upstream\r\n");
  CHECK(c.call({"SET", "", "v"}) ==
        "-ERR empty keys are not supported by the memcached upstream\r\n");
  CHECK(c.call({"SET", std::string(251, 'k'), "v"}) ==
        "-ERR keys longer than 250 bytes are not supported by the memcached upstream\r\n");
  CHECK(c.call({"SET", std::string(250, 'k'), "v"}) == "+OK\r\n");
  CHECK(c.call({"SET", "big", std::string(2 * 1024 * 1024, 'x')}) ==
        "-ERR value too large for the memcached upstream (its item size limit)\r\n");
  CHECK(c.call({"SELECT", "1"}) == "-ERR DB index is out of range\r\n");
  CHECK(c.call({"EXPIRE", "k", "10", "NX"}) ==
        "-ERR NX, XX, GT and LT are not supported by the memcached upstream\r\n");
  CHECK(c.call({"PING"}) == "+PONG\r\n");  // the connection stays open
}

TEST_CASE("memcached upstream: clients can connect (HELLO, CLIENT, COMMAND, INFO, QUIT)") {
  auto pool = start_pool(1);
  proxy_server proxy(pool_url(pool));
  raw_client c(proxy.port());
  const std::string hello = c.call({"HELLO", "3", "SETNAME", "app"});
  CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n", 0) == 0);
  CHECK(hello.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
  CHECK(c.call({"GET", "missing"}) == "_\r\n");  // RESP3 null after HELLO 3
  CHECK(c.call({"CLIENT", "GETNAME"}) == "$3\r\napp\r\n");
  CHECK(c.call({"CLIENT", "SETINFO", "LIB-NAME", "x"}) == "+OK\r\n");
  CHECK(c.call({"HELLO", "2"}).rfind("*14\r\n", 0) == 0);
  CHECK(c.call({"GET", "missing"}) == "$-1\r\n");
  CHECK(c.call({"COMMAND", "DOCS"}) == "*0\r\n");
  CHECK(c.call({"INFO"}).find("upstream:memcached") != std::string::npos);
  c.send(encode({"SET", "q", "1"}) + encode({"QUIT"}) + encode({"SET", "q", "2"}));
  CHECK(c.read_until_closed() == "+OK\r\n+OK\r\n");
  raw_client d(proxy.port());
  CHECK(d.call({"GET", "q"}) == "$1\r\n1\r\n");
}

TEST_CASE("memcached upstream: key placement matches twemproxy's ketama (md5)") {
  auto pool = start_pool(3);
  proxy_server proxy(pool_url(pool));
  // twemproxy in front of the same servers, with the distribution and hash to match.
  const std::string dir = make_temp_dir("puppy-test-nutcracker");
  const std::uint16_t port = free_port();
  {
    std::ofstream conf(dir + "/nutcracker.yml");
    conf << "pool:\n  listen: 127.0.0.1:" << port
         << "\n  hash: md5\n  distribution: ketama\n  servers:\n";
    for (const auto& s : pool) conf << "   - " << s->address() << ":1\n";
  }
  process nutcracker(
      {"nutcracker", "-c", dir + "/nutcracker.yml", "-s", std::to_string(free_port())},
      dir + "/nutcracker.log");
  REQUIRE(wait_until(
      [&] {
        try {
          raw_client c(port);
          return true;
        } catch (const std::exception&) {
          return false;
        }
      },
      20s));
  raw_client via_proxy(proxy.port());
  raw_client via_twemproxy(port);
  int checked = 0;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "placement:" + std::to_string(i) + (i % 3 == 0 ? ":user" : "");
    via_twemproxy.send("set " + key + " 0 0 1\r\nt\r\n");
    REQUIRE(via_twemproxy.read_line() == "STORED\r\n");
    const int by_twemproxy = holder(pool, key);
    REQUIRE(via_proxy.call({"DEL", key}) == ":1\r\n");  // the proxy finds it where twemproxy put it
    CHECK(holder(pool, key) == -1);
    CHECK(via_proxy.call({"SET", key, "p"}) == "+OK\r\n");
    CHECK(holder(pool, key) == by_twemproxy);
    ++checked;
  }
  CHECK(checked == 60);
  nutcracker.stop();
  remove_temp_dir(dir);
}

TEST_CASE("memcached upstream: a server that goes away fails only its keys, then comes back") {
  auto pool = start_pool(3);
  proxy_server proxy(pool_url(pool),
                     {"--upstream-retry-min-ms", "20", "--upstream-retry-max-ms", "100"});
  raw_client c(proxy.port());
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("k" + std::to_string(i));
    REQUIRE(c.call({"SET", keys.back(), "v"}) == "+OK\r\n");
  }
  std::vector<int> where;
  for (const auto& k : keys) where.push_back(holder(pool, k));
  pool[1]->stop();
  int failed = 0, served = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string reply = c.call({"GET", keys[i]});
    if (where[i] == 1) {
      CHECK(reply.rfind("-ERR upstream unavailable (memcached ", 0) == 0);
      ++failed;
    } else {
      CHECK(reply == "$1\r\nv\r\n");
      ++served;
    }
  }
  CHECK(failed > 0);
  CHECK(served > 0);
  pool[1]->start();
  // After the back-off the server is used again (empty: memcached keeps nothing on restart).
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (where[i] != 1) continue;
    CHECK(wait_until([&] { return c.call({"GET", keys[i]}) == "$-1\r\n"; }, 10s));
    CHECK(c.call({"SET", keys[i], "again"}) == "+OK\r\n");
    CHECK(holder(pool, keys[i]) == 1);  // no silent rehash: still on its own server
  }
}

TEST_CASE(
    "memcached upstream: a server that stops answering times out; the others are unaffected") {
  auto pool = start_pool(2);
  proxy_server proxy(pool_url(pool), {"--upstream-timeout-ms", "300", "--upstream-retry-min-ms",
                                      "20", "--upstream-retry-max-ms", "100"});
  raw_client c(proxy.port());
  std::string stuck_key, live_key;
  for (int i = 0; stuck_key.empty() || live_key.empty(); ++i) {
    const std::string k = "k" + std::to_string(i);
    REQUIRE(c.call({"SET", k, "v"}) == "+OK\r\n");
    (holder(pool, k) == 0 ? stuck_key : live_key) = k;
  }
  pool[0]->pause();  // the connection stays open, nothing is answered
  const std::string reply = c.call({"GET", stuck_key}, 10s);
  CHECK(reply.rfind("-ERR upstream unavailable (memcached ", 0) == 0);
  CHECK(reply.find("did not answer within 300 ms") != std::string::npos);
  CHECK(c.call({"GET", live_key}) == "$1\r\nv\r\n");
  pool[0]->resume();
  CHECK(wait_until([&] { return c.call({"GET", stuck_key}) == "$1\r\nv\r\n"; }, 10s));
}

TEST_CASE("memcached upstream: the proxy's password works the same") {
  auto pool = start_pool(1);
  proxy_server proxy(pool_url(pool), {"--requirepass", "pw"});
  raw_client c(proxy.port());
  CHECK(c.call({"GET", "k"}) == "-NOAUTH Authentication required.\r\n");
  CHECK(c.call({"AUTH", "nope"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  c.send("*11\r\n");
  CHECK(c.read_until_closed() == "-ERR Protocol error: unauthenticated multibulk length\r\n");
  raw_client d(proxy.port());
  CHECK(d.call({"AUTH", "default", "pw"}) == "+OK\r\n");
  CHECK(d.call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(d.call({"GET", "k"}) == "$1\r\nv\r\n");
  raw_client e(proxy.port());
  CHECK(e.call({"HELLO", "2", "AUTH", "default", "pw"}).rfind("*", 0) == 0);
  CHECK(e.call({"GET", "k"}) == "$1\r\nv\r\n");
}
