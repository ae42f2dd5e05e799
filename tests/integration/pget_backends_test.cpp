// The PGET family's guarantees with any upstream: the same tests run over Redis, over a pool of
// three memcached servers (status items live on their data key's server) and over a 3-master
// Redis Cluster (status keys "puppy:{key}", in their key's slot).
#include <catch2/catch.hpp>
#include <memory>
#include <thread>

#include "client.hpp"
#include "pget_support.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

// Direct access to the upstream, around the proxy.
class backend {
 public:
  virtual ~backend() = default;
  virtual std::string url() const = 0;
  virtual void del(const std::string& key) = 0;
  virtual bool exists(const std::string& key) = 0;
  // Remaining life in ms (memcached: whole seconds), -1 without expiry, -2 if missing.
  virtual long long ttl_ms(const std::string& key) = 0;
};

class redis_backend : public backend {
 public:
  std::string url() const override { return redis_.url(); }
  void del(const std::string& key) override { direct_.call({"DEL", key}); }
  bool exists(const std::string& key) override { return direct_.call({"EXISTS", key}) == ":1\r\n"; }
  long long ttl_ms(const std::string& key) override {
    return std::stoll(direct_.call({"PTTL", key}).substr(1));
  }

 private:
  redis_server redis_;
  raw_client direct_{redis_.port()};
};

class memcached_backend : public backend {
 public:
  memcached_backend() {
    for (int i = 0; i < 3; ++i) servers_.push_back(std::make_unique<memcached_server>());
  }
  std::string url() const override {
    return "memcached://" + servers_[0]->address() + "," + servers_[1]->address() + "," +
           servers_[2]->address();
  }
  void del(const std::string& key) override {
    for (auto& s : servers_) ask(*s, "md " + key + "\r\n");
  }
  bool exists(const std::string& key) override {
    for (auto& s : servers_) {
      if (ask(*s, "mg " + key + "\r\n") == "HD\r\n") return true;
    }
    return false;
  }
  long long ttl_ms(const std::string& key) override {
    for (auto& s : servers_) {
      const std::string line = ask(*s, "mg " + key + " t\r\n");
      if (line.rfind("HD t", 0) == 0) {
        const long long t = std::stoll(line.substr(4));
        return t < 0 ? -1 : t * 1000;
      }
    }
    return -2;
  }

 private:
  static std::string ask(memcached_server& s, const std::string& line) {
    raw_client c(s.port());
    c.send(line);
    return c.read_line();
  }
  std::vector<std::unique_ptr<memcached_server>> servers_;
};

class cluster_backend : public backend {
 public:
  std::string url() const override { return cluster_.url(); }
  void del(const std::string& key) override { node_of(key).call({"DEL", name(key)}); }
  bool exists(const std::string& key) override {
    return node_of(key).call({"EXISTS", name(key)}) == ":1\r\n";
  }
  long long ttl_ms(const std::string& key) override {
    return std::stoll(node_of(key).call({"PTTL", name(key)}).substr(1));
  }

 private:
  // The tests name status keys as over one Redis ("puppy:k"); in a cluster they are "puppy:{k}".
  static std::string name(const std::string& key) {
    return key.rfind("puppy:", 0) == 0 ? "puppy:{" + key.substr(6) + "}" : key;
  }
  raw_client& node_of(const std::string& key) {
    const std::size_t i = cluster_.owner_of(name(key));
    if (!nodes_[i]) nodes_[i] = std::make_unique<raw_client>(cluster_.node(i).port());
    return *nodes_[i];
  }
  redis_cluster cluster_;
  std::unique_ptr<raw_client> nodes_[3];
};

const char* const kinds[] = {"redis", "memcached", "cluster"};

std::unique_ptr<backend> make_backend(const std::string& kind) {
  if (kind == "memcached") return std::make_unique<memcached_backend>();
  if (kind == "cluster") return std::make_unique<cluster_backend>();
  return std::make_unique<redis_backend>();
}

// memcached keeps whole seconds: allow a second less than Redis would show.
bool about(long long ms, long long expected) {
  return ms <= expected && ms > expected - 2000;
}

}  // namespace

