// The admin listener (--metrics-listen): /metrics counts a scripted workload exactly, PUPPY STATS
// shows the same figures over RESP, /readyz follows the upstream and the drain, HTTP edges; and
// the JSON log format.
#include <catch2/catch.hpp>

#include <csignal>
#include <sstream>

#include "client.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

struct http_reply {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

http_reply http_get(std::uint16_t port, const std::string& path,
                    const std::string& method = "GET") {
  raw_client c(port);
  c.send(method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
  const std::string all = c.read_until_closed();
  http_reply r;
  const auto end = all.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  r.head = all.substr(0, end + 2);
  r.body = all.substr(end + 4);
  r.status = std::stoi(all.substr(all.find(' ') + 1, 3));
  return r;
}

// The value of one sample ("name" or "name{labels}") in Prometheus text; -1 if absent.
double metric(const std::string& text, const std::string& sample) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return -1;
}

std::string scrape(const proxy_server& proxy) {
  const auto r = http_get(proxy.metrics_port(), "/metrics");
  REQUIRE(r.status == 200);
  return r.body;
}

bool ready(const proxy_server& proxy) {
  return http_get(proxy.metrics_port(), "/readyz").status == 200;
}

}  // namespace

TEST_CASE("metrics: a scripted workload moves each counter by exactly its amount") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--metrics-listen", "127.0.0.1:0"});
  REQUIRE(proxy.metrics_port() != 0);
  const std::string before = scrape(proxy);

  std::size_t sent = 0, received = 0;
  raw_client c(proxy.port());
  const auto call = [&](const std::vector<std::string>& args) {
    std::string req = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    c.send(req);
    sent += req.size();
    const std::string reply = c.read_reply();
    received += reply.size();
    return reply;
  };
  CHECK(call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(call({"GET", "k"}) == "$1\r\nv\r\n");
  const std::string pipeline =
      std::string("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") + "*1\r\n$4\r\nPING\r\n";
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += pipeline;
  c.send(batch);
  sent += batch.size();
  received += c.read_replies(10).size();
  // PGET family: a lease, an accepted PSET, a fresh answer, a refused PSET.
  const std::string lease = call({"PGET", "p", "60", "5"});
  REQUIRE(lease.find("lease") != std::string::npos);
  const std::string token = lease.substr(lease.size() - 34, 32);
  CHECK(call({"PSET", "p", token, "value", "60", "5"}) == ":1\r\n");
  CHECK(call({"PGET", "p", "60", "5"}).find("fresh") != std::string::npos);
  CHECK(call({"PSET", "p", std::string(32, '0'), "value", "60", "5"}) == ":0\r\n");
  // A request that pins its client is framed again for the client's own connection: one command.
  CHECK(call({"SELECT", "0"}) == "+OK\r\n");
  // A protocol error on a second connection: answered, closed, counted.
  {
    raw_client bad(proxy.port());
    bad.send("*1\r\n$x\r\n");
    const std::string reply = bad.read_until_closed();
    CHECK(reply.rfind("-ERR Protocol error", 0) == 0);
    sent += 8;
    received += reply.size();
  }
  REQUIRE(wait_until([&] { return metric(scrape(proxy), "puppy_connections_current") == 1; }, 10s));
  const std::string after = scrape(proxy);

  const auto delta = [&](const std::string& sample) {
    return metric(after, sample) - metric(before, sample);
  };
  CHECK(delta("puppy_commands_total") == 2 + 10 + 4 + 1);  // the bad request is not a command
  CHECK(delta("puppy_connections_total") == 2);
  CHECK(delta("puppy_client_received_bytes_total") == static_cast<double>(sent));
  CHECK(delta("puppy_client_sent_bytes_total") == static_cast<double>(received));
  CHECK(delta("puppy_errors_total{kind=\"protocol\"}") == 1);
  CHECK(delta("puppy_errors_total{kind=\"upstream_unavailable\"}") == 0);
  CHECK(delta("puppy_pget_total{outcome=\"lease\"}") == 1);
  CHECK(delta("puppy_pget_total{outcome=\"fresh\"}") == 1);
  CHECK(delta("puppy_pget_total{outcome=\"stale\"}") == 0);
  CHECK(delta("puppy_pset_total{result=\"accepted\"}") == 1);
  CHECK(delta("puppy_pset_total{result=\"refused\"}") == 1);
  CHECK(metric(after, "puppy_upstream_up") == 1);
  CHECK(metric(after, "puppy_draining") == 0);
  // Round trips are sampled: at least one per sequential request here, never more than sent.
  const double samples = delta("puppy_upstream_request_duration_seconds_count");
  CHECK(samples >= 6);
  CHECK(samples <= 16);
  CHECK(metric(after, "puppy_upstream_request_duration_seconds_bucket{le=\"+Inf\"}") ==
        metric(after, "puppy_upstream_request_duration_seconds_count"));
  CHECK(metric(after, "puppy_upstream_connects_total") >= 1);

  // PUPPY STATS: the same text over RESP, counting itself.
  const std::string stats = c.call({"PUPPY", "STATS"});
  REQUIRE(stats[0] == '$');
  const std::string text = stats.substr(stats.find("\r\n") + 2);
  CHECK(metric(text, "puppy_commands_total") == metric(after, "puppy_commands_total") + 1);
  CHECK(metric(text, "puppy_pset_total{result=\"refused\"}") ==
        metric(after, "puppy_pset_total{result=\"refused\"}"));
  CHECK(c.call({"PUPPY", "NOPE"}) == "-ERR unknown subcommand 'NOPE'. Try PUPPY HELP.\r\n");

  // The bad connection left exactly one info line, with its address and the error, no payload.
  std::istringstream log(proxy.log());
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.find(" info client 127.0.0.1:") == std::string::npos) continue;
    ++lines;
    CHECK(line.find(": protocol error; connection closed after the replies before it "
                    "(Protocol error: invalid bulk length)") != std::string::npos);
  }
  CHECK(lines == 1);
  CHECK(c.call({"PUPPY"}) == "-ERR wrong number of arguments for 'puppy' command\r\n");
}

