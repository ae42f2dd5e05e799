// Connection limits and lifecycle: max clients, idle timeout, graceful drain on SIGTERM.
#include <sys/socket.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <memory>
#include <thread>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {}  // namespace

TEST_CASE(
    "max-clients: the connection over the limit is told so and closed; a freed slot is reused") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--max-clients", "3"});
  std::vector<std::unique_ptr<raw_client>> in;
  for (int i = 0; i < 3; ++i) {  // limit - 1 and limit: both admitted
    in.push_back(std::make_unique<raw_client>(proxy.port()));
    CHECK(in.back()->call({"PING"}) == "+PONG\r\n");
  }
  {
    raw_client extra(proxy.port());  // limit + 1
    CHECK(extra.read_until_closed() == "-ERR max number of clients reached\r\n");
  }
  // The admitted clients are unaffected.
  for (auto& c : in) CHECK(c->call({"ECHO", "still here"}) == "$10\r\nstill here\r\n");

  in.pop_back();  // a slot frees once the proxy has seen the close
  CHECK(wait_until(
      [&] {
        raw_client c(proxy.port());
        try {
          return c.call({"PING"}, 2s) == "+PONG\r\n";
        } catch (const std::exception&) {
          return false;  // refused: the close is not counted yet
        }
      },
      10s));
}

TEST_CASE("timeout: an idle client is closed; busy, blocked and subscribed clients are not") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--timeout", "1"});
  raw_client subscriber(proxy.port());
  CHECK(subscriber.call({"SUBSCRIBE", "news"}) == "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
  raw_client blocked(proxy.port());
  blocked.send(encode({"BLPOP", "queue", "0"}));
  REQUIRE(redis_has_blocked(redis.port(), 1));
  raw_client idle(proxy.port());
  CHECK(idle.call({"PING"}) == "+PONG\r\n");
  raw_client busy(proxy.port());

  // `idle` was active last, so once it is closed every other client has been idle as long.
  bool closed = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    CHECK(busy.call({"PING"}) == "+PONG\r\n");
    closed = idle.has_data(100ms);
  }
  REQUIRE(closed);
  CHECK(idle.read_until_closed().empty());

  CHECK(busy.call({"LPUSH", "queue", "job"}) == ":1\r\n");
  CHECK(blocked.read_reply() == "*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
  CHECK(busy.call({"PUBLISH", "news", "hello"}) == ":1\r\n");
  CHECK(subscriber.read_reply() == "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
}

TEST_CASE("SIGTERM: no new connections, in-flight replies are delivered, then exit 0") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--drain-timeout-ms", "20000"});
  raw_client idle(proxy.port());
  CHECK(idle.call({"PING"}) == "+PONG\r\n");
  raw_client waiting(proxy.port());
  CHECK(waiting.call({"SET", "k", "v"}) == "+OK\r\n");
  waiting.send(encode({"BLPOP", "nothing", "1"}));  // answered by Redis after one second
  REQUIRE(redis_has_blocked(redis.port(), 1));

  proxy.signal(SIGTERM);
  CHECK(idle.read_until_closed(5s).empty());  // nothing in flight: closed at once
  CHECK(waiting.read_until_closed(5s) == "*-1\r\n");
  CHECK(proxy.wait(10s) == 0);
  CHECK_THROWS(raw_client(proxy.port()));
}

// A client pipelines big requests and replies faster than it reads them, then reads slowly once the
// proxy drains: the last replies still sit in the proxy's socket buffer when it is done, and
// closing with the client's unread requests in the other buffer would send a RST that destroys
// them.
TEST_CASE("SIGTERM mid-pipeline: every request Redis executed got its reply") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--drain-timeout-ms", "30000"});
  raw_client direct(redis.port());
  const std::string big(16 * 1024, 'v');
  REQUIRE(direct.call({"SET", "big", big}) == "+OK\r\n");
  // Requests as big as their replies, so that the proxy's backpressure bounds both.
  const std::vector<std::string> request = {
      "EVAL", "return {redis.call('INCR', 'counter'), redis.call('GET', 'big')}", "0", big};
  std::string batch;
  for (int i = 0; i < 50; ++i) batch += encode(request);

  raw_client c(proxy.port());
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    try {
      while (!stop) c.send(batch);
    } catch (const std::exception&) {
      // the proxy closed the connection
    }
  });
  const auto counter = [&] {
    const std::string reply = direct.call({"GET", "counter"});
    return reply[0] == '$' && reply != "$-1\r\n" ? std::stol(reply.substr(reply.find('\n') + 1))
                                                 : 0L;
  };
  CHECK(wait_until([&] { return counter() >= 20; }, 10s));
  proxy.signal(SIGTERM);
  CHECK(wait_until([&] { return proxy.log().find("shutting down") != std::string::npos; }, 10s));

  std::string replies;
  char chunk[4096];
  ssize_t n = 0;
  while ((n = ::recv(c.fd(), chunk, sizeof chunk, 0)) > 0) {
    replies.append(chunk, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(std::chrono::microseconds(100));  // a slow reader
  }
  // The proxy's FIN; or a reset if requests arrived just as it closed, which must come only
  // after every reply was received (checked below).
  CHECK((n == 0 || errno == ECONNRESET));
  stop = true;
  ::shutdown(c.fd(), SHUT_RDWR);
  sender.join();
  CHECK(proxy.wait(10s) == 0);

  const long executed = counter();
  CHECK(executed >= 20);
  std::string expected;
  for (long i = 1; i <= executed; ++i) {
    expected += "*2\r\n:" + std::to_string(i) + "\r\n$16384\r\n" + big + "\r\n";
  }
  CHECK(replies.size() == expected.size());
  CHECK((replies == expected));
}

TEST_CASE("SIGTERM: a client still blocked at the drain timeout is closed, and the exit is 0") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--drain-timeout-ms", "200"});
  raw_client blocked(proxy.port());
  blocked.send(encode({"BLPOP", "forever", "0"}));
  REQUIRE(redis_has_blocked(redis.port(), 1));
  proxy.signal(SIGTERM);
  CHECK(blocked.read_until_closed(10s).empty());
  CHECK(proxy.wait(10s) == 0);
}
