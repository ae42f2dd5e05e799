#pragma once
// The fault suite's machinery (fault_test.cpp is its only user): a fleet of checking clients
// (fault_client.hpp) and the scenario helpers.
#include "fault_client.hpp"

namespace {

class fleet {
 public:
  fleet(std::uint16_t port, workload w, bool pin_odd = true) {
    for (int i = 0; i < fleet_size; ++i)
      clients_.push_back(std::make_unique<fault_client>(i, port, w, pin_odd));
    for (auto& c : clients_) {
      threads_.emplace_back([this, raw = c.get()] {
        while (!stop_.load()) raw->step();
      });
    }
  }
  ~fleet() { stop(); }

  void stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void allow_state_reset(bool on) {
    for (auto& c : clients_) c->allow_state_reset(on);
  }

  // Whether every client has had an exact pipeline sent at or after `t`, within `timeout`.
  bool all_clean_since(std::chrono::steady_clock::time_point t, std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
          for (const auto& c : clients_) {
            if (!c->clean_since(t)) return false;
          }
          return true;
        },
        timeout);
  }

  tally sum() const {
    tally t;
    for (const auto& c : clients_) t += c->counts();
    return t;
  }
  std::string first_problem() const {
    for (const auto& c : clients_) {
      const std::string p = c->first_problem();
      if (!p.empty()) return p;
    }
    return {};
  }

 private:
  std::vector<std::unique_ptr<fault_client>> clients_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
};

// A client that was not there during the fault gets exact replies within recover_timeout.
bool newcomer_served(std::uint16_t port, workload w) {
  fault_client c(fleet_size + 1, port, w);
  return wait_until([&] { return c.step(); }, recover_timeout);
}

void report(const std::string& scenario, const tally& t, const std::string& problem) {
  std::printf(
      "fault scenario %-28s pipelines %6llu replies checked %7llu errors %5llu disconnects %5llu "
      "hangs %3llu wrong %llu resets %llu\n",
      scenario.c_str(), static_cast<unsigned long long>(t.pipelines),
      static_cast<unsigned long long>(t.checked), static_cast<unsigned long long>(t.errors),
      static_cast<unsigned long long>(t.disconnects), static_cast<unsigned long long>(t.hangs),
      static_cast<unsigned long long>(t.wrong), static_cast<unsigned long long>(t.resets));
  if (!problem.empty()) std::printf("  first problem: %s\n", problem.c_str());
  std::fflush(stdout);
}

// The checks every scenario ends with: nobody got a wrong reply, everyone (and a newcomer) is
// served again, the proxy runs and exits 0.
void finish(const std::string& scenario, fleet& f, proxy_server& proxy, workload w,
            std::chrono::steady_clock::time_point fault_over, bool hangs_allowed = false) {
  CHECK(f.all_clean_since(fault_over, recover_timeout));
  CHECK(newcomer_served(proxy.port(), w));
  f.stop();
  const tally t = f.sum();
  report(scenario, t, f.first_problem());
  INFO(scenario << ": " << f.first_problem());
  CHECK(t.wrong == 0);
  CHECK(t.connect_failures == 0);
  if (!hangs_allowed) CHECK(t.hangs == 0);
  CHECK(t.checked > 0);
  CHECK(proxy.running());
  CHECK(proxy.stop() == 0);
}

// Waits until every client has had an exact pipeline (the fleet is warm).
void warm_up(fleet& f) {
  REQUIRE(f.all_clean_since(std::chrono::steady_clock::now(), warm_timeout));
}

// Lets a fault last until `enough` holds or `most` passes ("for a while", bounded).
void hold_fault(const std::function<bool()>& enough, std::chrono::milliseconds most) {
  wait_until(enough, most);
}

// A warm fleet on a proxy whose upstream is a fault_relay in front of `target_port`.
struct relayed_fleet {
  relayed_fleet(std::uint16_t target_port, const std::string& scheme, std::uint64_t seed,
                workload w)
      : relay(target_port, seed),
        proxy(scheme + "://127.0.0.1:" + std::to_string(relay.port()), proxy_args),
        f(proxy.port(), w) {
    warm_up(f);
  }
  fault_relay relay;
  proxy_server proxy;
  fleet f;
};

// The upstream goes away (`down`) under a running fleet, mid-pipeline, for at least two failed
// replies per client or 3 s, then comes back (`up`).
void outage_scenario(const std::string& name, const std::string& url, workload w,
                     const std::function<void()>& down, const std::function<void()>& up) {
  proxy_server proxy(url, proxy_args);
  fleet f(proxy.port(), w);
  warm_up(f);
  f.allow_state_reset(w == workload::memcached);  // memcached comes back empty
  const tally before = f.sum();
  down();
  hold_fault([&] { return f.sum().trouble() >= before.trouble() + 2 * fleet_size; }, 3s);
  CHECK(f.sum().trouble() > before.trouble());  // the outage was noticed
  up();
  finish(name, f, proxy, w, std::chrono::steady_clock::now());
}

// Through a relay to `target_port` that closes each connection with probability 0.05 per chunk
// read (and delays each chunk by up to `max_delay`), until it has closed 40 or 8 s have passed.
void random_close_scenario(const std::string& name, const std::string& scheme,
                           std::uint16_t target_port, workload w, std::uint64_t seed,
                           std::chrono::milliseconds max_delay = 0ms) {
  relayed_fleet r(target_port, scheme, seed, w);
  fault_relay& relay = r.relay;
  proxy_server& proxy = r.proxy;
  fleet& f = r.f;
  relay.delay(0ms, max_delay);
  relay.close_randomly(0.05);
  hold_fault([&] { return relay.stats().random_closes >= 40; }, 8s);
  relay.pass_through();
  const auto over = std::chrono::steady_clock::now();
  CHECK(relay.stats().random_closes > 0);
  CHECK(f.sum().trouble() > 0);
  finish(name, f, proxy, w, over);
}

// Redis killed (SIGKILL) mid-pipeline, then started again on its port.
void redis_kill_scenario(const std::string& name, workload w) {
  redis_server redis;
  outage_scenario(
      name, redis.url(), w, [&] { redis.kill(); }, [&] { redis.start(); });
}

}  // namespace