TEST_CASE("metrics: an unreachable upstream and the max clients limit are counted") {
  redis_server redis;
  proxy_server proxy(
      redis.url(), {"--metrics-listen", "127.0.0.1:0", "--max-clients", "1", "--shared-connections",
                    "0", "--upstream-retry-min-ms", "60000", "--upstream-retry-max-ms", "60000"});
  raw_client c(proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  {
    raw_client extra(proxy.port());
    CHECK(extra.read_until_closed() == "-ERR max number of clients reached\r\n");
  }
  CHECK(metric(scrape(proxy), "puppy_connections_rejected_total") == 1);
  redis.stop();
  CHECK_THROWS(c.call({"PING"}, 2s));  // its own upstream connection went: the client is closed
  REQUIRE(wait_until([&] { return metric(scrape(proxy), "puppy_connections_current") == 0; }, 10s));
  raw_client d(proxy.port());
  CHECK(d.call({"GET", "x"}).rfind("-ERR upstream unavailable", 0) == 0);
  const std::string m = scrape(proxy);
  CHECK(metric(m, "puppy_errors_total{kind=\"upstream_lost\"}") == 1);
  CHECK(metric(m, "puppy_errors_total{kind=\"upstream_unavailable\"}") == 1);
  CHECK(metric(m, "puppy_upstream_connect_failures_total") == 1);
}

TEST_CASE("readyz follows the upstream: unready while it is stopped, ready again when it returns") {
  redis_server redis;
  proxy_server proxy(redis.url(),
                     {"--metrics-listen", "127.0.0.1:0", "--health-check-interval-ms", "100"});
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
  CHECK(http_get(proxy.metrics_port(), "/readyz").body == "ready\n");
  redis.stop();
  REQUIRE(wait_until([&] { return !ready(proxy); }, 10s));
  CHECK(http_get(proxy.metrics_port(), "/readyz").body == "not ready: upstream unreachable\n");
  CHECK(metric(scrape(proxy), "puppy_upstream_up") == 0);
  CHECK(http_get(proxy.metrics_port(), "/healthz").status == 200);  // alive all the same
  redis.start();
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
  CHECK(metric(scrape(proxy), "puppy_upstream_up") == 1);
  CHECK(proxy.log().find("health check: upstream unreachable") != std::string::npos);
}

TEST_CASE("readyz: a memcached pool is ready while any of its servers answers") {
  memcached_server a, b;
  proxy_server proxy("memcached://" + a.address() + "," + b.address(),
                     {"--metrics-listen", "127.0.0.1:0", "--health-check-interval-ms", "100"});
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
  a.stop();
  // b still answers: still ready (checked over several intervals).
  for (int i = 0; i < 5; ++i) {
    CHECK(ready(proxy));
    raw_client probe(b.port());  // an interval has passed once b answered a fresh connection
    probe.send("version\r\n");
    CHECK(probe.read_line().rfind("VERSION ", 0) == 0);
  }
  b.stop();
  REQUIRE(wait_until([&] { return !ready(proxy); }, 10s));
  a.start();
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
}

TEST_CASE("readyz: unready while draining for shutdown") {
  redis_server redis;
  proxy_server proxy(redis.url(),
                     {"--metrics-listen", "127.0.0.1:0", "--drain-timeout-ms", "30000"});
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
  raw_client blocked(proxy.port());
  blocked.send("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n");  // keeps the drain going
  raw_client direct(redis.port());
  REQUIRE(redis_has_blocked(redis.port(), 1));
  proxy.signal(SIGTERM);
  REQUIRE(wait_until([&] { return !ready(proxy); }, 10s));
  CHECK(http_get(proxy.metrics_port(), "/readyz").body == "not ready: draining\n");
  CHECK(metric(scrape(proxy), "puppy_draining") == 1);
  CHECK(direct.call({"RPUSH", "q", "x"}) == ":1\r\n");  // the blocked client is answered ...
  CHECK(blocked.read_reply() == "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
  CHECK(proxy.wait(20s) == 0);  // ... and the proxy exits once it is
}

TEST_CASE("admin HTTP: 404, 405 with Allow, HEAD without a body, keep-alive, oversized header") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--metrics-listen", "127.0.0.1:0"});
  const auto port = proxy.metrics_port();
  CHECK(http_get(port, "/nope").status == 404);
  const auto post = http_get(port, "/metrics", "POST");
  CHECK(post.status == 405);
  CHECK(post.head.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
  const auto head = http_get(port, "/healthz", "HEAD");
  CHECK(head.status == 200);
  CHECK(head.head.find("\r\nContent-Length: 3\r\n") != std::string::npos);
  CHECK(head.body.empty());
  CHECK(http_get(port, "/metrics?name[]=x").status == 200);  // a query string is ignored

  raw_client keep(port);  // two requests on one connection
  keep.send(
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n"
      "Connection: close\r\n\r\n");
  const std::string both = keep.read_until_closed();
  CHECK(both.find("ok\n") != std::string::npos);
  CHECK(both.find("ok\n", both.find("ok\n") + 3) != std::string::npos);

  raw_client big(port);
  big.send("GET /metrics HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
  CHECK(big.read_until_closed().empty());  // refused: closed without an answer
  CHECK(http_get(port, "/healthz").status == 200);
}

TEST_CASE("an invalid --metrics-listen stops start-up naming the option") {
  for (const std::string bad : {"nonsense", "127.0.0.1:99999", "localhost:1"}) {
    INFO(bad);
    CHECK_THROWS_WITH(proxy_server("redis://127.0.0.1:1", {"--metrics-listen", bad}),
                      Catch::Contains("--metrics-listen " + bad));
  }
}

TEST_CASE("--log-format json: every line is one JSON object, the banner tells what runs") {
  redis_server redis;
  proxy_server proxy(redis.url(), {"--log-format", "json", "--threads", "2"});
  raw_client c(proxy.port());
  CHECK(c.call({"PING"}) == "+PONG\r\n");
  REQUIRE(proxy.stop() == 0);
  std::istringstream in(proxy.log());
  int lines = 0;
  bool banner = false;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '$') continue;  // the test support's command line
    INFO(line);
    CHECK(line.rfind("{\"time\":\"", 0) == 0);
    CHECK(line.find("\",\"level\":\"") != std::string::npos);
    CHECK(line.size() >= 3);
    CHECK(line.substr(line.size() - 2) == "\"}");
    banner = banner || (line.find("listening on 127.0.0.1:" + std::to_string(proxy.port())) !=
                            std::string::npos &&
                        line.find("upstream " + redis.url()) != std::string::npos &&
                        line.find("2 threads") != std::string::npos &&
                        line.find("puppy-proxy " PUPPY_VERSION_TEXT) != std::string::npos);
    ++lines;
  }
  CHECK(lines >= 2);
  CHECK(banner);
}

TEST_CASE("readyz and metrics in front of a Redis Cluster: every slot served; per node") {
  redis_cluster cluster;
  proxy_server proxy(cluster.url(),
                     {"--metrics-listen", "127.0.0.1:0", "--health-check-interval-ms", "100"});
  REQUIRE(wait_until([&] { return ready(proxy); }, 10s));
  raw_client c(proxy.port());
  for (int i = 0; i < 30; ++i) REQUIRE(c.call({"SET", "k" + std::to_string(i), "v"}) == "+OK\r\n");
  const std::string m = scrape(proxy);
  double sum = 0;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const std::string node = "{node=\"127.0.0.1:" + std::to_string(cluster.node(i).port()) + "\"}";
    INFO(m);
    const double requests = metric(m, "puppy_cluster_node_requests_total" + node);
    CHECK(requests > 0);  // 30 keys: every master has some
    sum += requests;
    CHECK(metric(m, "puppy_cluster_node_errors_total" + node) == 0);
    CHECK(metric(m, "puppy_cluster_node_redirections_total" + node) == 0);
  }
  CHECK(sum >= 30);  // and the topology reads
  // A master gone without a replica: its slots are not served, the cluster says fail.
  cluster.node(2).kill();
  REQUIRE(wait_until([&] { return !ready(proxy); }, 20s));
  CHECK(http_get(proxy.metrics_port(), "/readyz").body == "not ready: upstream unreachable\n");
}
