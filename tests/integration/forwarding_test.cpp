// Bytes in, bytes out: what a client sends reaches Redis unchanged and Redis's replies come back
// unchanged, compared with the same requests sent to Redis directly.
#include <catch2/catch.hpp>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

struct setup {
  redis_server redis;
  proxy_server proxy{redis.url()};
};

// Sends the same bytes straight to Redis and through the proxy; returns both replies.
std::pair<std::string, std::string> both(setup& s, const std::string& bytes, std::size_t replies) {
  raw_client direct(s.redis.port());
  raw_client proxied(s.proxy.port());
  direct.send(bytes);
  proxied.send(bytes);
  return {direct.read_replies(replies), proxied.read_replies(replies)};
}

}  // namespace

TEST_CASE("simple commands are forwarded and replies relayed unchanged") {
  setup s;
  raw_client c(s.proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(c.call({"GET", "missing"}) == "$-1\r\n");
  CHECK(c.call({"INCR", "n"}) == ":1\r\n");
  CHECK(c.call({"RPUSH", "l", "a", "b"}) == ":2\r\n");
  CHECK(c.call({"LRANGE", "l", "0", "-1"}) == "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
}

TEST_CASE("unknown and wrong commands get Redis's own error and the connection stays open") {
  setup s;
  raw_client c(s.proxy.port());
  CHECK(c.call({"NOSUCHCOMMAND", "a"}) ==
        "-ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' \r\n");
  CHECK(c.call({"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(c.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("a pipeline of 10,000 commands in one write gets 10,000 replies in order") {
  setup s;
  std::string batch;
  for (int i = 0; i < 10000; ++i) {
    batch += encode({"SET", "key:" + std::to_string(i), "value-" + std::to_string(i)});
    batch += encode({"GET", "key:" + std::to_string(i)});
  }
  const auto [direct, proxied] = both(s, batch, 20000);
  CHECK(proxied.size() == direct.size());
  CHECK(proxied == direct);
  CHECK(proxied.rfind("$10\r\nvalue-9999\r\n") == proxied.size() - 17);
}

TEST_CASE("requests split at every byte are framed the same") {
  setup s;
  const std::string bytes = encode({"SET", "split", "a value"}) + "GET split\r\n" +
                            encode({"HSET", "h", "f", "v"}) + "*1\r\n$4\r\nPING\r\n" +
                            encode({"HGETALL", "h"}) + "  echo \"x y\"\r\n" +
                            encode({"HDEL", "h", "f"});
  raw_client direct(s.redis.port());
  direct.send(bytes);
  const std::string expected = direct.read_replies(7);
  raw_client c(s.proxy.port());
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    INFO("split at " << cut);
    c.send(bytes.substr(0, cut));
    c.send(bytes.substr(cut));
    REQUIRE(c.read_replies(7) == expected);
  }
  // And one byte at a time.
  for (char ch : bytes) c.send(std::string(1, ch));
  CHECK(c.read_replies(7) == expected);
}

TEST_CASE("inline commands as redis-cli and telnet send them") {
  setup s;
  const std::string bytes =
      "PING\r\nset greeting \"hello world\"\r\nget greeting\n   \r\nSET 'it s' x\r\n"
      "set q \"a\\x41\\n\"\r\nGET q\r\nECHO 'it\\'s'\r\n";
  const auto [direct, proxied] = both(s, bytes, 7);
  CHECK(proxied == direct);
  CHECK(proxied.find("$11\r\nhello world\r\n") != std::string::npos);
}

TEST_CASE("a 64 MiB value goes through whole") {
  setup s;
  std::string value(64 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < value.size(); i += 4097) value[i] = static_cast<char>('a' + i % 26);
  raw_client c(s.proxy.port());
  CHECK(c.call({"SET", "big", value}, 60s) == "+OK\r\n");
  CHECK(c.call({"STRLEN", "big"}) == ":67108864\r\n");
  const std::string reply = c.call({"GET", "big"}, 60s);
  CHECK(reply.size() == value.size() + 13);
  CHECK(reply.compare(0, 11, "$67108864\r\n") == 0);
  CHECK(reply.compare(11, value.size(), value) == 0);
  CHECK(c.call({"PING"}) == "+PONG\r\n");
}

TEST_CASE("protocol errors: Redis's reply, then only that connection closes") {
  setup s;
  raw_client bystander(s.proxy.port());
  CHECK(bystander.call({"SET", "bystander", "1"}) == "+OK\r\n");
  const std::vector<std::string> bad = {
      "*3000000000\r\n",
      "*20\r\n$blabla\r\n",
      "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfoo\r\n",
      "*1\r\n$-10\r\n",
      "*1\r\n$536870913\r\n",
      "set \"\"\"test-key\"\"\" test-value\r\n",
      "set \"\"test-key\"\" test-value\r\n",
      "PING\r\n*2\r\n$3\r\nGET\r\nxx\r\n",
      std::string(70000, 'a'),
      "*" + std::string(70000, '1'),
      "*1\r\n$" + std::string(70000, '1'),
  };
  for (const auto& input : bad) {
    INFO("input: " << input.substr(0, 40));
    raw_client direct(s.redis.port());
    raw_client proxied(s.proxy.port());
    direct.send(input);
    proxied.send(input);
    const std::string expected = direct.read_until_closed();
    CHECK(expected.find("-ERR Protocol error") != std::string::npos);
    CHECK(proxied.read_until_closed() == expected);
  }
  CHECK(bystander.call({"GET", "bystander"}) == "$1\r\n1\r\n");
}

TEST_CASE("empty requests get no reply, as in Redis") {
  setup s;
  const auto [direct, proxied] = both(s, "*0\r\n*-1\r\n\r\n   \r\nPING\r\n", 1);
  CHECK(proxied == "+PONG\r\n");
  CHECK(direct == proxied);
}

TEST_CASE("a client that half-closes still gets its replies") {
  setup s;
  raw_client c(s.proxy.port());
  c.send(encode({"SET", "hc", "1"}) + encode({"GET", "hc"}));
  c.shutdown_write();
  CHECK(c.read_until_closed() == "+OK\r\n$1\r\n1\r\n");
}
