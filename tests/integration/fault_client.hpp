#pragma once
// The fault suite's checking client (fault_test.cpp, through fault_support.hpp, is its only user):
// a connection that sends pipelines whose every reply identifies its request, and the tally of
// what it saw.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "client.hpp"
#include "fault_relay.hpp"
#include "servers.hpp"

using namespace puppy::test;

namespace {

constexpr int fleet_size = 20;
constexpr int groups = 5;              // request groups per pipeline
constexpr auto reply_timeout = 5s;     // a reply slower than this is a hang
constexpr auto recover_timeout = 20s;  // after a fault ends, everyone is served again within this
constexpr auto warm_timeout = 20s;
constexpr auto pause_after_trouble = 10ms;  // pacing after an error or disconnect (not a sync)

const std::string unavailable = "-ERR upstream unavailable (";

const std::vector<std::string> proxy_args = {"--threads",
                                             "2",
                                             "--upstream-retry-min-ms",
                                             "20",
                                             "--upstream-retry-max-ms",
                                             "200",
                                             "--upstream-connect-timeout-ms",
                                             "500"};

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

bool is_unavailable(const std::string& reply) {
  return reply.rfind(unavailable, 0) == 0;
}

std::string show(const std::string& bytes) {
  std::string out;
  for (const char ch : bytes.substr(0, 120)) {
    if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

enum class workload { redis, pget, memcached };

// Counts for one client or a whole scenario.
struct tally {
  std::uint64_t checked = 0;           // replies that were exactly what their request asked for
  std::uint64_t errors = 0;            // "-ERR upstream unavailable (...)" replies
  std::uint64_t disconnects = 0;       // connections the proxy closed (or reset) under a client
  std::uint64_t hangs = 0;             // reads that found nothing within reply_timeout
  std::uint64_t wrong = 0;             // replies that were someone else's, out of order, or garbage
  std::uint64_t connect_failures = 0;  // the proxy did not accept a client
  std::uint64_t resets = 0;            // memcached restarted under a client: its data was gone
  std::uint64_t pipelines = 0;
  std::uint64_t clean = 0;  // pipelines with every reply exact

  tally& operator+=(const tally& o) {
    checked += o.checked;
    errors += o.errors;
    disconnects += o.disconnects;
    hangs += o.hangs;
    wrong += o.wrong;
    connect_failures += o.connect_failures;
    resets += o.resets;
    pipelines += o.pipelines;
    clean += o.clean;
    return *this;
  }
  std::uint64_t trouble() const { return errors + disconnects + hangs; }
};

// One client: its own thread in a fleet (or driven by hand), reconnecting after a disconnect.
class fault_client {
 public:
  // `pin_odd`: with the redis workload, odd ids send SELECT 0 first, which gives them an upstream
  // connection of their own.
  fault_client(int id, std::uint16_t port, workload w, bool pin_odd = true)
      : id_(id), port_(port), work_(w), pin_odd_(pin_odd) {}

  // memcached restarted: GET may find nothing and counters may start again.
  void allow_state_reset(bool on) { state_may_reset_ = on; }

  // Connects if needed, sends one pipeline, checks every reply. True if every reply was exact.
  bool step() {
    const auto start = std::chrono::steady_clock::now();
    bool clean = false;
    try {
      if (!conn_ && !connect()) return false;
      clean = work_ == workload::pget ? pget_round() : data_round();
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      if (what.rfind("timed out", 0) == 0) {
        add(&tally::hangs);
        note_first_hang(what);
      } else {
        add(&tally::disconnects);
      }
      conn_.reset();
      clean = false;
    }
    add(&tally::pipelines);
    if (clean) {
      add(&tally::clean);
      last_clean_start_.store(start.time_since_epoch().count());
    } else {
      std::this_thread::sleep_for(pause_after_trouble);
    }
    return clean;
  }

  // Whether a pipeline sent at or after `t` came back exact.
  bool clean_since(std::chrono::steady_clock::time_point t) const {
    return last_clean_start_.load() >= t.time_since_epoch().count();
  }

  tally counts() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_;
  }
  std::string first_problem() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_problem_;
  }

 private:
  bool connect() {
    try {
      conn_ = std::make_unique<raw_client>(port_);
    } catch (const std::runtime_error& e) {
      add(&tally::connect_failures);
      note(std::string("connect: ") + e.what());
      return false;
    }
    ++epoch_;
    incr_confirmed_ = 0;
    incr_uncertain_ = 0;
    // Odd clients pin themselves to an upstream connection of their own (shared mode only).
    if (work_ == workload::redis && pin_odd_ && id_ % 2 == 1) {
      const std::string reply = conn_->call({"SELECT", "0"}, reply_timeout);
      if (reply == "+OK\r\n") {
        add(&tally::checked);
      } else if (is_unavailable(reply)) {
        add(&tally::errors);
      } else {
        wrong("SELECT 0", "+OK", reply);
      }
    }
    return true;
  }

  std::string tag(std::uint64_t n) const {
    return "c" + std::to_string(id_) + "-r" + std::to_string(n);
  }

  // ECHO, SET, GET, INCR per group, all in one write.
  bool data_round() {
    struct group {
      std::uint64_t n;
      std::string key, value;
    };
    std::vector<group> gs;
    std::string out;
    const std::string counter = "fc:c" + std::to_string(id_) + ":e" + std::to_string(epoch_);
    for (int g = 0; g < groups; ++g) {
      const std::uint64_t n = ++seq_;
      // Every fifth value is 12 KB: replies that span reads, so faults cut some of them half-way.
      gs.push_back({n, "fk:" + tag(n), "v" + tag(n) + std::string((n % 5) * 3000, 'x')});
      out += encode({"ECHO", tag(n)});
      out += encode({"SET", gs.back().key, gs.back().value, "EX", "120"});
      out += encode({"GET", gs.back().key});
      out += encode({"INCR", counter});
    }
    conn_->send(out);
    bool clean = true;
    for (const auto& g : gs) {
      clean &= expect(conn_->read_reply(reply_timeout), "ECHO " + tag(g.n), bulk(tag(g.n)));
      const std::string set_reply = conn_->read_reply(reply_timeout);
      const bool set_ok = expect(set_reply, "SET " + g.key, "+OK\r\n");
      clean &= set_ok;
      const std::string get_reply = conn_->read_reply(reply_timeout);
      if (!set_ok && get_reply == "$-1\r\n") {
        add(&tally::checked);  // the SET failed: nothing stored is right too
        clean = false;
      } else if (state_may_reset_ && get_reply == "$-1\r\n") {
        add(&tally::resets);
        clean = false;
      } else {
        clean &= expect(get_reply, "GET " + g.key, bulk(g.value));
      }
      clean &= check_incr(conn_->read_reply(reply_timeout), counter);
    }
    return clean;
  }

  // INCR of this client's counter: exactly one more than the last value seen, or, after errors
  // (a failed INCR may or may not have run), up to one more per error.
  bool check_incr(const std::string& reply, const std::string& counter) {
    if (is_unavailable(reply)) {
      add(&tally::errors);
      ++incr_uncertain_;
      return false;
    }
    std::int64_t v = -1;
    if (reply.size() > 3 && reply[0] == ':') v = std::stoll(reply.substr(1));
    const std::int64_t lo = incr_confirmed_ + 1;
    const std::int64_t hi = incr_confirmed_ + 1 + incr_uncertain_;
    if (v == lo) {
      add(&tally::checked);
    } else if (v > lo && v <= hi) {
      add(&tally::checked);
    } else if (state_may_reset_ && v >= 1 && v < lo) {
      add(&tally::resets);
    } else {
      wrong("INCR " + counter, ":" + std::to_string(lo) + " to :" + std::to_string(hi), reply);
      v = -1;
    }
    const bool exact = v == lo;
    if (v >= 1) {
      incr_confirmed_ = v;
      incr_uncertain_ = 0;
    }
    return exact;
  }

  // Round one: ECHO + PGET of a new key (a cold miss: this client gets the lease). Round two,
  // for each lease: PSET with its token, then PGET (now fresh with the value).
  bool pget_round() {
    struct item {
      std::uint64_t n;
      std::string key, value, token;
    };
    std::vector<item> items;
    std::string out;
    for (int g = 0; g < groups; ++g) {
      const std::uint64_t n = ++seq_;
      items.push_back({n, "pk:" + tag(n), "pv" + tag(n), ""});
      out += encode({"ECHO", tag(n)});
      out += encode({"PGET", items.back().key, "60", "10"});
    }
    conn_->send(out);
    bool clean = true;
    const std::string lease_head = "*3\r\n$5\r\nlease\r\n$-1\r\n$32\r\n";
    for (auto& it : items) {
      clean &= expect(conn_->read_reply(reply_timeout), "ECHO " + tag(it.n), bulk(tag(it.n)));
      const std::string r = conn_->read_reply(reply_timeout);
      if (r.size() == lease_head.size() + 34 && r.rfind(lease_head, 0) == 0 &&
          r.compare(r.size() - 2, 2, "\r\n") == 0) {
        it.token = r.substr(lease_head.size(), 32);
        add(&tally::checked);
      } else {
        clean &= expect(r, "PGET " + it.key, lease_head + "<token>\r\n");
      }
    }
    out.clear();
    for (const auto& it : items) {
      if (it.token.empty()) continue;
      out += encode({"PSET", it.key, it.token, it.value, "60", "10"});
      out += encode({"PGET", it.key, "60", "10"});
    }
    if (out.empty()) return false;
    conn_->send(out);
    const std::string miss = "*3\r\n$4\r\nmiss\r\n$-1\r\n$-1\r\n";
    for (const auto& it : items) {
      if (it.token.empty()) continue;
      const bool stored = expect(conn_->read_reply(reply_timeout), "PSET " + it.key, ":1\r\n");
      clean &= stored;
      const std::string fresh = "*3\r\n$5\r\nfresh\r\n" + bulk(it.value) + "$-1\r\n";
      const std::string r = conn_->read_reply(reply_timeout);
      if (!stored && r == miss) {
        add(&tally::checked);  // the PSET failed: the lease is still ours, others miss
        clean = false;
      } else {
        clean &= expect(r, "PGET " + it.key, fresh);
      }
    }
    return clean;
  }

  // Counts `reply`: exact (true), "upstream unavailable", or wrong.
  bool expect(const std::string& reply, const std::string& request, const std::string& want) {
    if (reply == want) {
      add(&tally::checked);
      return true;
    }
    if (is_unavailable(reply)) {
      add(&tally::errors);
    } else {
      wrong(request, want, reply);
    }
    return false;
  }

  void wrong(const std::string& request, const std::string& want, const std::string& got) {
    add(&tally::wrong);
    note("client " + std::to_string(id_) + ": " + request + " wanted '" + show(want) + "', got '" +
         show(got) + "'");
  }

  void note(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (first_problem_.empty()) first_problem_ = what;
  }
  void note_first_hang(const std::string& what) {
    note("client " + std::to_string(id_) + ": " + what);
  }

  void add(std::uint64_t tally::*field) {
    std::lock_guard<std::mutex> lock(mu_);
    ++(counts_.*field);
  }

  const int id_;
  const std::uint16_t port_;
  const workload work_;
  const bool pin_odd_;
  std::atomic<bool> state_may_reset_{false};
  std::unique_ptr<raw_client> conn_;
  std::uint64_t seq_ = 0;
  std::uint64_t epoch_ = 0;
  std::int64_t incr_confirmed_ = 0;
  std::int64_t incr_uncertain_ = 0;
  std::atomic<std::chrono::steady_clock::rep> last_clean_start_{
      std::chrono::steady_clock::time_point::min().time_since_epoch().count()};
  mutable std::mutex mu_;
  tally counts_;
  std::string first_problem_;
};

// fleet_size clients sending pipelines as fast as they are answered, until stopped.
}  // namespace
