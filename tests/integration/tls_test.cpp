// TLS towards the upstream (rediss://) and on both sides at once, against Debian's redis-server
// with TLS enabled: replies byte for byte as Redis sends them, over shared and own upstream
// connections, PGET and its wake-up subscription; certificate checks that fail say so.
// (CTest runs this file twice: tls, and tls_pinned with --shared-connections 0.)
#include <catch2/catch.hpp>

#include "corpus.hpp"
#include "pget_support.hpp"
#include "tls_support.hpp"

using namespace puppy::test;

namespace {

// A 1000-deep pipeline of SET/GET/INCR, and exactly the replies Redis gives it.
std::pair<std::string, std::string> pipeline_1000(const std::string& prefix) {
  std::string requests, replies;
  for (int i = 0; i < 1000; ++i) {
    const std::string key = prefix + std::to_string(i);
    const std::string value = std::string(static_cast<std::size_t>(i % 97), 'v') + key;
    switch (i % 3) {
      case 0:
        requests += encode({"SET", key, value});
        replies += "+OK\r\n";
        break;
      case 1:
        requests += encode({"SET", key, value}) + encode({"GET", key});
        replies += "+OK\r\n" + bulk(value);
        break;
      default:
        requests += encode({"INCR", prefix + "counter"});
        replies += ":" + std::to_string(i / 3 + 1) + "\r\n";
    }
  }
  return {requests, replies};
}

// Values of 1 MiB both ways, and a 1000-deep pipeline, through `c`; every byte checked.
void large_and_deep(raw_client& c, const std::string& prefix) {
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  big[12345] = '\r';  // binary-safe: line ends inside the value too
  big[12346] = '\n';
  c.send(encode({"SET", prefix + "big", big}) + encode({"GET", prefix + "big"}) +
         encode({"SET", prefix + "big2", big}) + encode({"STRLEN", prefix + "big2"}));
  CHECK(c.read_reply(30s) == "+OK\r\n");
  CHECK(c.read_reply(30s) == bulk(big));
  CHECK(c.read_reply(30s) == "+OK\r\n");
  CHECK(c.read_reply(30s) == ":1048576\r\n");
  const auto [requests, replies] = pipeline_1000(prefix);
  c.send(requests);
  CHECK(c.read_replies(1000 + 333, 60s) == replies);
}

}  // namespace

TEST_CASE("rediss:// upstream: the differential corpus, byte for byte") {
  redis_server direct;
  redis_server behind(redis_tls{});
  proxy_server proxy(behind.url(), upstream_ca_args());
  corpus_runner r(direct.port(), proxy.port());
  r.set_redis_ports(direct.port(), behind.port());
  client_options redis_options = tls_client();
  r.set_second_options({}, redis_options);
  const auto files = corpus_files(PUPPY_CORPUS_DIR);
  REQUIRE(files.size() >= 15);
  for (const auto& f : files) {
    SECTION(f.substr(f.rfind('/') + 1)) {
      r.run_file(f);
    }
  }
}

TEST_CASE("rediss:// upstream: shared and own connections, 1 MiB values, a 1000-deep pipeline") {
  redis_server redis(redis_tls{});
  proxy_server proxy(redis.url(), upstream_ca_args());
  raw_client c(proxy.port());
  CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  large_and_deep(c, "shared:");
  // A pinned command: the client's own connection, TLS too.
  raw_client d(proxy.port());
  CHECK(d.call({"SELECT", "3"}) == "+OK\r\n");
  CHECK(d.call({"GET", "k"}) == "$-1\r\n");
  d.send(encode({"MULTI"}) + encode({"SET", "k3", "x"}) + encode({"GET", "k3"}) + encode({"EXEC"}));
  CHECK(d.read_replies(4) == "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\nx\r\n");
  large_and_deep(d, "own:");
  // What the proxy wrote is in Redis.
  raw_client direct(redis.port(), tls_client());
  CHECK(direct.call({"GET", "shared:1"}) == bulk(std::string(1, 'v') + "shared:1"));
  CHECK(direct.call({"SELECT", "3"}) == "+OK\r\n");
  CHECK(direct.call({"GET", "k3"}) == "$1\r\nx\r\n");
}

TEST_CASE("rediss:// upstream: PGET, and PGET ... WAIT woken over the TLS subscription") {
  redis_server redis(redis_tls{});
  proxy_server proxy(redis.url(), upstream_ca_args());
  raw_client winner(proxy.port());
  raw_client waiter(proxy.port());
  const auto lease = pget(winner, {"k", "100", "30"});
  CHECK(lease.state == "lease");
  REQUIRE(lease.token);
  // The wait (20 s) is far shorter than the lease (30 s): only the wake-up can end it as fresh.
  waiter.send(encode({"PGET", "k", "100", "30", "WAIT", "20000"}));
  CHECK(wait_until(
      [&] {
        return proxy.log().find("listening for PGET wake-ups on 'puppy:wake'") != std::string::npos;
      },
      10s));
  CHECK(winner.call({"PSET", "k", *lease.token, "computed", "100", "30"}) == ":1\r\n");
  const auto got = parse_pget(waiter.read_reply(10s));
  CHECK(got.state == "fresh");
  CHECK(got.value == std::optional<std::string>("computed"));
  CHECK(winner.call({"PGET", "k"}) == "*3\r\n$5\r\nfresh\r\n$8\r\ncomputed\r\n$-1\r\n");
}

