// Clients that only use stateless commands share an upstream connection; the first stateful
// command gives a client its own connection, after its shared replies are in.
#include <catch2/catch.hpp>
#include <thread>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// Redis's connected_clients, as seen on a direct connection (which counts itself).
int connected_clients(std::uint16_t redis_port) {
  raw_client c(redis_port);
  const std::string info = c.call({"INFO", "clients"});
  const auto at = info.find("connected_clients:");
  return std::stoi(info.substr(at + 18)) - 1;
}

}  // namespace

TEST_CASE("stateless clients share one upstream connection") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  std::vector<std::unique_ptr<raw_client>> clients;
  for (int i = 0; i < 20; ++i) {
    clients.push_back(std::make_unique<raw_client>(proxy.port()));
    CHECK(clients.back()->call({"SET", "k" + std::to_string(i), std::to_string(i)}) == "+OK\r\n");
  }
  CHECK(connected_clients(redis.port()) == 1);
  for (int i = 0; i < 20; ++i) {
    const std::string v = std::to_string(i);
    CHECK(clients[i]->call({"GET", "k" + v}) ==
          "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
  }
  // A stateful command gives that client its own connection; the others stay shared.
  CHECK(clients[3]->call({"SELECT", "0"}) == "+OK\r\n");
  CHECK(connected_clients(redis.port()) == 2);
}

TEST_CASE("the first stateful command pins in order, after the shared replies") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  raw_client c(proxy.port());
  raw_client other(proxy.port());
  CHECK(other.call({"SET", "a", "db0"}) == "+OK\r\n");
  c.send(encode({"SET", "a", "first"}) + encode({"GET", "a"}) + encode({"SELECT", "1"}) +
         encode({"GET", "a"}) + encode({"SET", "a", "db1"}) + encode({"SELECT", "0"}) +
         encode({"GET", "a"}) + encode({"CLIENT", "ID"}) + encode({"CLIENT", "ID"}));
  CHECK(c.read_replies(7) == "+OK\r\n$5\r\nfirst\r\n+OK\r\n$-1\r\n+OK\r\n+OK\r\n$5\r\nfirst\r\n");
  const std::string id1 = c.read_reply();
  CHECK(c.read_reply() == id1);  // the same connection from now on
  raw_client direct(redis.port());
  direct.call({"SELECT", "1"});
  CHECK(direct.call({"GET", "a"}) == "$3\r\ndb1\r\n");
}

TEST_CASE("replies on a shared connection go to the right clients under load") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1"});
  std::vector<std::thread> threads;
  std::vector<int> good(40, 0);
  for (int t = 0; t < 40; ++t) {
    threads.emplace_back([&, t] {
      raw_client c(proxy.port());
      for (int round = 0; round < 20; ++round) {
        std::string batch;
        for (int i = 0; i < 10; ++i) batch += encode({"ECHO", std::to_string(t * 1000 + i)});
        c.send(batch);
        int ok = 0;
        for (int i = 0; i < 10; ++i) {
          const std::string v = std::to_string(t * 1000 + i);
          ok += c.read_reply() == "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
        }
        good[t] += ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 40; ++t) CHECK(good[t] == 200);
  CHECK(connected_clients(redis.port()) == 1);
}

TEST_CASE("a request bigger than max-shared-request pins its client and goes through whole") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1", "--max-shared-request", "1000"});
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "small", std::string(900, 's')}) == "+OK\r\n");
  CHECK(connected_clients(redis.port()) == 1);
  CHECK(c.call({"SET", "big", std::string(5000, 'b')}) == "+OK\r\n");
  CHECK(connected_clients(redis.port()) == 2);
  CHECK(c.call({"STRLEN", "big"}) == ":5000\r\n");
}

TEST_CASE("a shared client that does not read its replies is cut off at the output limit") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1", "--client-output-limit", "1MB"});
  raw_client setter(proxy.port());
  CHECK(setter.call({"SET", "v", std::string(100000, 'v')}) == "+OK\r\n");
  raw_client hog(proxy.port());
  std::string batch;
  for (int i = 0; i < 200; ++i) batch += encode({"GET", "v"});  // 20 MB of replies, never read
  hog.send(batch);
  CHECK(wait_until(
      [&] {
        return proxy.log().find(
                   "output buffer over --client-output-limit; connection closed (1048576 bytes)") !=
               std::string::npos;
      },
      20s));
  // Everyone else is served as before.
  CHECK(setter.call({"STRLEN", "v"}) == ":100000\r\n");
}

TEST_CASE("large pipelines from many clients go through a shared connection that blocks") {
  // Requests of 4 KiB and more are written from the clients' buffers (not copied) in the turn
  // they arrive; when the upstream socket would block, what is left is copied and the clients
  // read on. Redis paused: the shared socket fills and blocks while every client keeps sending.
  redis_server redis;
  proxy_server proxy(redis.url(), {"--shared-connections", "1", "--log-level", "debug"});
  constexpr int clients = 16;
  constexpr int batches = 8;
  constexpr int per_batch = 16;
  const auto key = [](int t, int b, int i) {
    return "k" + std::to_string(t) + ":" + std::to_string(b * per_batch + i);
  };
  const auto value = [](int t, int b, int i) {
    return std::to_string(t) + ":" + std::to_string(b) + ":" + std::to_string(i) + ":" +
           std::string(16000 + t * 37 + i, static_cast<char>('a' + (t + b + i) % 26));
  };
  std::vector<std::unique_ptr<raw_client>> conns;
  for (int t = 0; t < clients; ++t) {
    conns.push_back(std::make_unique<raw_client>(proxy.port()));
    CHECK(conns.back()->call({"PING"}) == "+PONG\r\n");  // on the shared connection
  }
  redis.pause();
  std::vector<std::thread> senders;
  for (int t = 0; t < clients; ++t) {
    senders.emplace_back([&, t] {
      for (int b = 0; b < batches; ++b) {
        std::string batch;
        for (int i = 0; i < per_batch; ++i) batch += encode({"SET", key(t, b, i), value(t, b, i)});
        conns[t]->send(batch);  // 8 x 256 KiB per client, 32 MiB in all
      }
    });
  }
  // Redis reads again once the proxy's write has blocked with clients' bytes lent to it.
  REQUIRE(wait_until([&] { return proxy.log().find("write blocked") != std::string::npos; }, 30s));
  redis.resume();
  for (auto& th : senders) th.join();
  std::string ok;
  for (int i = 0; i < batches * per_batch; ++i) ok += "+OK\r\n";
  for (int t = 0; t < clients; ++t) CHECK(conns[t]->read_replies(batches * per_batch) == ok);
  raw_client direct(redis.port());
  int intact = 0;
  for (int t = 0; t < clients; ++t) {
    for (int b = 0; b < batches; ++b) {
      for (int i = 0; i < per_batch; ++i) {
        const std::string v = value(t, b, i);
        intact += direct.call({"GET", key(t, b, i)}) ==
                  "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
      }
    }
  }
  CHECK(intact == clients * batches * per_batch);
  CHECK(connected_clients(redis.port()) == 2);  // the shared connection and `direct`
}