TEST_CASE("PGET over any upstream: leases, tokens, TTLs, back-off, invalidation") {
  for (const std::string kind : kinds) {
    DYNAMIC_SECTION(kind) {
      auto up = make_backend(kind);
      proxy_server proxy(up->url());
      raw_client a(proxy.port());
      raw_client b(proxy.port());

      // Cold miss: one lease, others miss; PSET; then fresh everywhere, GET sees the value.
      const auto lease = pget(a, {"k", "100", "10"});
      CHECK(lease.state == "lease");
      CHECK_FALSE(lease.value);
      REQUIRE(lease.token);
      CHECK(pget(b, {"k", "100", "10"}).state == "miss");
      CHECK(about(up->ttl_ms("puppy:k"), 10'000));
      CHECK(a.call({"PSET", "k", "0123456789abcdef0123456789abcdef", "forged", "100", "10"}) ==
            ":0\r\n");
      CHECK(a.call({"PSET", "k", *lease.token, "v1", "100", "10"}) == ":1\r\n");
      CHECK(a.call({"PSET", "k", *lease.token, "again", "100", "10"}) == ":0\r\n");
      CHECK(pget(b, {"k", "100", "10"}).value == std::optional<std::string>("v1"));
      CHECK(a.call({"GET", "k"}) == "$2\r\nv1\r\n");
      CHECK(about(up->ttl_ms("k"), 120'000));
      CHECK(about(up->ttl_ms("puppy:k"), 100'000));

      // Freshness runs out: one reader regenerates, the other gets the stale value. (With the
      // near cache, b's fresh answer asked for a copy: once it is held, Redis tracks the key.)
      await_near_fills(proxy.port(), 1);
      const double seen = near_invalidations(proxy.port());
      up->del("puppy:k");
      await_near_invalidation(proxy.port(), seen);
      const auto winner = pget(a, {"k", "100", "10"});
      CHECK(winner.state == "lease");
      CHECK(winner.value == std::optional<std::string>("v1"));
      REQUIRE(winner.token);
      CHECK(pget(b, {"k", "100", "10"}).state == "stale");

      // PRELEASE with BACKOFF: no lease, stale for everyone meanwhile.
      CHECK(a.call({"PRELEASE", "k", *winner.token, "BACKOFF", "30"}) == ":1\r\n");
      CHECK(about(up->ttl_ms("puppy:k"), 30'000));
      CHECK(pget(b, {"k", "100", "10"}).state == "stale");
      CHECK(a.call({"PRELEASE", "k", *winner.token}) == ":0\r\n");

      // PINVALIDATE: stale, and a lease in flight is cancelled.
      up->del("puppy:k");
      const auto again = pget(a, {"k", "100", "10"});
      REQUIRE(again.token);
      CHECK(b.call({"PINVALIDATE", "k"}) == ":1\r\n");
      CHECK(a.call({"PSET", "k", *again.token, "from-old-data", "100", "10"}) == ":0\r\n");
      CHECK(pget(b, {"k", "100", "10"}).state == "lease");
      CHECK(b.call({"PINVALIDATE", "nothing"}) == ":0\r\n");

      // Bad arguments write nothing.
      CHECK(a.call({"PGET", "z", "0"}) ==
            "-ERR invalid timeout '0': whole seconds, at least 1\r\n");
      CHECK_FALSE(up->exists("puppy:z"));
    }
  }
}

TEST_CASE("PGET over any upstream: data gone, winner gone, and waiting for a value") {
  for (const std::string kind : kinds) {
    DYNAMIC_SECTION(kind) {
      auto up = make_backend(kind);
      proxy_server proxy(up->url());
      raw_client a(proxy.port());
      raw_client b(proxy.port());

      // The value evicted but its status still current: no busy loop, a reader gets the lease
      // (at once over memcached; over Redis the next reader after one miss).
      const auto first = pget(a, {"k", "100", "10"});
      REQUIRE(first.token);
      CHECK(a.call({"PSET", "k", *first.token, "v", "100", "10"}) == ":1\r\n");
      up->del("k");
      auto next = pget(a, {"k", "100", "10"});
      if (next.state == "miss") next = pget(a, {"k", "100", "10"});
      CHECK(next.state == "lease");
      REQUIRE(next.token);
      CHECK(a.call({"PSET", "k", *next.token, "back", "100", "10"}) == ":1\r\n");

      // A winner that disconnects without PSET: after update_time the next reader wins.
      {
        raw_client crasher(proxy.port());
        CHECK(pget(crasher, {"gone", "100", "1"}).state == "lease");
      }
      CHECK(pget(b, {"gone", "100", "1"}).state == "miss");
      CHECK(wait_until([&] { return !up->exists("puppy:gone"); }, 10s));
      CHECK(pget(b, {"gone", "100", "1"}).state == "lease");

      // WAIT: a cold miss waits for the regeneration and gets the value.
      const auto lease = pget(a, {"w", "100", "30"});
      REQUIRE(lease.token);
      b.send(encode({"PGET", "w", "100", "30", "WAIT", "20000"}));
      CHECK_FALSE(b.has_data(200ms));
      CHECK(a.call({"PSET", "w", *lease.token, "computed", "100", "30"}) == ":1\r\n");
      const auto got = parse_pget(b.read_reply(10s));
      CHECK(got.state == "fresh");
      CHECK(got.value == std::optional<std::string>("computed"));
    }
  }
}