TEST_CASE("TLS on both sides, Redis requiring the proxy's client certificate") {
  redis_server redis(redis_tls{"yes"});
  proxy_server proxy(redis.url(),
                     join(join(tls_listener_args(), upstream_ca_args()), upstream_cert_args()));
  raw_client c(proxy.tls_port(), tls_client(false, 8192));  // a slow reader: writes block
  CHECK(c.call({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(c.call({"GET", "k"}) == "$1\r\nv\r\n");
  large_and_deep(c, "tls:");
  raw_client d(proxy.tls_port(), tls_client());
  CHECK(d.call({"SELECT", "2"}) == "+OK\r\n");
  large_and_deep(d, "tls-own:");
  d.shutdown_write();  // close_notify: the proxy sees the end of this client's requests
  CHECK(d.read_until_closed().empty());

  SECTION("without a client certificate the handshake fails, and says why") {
    proxy_server plain(redis.url(), upstream_ca_args());
    raw_client e(plain.port());
    const std::string reply = e.call({"GET", "k"});
    INFO(reply);
    CHECK(reply.rfind("-ERR upstream unavailable (connect to 127.0.0.1:" +
                          std::to_string(redis.port()) + " failed: TLS handshake failed: ",
                      0) == 0);
    CHECK(reply.find("certificate required") != std::string::npos);
  }
}

TEST_CASE("/readyz: the health check connects over TLS too, with the client certificate") {
  redis_server redis(redis_tls{"yes"});
  const std::vector<std::string> admin = {"--metrics-listen", "127.0.0.1:0",
                                          "--health-check-interval-ms", "100"};
  proxy_server good(redis.url(), join(join(upstream_ca_args(), upstream_cert_args()), admin));
  CHECK(wait_until([&] { return readyz(good.metrics_port()) == "ready\n"; }, 10s));
  proxy_server untrusting(redis.url(), join({"--upstream-tls-ca-cert-file", pki("other-ca.crt")},
                                            join(upstream_cert_args(), admin)));
  proxy_server no_certificate(redis.url(), join(upstream_ca_args(), admin));
  for (const proxy_server* p : {&untrusting, &no_certificate}) {
    CHECK(wait_until(
        [&] { return readyz(p->metrics_port()) == "not ready: upstream unreachable\n"; }, 10s));
  }
  CHECK(readyz(good.metrics_port()) == "ready\n");
}

TEST_CASE("an upstream certificate the proxy cannot trust: an error naming the TLS failure") {
  redis_server redis(redis_tls{});
  const std::string prefix =
      "upstream unavailable (connect to 127.0.0.1:" + std::to_string(redis.port()) +
      " failed: TLS handshake failed: ";
  SECTION("signed by another CA") {
    proxy_server proxy(
        redis.url(), {"--upstream-tls-ca-cert-file", pki("other-ca.crt"), "--upstream-retry-min-ms",
                      "10", "--upstream-retry-max-ms", "20"});
    raw_client c(proxy.port());
    const std::string expected = "-ERR " + prefix + "certificate verify failed (";
    CHECK(c.call({"GET", "k"}).rfind(expected, 0) == 0);
    CHECK(c.call({"SELECT", "1"}).rfind(expected, 0) == 0);  // an own connection: the same
    // Attempts go on (back-off), logged as one warning per outage (the others at debug level).
    const std::string logged = "failed: TLS handshake failed: certificate verify failed (";
    CHECK(wait_until(
        [&] {
          c.call({"GET", "k"});
          const std::string log = proxy.log();
          std::size_t n = 0;
          for (auto at = log.find(logged); at != std::string::npos; at = log.find(logged, at + 1)) {
            ++n;
          }
          return n >= 3;
        },
        10s));
    const std::string log = proxy.log();
    CHECK(log.find("warning upstream unavailable: connect to") != std::string::npos);
    CHECK(log.find("warning upstream unavailable: connect to") ==
          log.rfind("warning upstream unavailable: connect to"));
  }
  SECTION("another name (SNI and the certificate's names)") {
    proxy_server proxy(
        redis.url(), join(upstream_ca_args(), {"--upstream-tls-server-name", "redis.example.com"}));
    raw_client c(proxy.port());
    CHECK(c.call({"GET", "k"})
              .rfind("-ERR " + prefix +
                         "certificate verify failed (hostname "
                         "mismatch)",
                     0) == 0);
  }
  SECTION("the right name, given or from the URL; or no check at all") {
    proxy_server named(redis.url(),
                       join(upstream_ca_args(), {"--upstream-tls-server-name", "localhost"}));
    raw_client a(named.port());
    CHECK(a.call({"SET", "k", "1"}) == "+OK\r\n");
    proxy_server from_url("rediss://localhost:" + std::to_string(redis.port()), upstream_ca_args());
    raw_client b(from_url.port());
    CHECK(b.call({"GET", "k"}) == "$1\r\n1\r\n");
    proxy_server unchecked(redis.url(), {"--upstream-tls-verify", "no"});
    raw_client u(unchecked.port());
    CHECK(u.call({"GET", "k"}) == "$1\r\n1\r\n");
    proxy_server flag("redis://127.0.0.1:" + std::to_string(redis.port()),
                      join(upstream_ca_args(), {"--upstream-tls"}));
    raw_client f(flag.port());
    CHECK(f.call({"GET", "k"}) == "$1\r\n1\r\n");
  }
}
