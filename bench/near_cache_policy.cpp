// Eviction policy of the near cache: the real puppy::cache::near_cache (S3-FIFO) against a
// plain LRU with the same byte accounting, replaying the same traces. Reports hit ratios (exact,
// deterministic for a seed) and nanoseconds per access (median over --rounds timed replays).
//
// Built and run by bench/near-cache-policy.sh (see bench/README.md, "near-cache-policy.sh"):
//   g++ -O2 -std=c++17 -I include bench/near_cache_policy.cpp src/cache/near_cache.cpp
//
// Every access is what the proxy does for a PGET: find(space::pget, key, now); on a miss,
// store(space::pget, key, value, ...) as a fill would. The clock is fake (a fixed time point)
// and every deadline far in the future, and no write generation ever moves, so a copy leaves
// the cache only by eviction: the hit ratio is the policy's alone.
//
// Traces over a key space of --keys keys (default 1,000,000), all of the same value size:
//   zipf-0.8, zipf-1.0, zipf-1.2  Zipf(alpha) popularity, ranks mapped to keys by a random
//                                 permutation
//   zipf-scan                     Zipf(1.0), and after every --scan-every accesses a scan of
//                                 --scan-len keys never seen before and never seen again
//                                 (one-hit wonders: a batch job, a crawler)
//   loop                          keys 0..L-1 over and over, L = 1.1 x the cache's capacity in
//                                 entries (the classic case where LRU hits nothing)
// Cache sizes: --sizes percent of the key space's bytes (default 1,5,10), a key's bytes being
// what near_cache charges: 1 (space byte) + key + value + near_cache::entry_overhead. The LRU
// charges exactly the same.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "puppy/cache/near_cache.hpp"

namespace {

using puppy::cache::near_cache;
using puppy::cache::space;

constexpr std::size_t key_digits = 8;
constexpr std::size_t key_len = 4 + key_digits;  // "key:" + 8 digits

// All keys, formatted once (so neither policy pays for formatting): id -> 12 bytes.
struct key_table {
  std::vector<char> bytes;
  explicit key_table(std::size_t n) : bytes(n * key_len) {
    char buf[32];
    for (std::size_t i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, "key:%0*zu", static_cast<int>(key_digits), i);
      std::memcpy(&bytes[i * key_len], buf, key_len);
    }
  }
  std::string_view operator[](std::uint32_t id) const {
    return std::string_view(&bytes[std::size_t{id} * key_len], key_len);
  }
};

struct trace {
  std::string name;
  std::string about;
  std::vector<std::uint32_t> ids;
  std::uint32_t max_id = 0;
};

// Zipf(alpha) over n ranks by inversion of the cumulative distribution; rank r -> perm[r].
class zipf {
 public:
  zipf(std::size_t n, double alpha, std::uint64_t seed) : cdf_(n), perm_(n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha);
      cdf_[i] = sum;
    }
    for (auto& c : cdf_) c /= sum;
    for (std::size_t i = 0; i < n; ++i) perm_[i] = static_cast<std::uint32_t>(i);
    std::mt19937_64 rng(seed ^ 0x5eedULL);
    std::shuffle(perm_.begin(), perm_.end(), rng);
  }
  template <class Rng>
  std::uint32_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    if (it == cdf_.end()) --it;
    return perm_[static_cast<std::size_t>(it - cdf_.begin())];
  }

 private:
  std::vector<double> cdf_;
  std::vector<std::uint32_t> perm_;
};

trace make_zipf(std::size_t keys, double alpha, std::size_t accesses, std::uint64_t seed) {
  trace t;
  char name[32];
  std::snprintf(name, sizeof name, "zipf-%.1f", alpha);
  t.name = name;
  t.about = "Zipf(" + std::string(name + 5) + ") over " + std::to_string(keys) + " keys";
  zipf z(keys, alpha, seed);
  std::mt19937_64 rng(seed);
  t.ids.reserve(accesses);
  for (std::size_t i = 0; i < accesses; ++i) t.ids.push_back(z(rng));
  t.max_id = static_cast<std::uint32_t>(keys - 1);
  return t;
}

trace make_scan_mix(std::size_t keys, std::size_t accesses, std::size_t every, std::size_t len,
                    std::uint64_t seed) {
  trace t;
  t.name = "zipf-scan";
  t.about = "Zipf(1.0) over " + std::to_string(keys) + " keys; after every " +
            std::to_string(every) + " accesses a scan of " + std::to_string(len) +
            " keys used once";
  zipf z(keys, 1.0, seed);
  std::mt19937_64 rng(seed);
  std::uint32_t next_new = static_cast<std::uint32_t>(keys);
  t.ids.reserve(accesses);
  std::size_t since = 0;
  while (t.ids.size() < accesses) {
    if (since == every) {
      for (std::size_t j = 0; j < len && t.ids.size() < accesses; ++j) t.ids.push_back(next_new++);
      since = 0;
      continue;
    }
    t.ids.push_back(z(rng));
    ++since;
  }
  t.max_id = std::max<std::uint32_t>(static_cast<std::uint32_t>(keys - 1), next_new);
  return t;
}

trace make_loop(std::size_t length, std::size_t accesses) {
  trace t;
  t.name = "loop";
  t.about = "keys 0.." + std::to_string(length - 1) + " in order, over and over";
  t.ids.reserve(accesses);
  for (std::size_t i = 0; i < accesses; ++i)
    t.ids.push_back(static_cast<std::uint32_t>(i % length));
  t.max_id = static_cast<std::uint32_t>(length - 1);
  return t;
}

// The reference: least recently used, in the same shape as near_cache (a list of entries, a
// map of views into their keys, the key stored with its space byte) and the same charge.
class lru {
 public:
  explicit lru(std::size_t budget) : budget_(budget) {}

  bool find(std::string_view key) {
    char buf[128];
    const std::string_view k = map_key(key, buf);
    const auto it = map_.find(k);
    if (it == map_.end()) return false;
    list_.splice(list_.begin(), list_, it->second);
    return true;
  }
  bool store(std::string_view key, std::string_view value) {
    std::string k(1, static_cast<char>(space::pget));
    k.append(key);
    const std::size_t charge = k.size() + value.size() + near_cache::entry_overhead;
    if (charge > budget_) return false;
    if (const auto old = map_.find(k); old != map_.end()) erase(old->second);
    while (bytes_ + charge > budget_ && !list_.empty()) {
      erase(std::prev(list_.end()));
      ++evictions_;
    }
    list_.push_front(entry{std::move(k), std::string(value), charge});
    map_.emplace(list_.front().key, list_.begin());
    bytes_ += charge;
    return true;
  }
  std::size_t entries() const { return map_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t evictions() const { return evictions_; }

 private:
  struct entry {
    std::string key;
    std::string value;
    std::size_t charge;
  };
  static std::string_view map_key(std::string_view key, char* buf) {
    buf[0] = static_cast<char>(space::pget);
    std::memcpy(buf + 1, key.data(), key.size());
    return std::string_view(buf, key.size() + 1);
  }
  void erase(std::list<entry>::iterator it) {
    map_.erase(std::string_view(it->key));
    bytes_ -= it->charge;
    list_.erase(it);
  }

  std::size_t budget_;
  std::size_t bytes_ = 0;
  std::size_t evictions_ = 0;
  std::list<entry> list_;
  std::unordered_map<std::string_view, std::list<entry>::iterator> map_;
};

struct result {
  std::size_t hits = 0;     // after the warm-up
  std::size_t counted = 0;  // accesses after the warm-up
  std::size_t entries = 0;  // at the end
  std::size_t bytes = 0;    // at the end
  std::size_t evictions = 0;
  double ns_per_op = 0;  // the whole trace, warm-up included
};

// Replays trace t: every access looks its key up; a miss stores the value. `cache` is a policy
// adapter: find(key) -> hit?, store(key), finish(result*) (entries, bytes, evictions).
template <class Cache>
result replay(const trace& t, const key_table& keys, std::size_t warmup, Cache&& cache) {
  result r;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t hits = 0;
  const std::size_t n = t.ids.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view key = keys[t.ids[i]];
    if (cache.find(key)) {
      if (i >= warmup) ++hits;
    } else {
      cache.store(key);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  r.hits = hits;
  r.counted = n - warmup;
  r.ns_per_op = std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(n);
  cache.finish(&r);
  return r;
}

// The real near cache, used as a PGET fill uses it: a fake clock, deadlines far away, a stamp
// taken once (no write generation ever moves).
struct s3fifo_adapter {
  puppy::cache::write_gens gens;
  puppy::metrics::near_stats stats;
  near_cache cache;
  std::string_view value;
  near_cache::clock::time_point now = near_cache::clock::time_point{} + std::chrono::hours(1);
  near_cache::clock::time_point far = now + std::chrono::hours(24 * 365 * 100);
  puppy::cache::stamp taken = puppy::cache::stamp::take(gens, 0, 0);

  s3fifo_adapter(std::size_t budget, std::string_view v) : cache(budget, gens, stats), value(v) {}
  bool find(std::string_view key) { return cache.find(space::pget, key, now).has_value(); }
  void store(std::string_view key) { cache.store(space::pget, key, value, false, 0, far, taken); }
  void finish(result* r) const {
    r->entries = cache.entries();
    r->bytes = cache.bytes();
    r->evictions = stats.evictions.value();
  }
};

struct lru_adapter {
  lru cache;
  std::string_view value;

  lru_adapter(std::size_t budget, std::string_view v) : cache(budget), value(v) {}
  bool find(std::string_view key) { return cache.find(key); }
  void store(std::string_view key) { cache.store(key, value); }
  void finish(result* r) const {
    r->entries = cache.entries();
    r->bytes = cache.bytes();
    r->evictions = cache.evictions();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto p = s.find(sep, start);
    out.push_back(s.substr(start, p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "%s\nusage: near_cache_policy [--keys N] [--accesses N] [--warmup-percent P]\n"
               "  [--value-size B] [--sizes P,P,...] [--traces zipf-0.8,zipf-1.0,zipf-1.2,"
               "zipf-scan,loop]\n  [--scan-every N] [--scan-len N] [--rounds R] [--seed S] "
               "[--csv FILE]\n",
               msg);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t keys = 1000000, accesses = 10000000, value_size = 100, scan_every = 80000,
              scan_len = 20000, rounds = 3;
  double warmup_percent = 20;
  std::uint64_t seed = 42;
  std::vector<double> sizes = {1, 5, 10};
  std::vector<std::string> trace_names = {"zipf-0.8", "zipf-1.0", "zipf-1.2", "zipf-scan", "loop"};
  std::string csv_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    char* end = nullptr;
    const auto num = [&] {
      const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
      if (*end || v.empty() || x == 0) usage(("bad number for " + a + ": " + v).c_str());
      return static_cast<std::size_t>(x);
    };
    if (a == "--keys")
      keys = num();
    else if (a == "--accesses")
      accesses = num();
    else if (a == "--value-size")
      value_size = num();
    else if (a == "--scan-every")
      scan_every = num();
    else if (a == "--scan-len")
      scan_len = num();
    else if (a == "--rounds")
      rounds = num();
    else if (a == "--seed")
      seed = num();
    else if (a == "--csv")
      csv_path = v;
    else if (a == "--warmup-percent") {
      warmup_percent = std::strtod(v.c_str(), &end);
      if (*end || warmup_percent < 0 || warmup_percent >= 100) usage("bad --warmup-percent");
    } else if (a == "--sizes") {
      sizes.clear();
      for (const auto& p : split(v, ',')) {
        const double x = std::strtod(p.c_str(), &end);
        if (*end || x <= 0 || x > 100) usage(("bad size percent " + p).c_str());
        sizes.push_back(x);
      }
    } else if (a == "--traces") {
      trace_names = split(v, ',');
      for (const auto& n : trace_names) {
        if (n != "zipf-0.8" && n != "zipf-1.0" && n != "zipf-1.2" && n != "zipf-scan" &&
            n != "loop") {
          usage(("unknown trace " + n).c_str());
        }
      }
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (keys >= 90000000) usage("--keys must be below 90,000,000 (8-digit keys, scans beyond)");

  const std::string value(value_size, 'v');
  const std::size_t charge = 1 + key_len + value_size + near_cache::entry_overhead;
  const std::size_t warmup =
      static_cast<std::size_t>(static_cast<double>(accesses) * warmup_percent / 100);
  std::printf("near cache policy: S3-FIFO (puppy::cache::near_cache) vs LRU (this file)\n");
  std::printf(
      "%zu keys of %zu bytes, values of %zu bytes: %zu bytes charged per entry "
      "(1 space byte + key + value + entry_overhead %zu); %zu accesses per trace, the "
      "first %.0f%% a warm-up not counted in the hit ratio; ns/access over the whole "
      "trace, median of %zu timed replays (policies alternate, order rotated)\n\n",
      keys, key_len, value_size, charge, near_cache::entry_overhead, accesses, warmup_percent,
      rounds);
  std::fflush(stdout);

  FILE* csv = nullptr;
  if (!csv_path.empty()) {
    csv = std::fopen(csv_path.c_str(), "w");
    if (!csv) usage(("cannot write " + csv_path).c_str());
    std::fprintf(csv,
                 "trace,size_percent,budget_bytes,capacity_entries,policy,hits,counted,"
                 "hit_ratio,entries_end,bytes_end,evictions,ns_per_op_median,"
                 "ns_per_op_min,ns_per_op_max\n");
  }

  struct row {
    std::string trace;
    double pct;
    std::size_t cap;
    result s3, lru;
    std::vector<double> s3_ns, lru_ns;
  };
  std::vector<row> rows;
  const std::size_t scan_keys = (accesses / (scan_every + scan_len) + 1) * scan_len;
  const key_table table(keys + scan_keys + 1);
  for (const auto& name : trace_names) {
    // The loop's length depends on the cache size; the other traces are built once.
    trace shared;
    if (name == "zipf-0.8")
      shared = make_zipf(keys, 0.8, accesses, seed);
    else if (name == "zipf-1.0")
      shared = make_zipf(keys, 1.0, accesses, seed);
    else if (name == "zipf-1.2")
      shared = make_zipf(keys, 1.2, accesses, seed);
    else if (name == "zipf-scan")
      shared = make_scan_mix(keys, accesses, scan_every, scan_len, seed);
    for (const double pct : sizes) {
      const std::size_t budget =
          static_cast<std::size_t>(static_cast<double>(keys * charge) * pct / 100);
      const std::size_t cap = budget / charge;
      trace looped;
      if (name == "loop")
        looped = make_loop(static_cast<std::size_t>(std::ceil(cap * 1.1)), accesses);
      const trace& t = name == "loop" ? looped : shared;
      if (t.max_id >= keys + scan_keys + 1) usage("internal: key table too small");
      row r{t.name, pct, cap, {}, {}, {}, {}};
      for (std::size_t k = 0; k < rounds; ++k) {
        // Alternate which policy runs first, so a slow moment of a shared machine is shared.
        for (int j = 0; j < 2; ++j) {
          if ((j + k) % 2 == 0) {
            const result x = replay(t, table, warmup, s3fifo_adapter(budget, value));
            if (k > 0 && x.hits != r.s3.hits) usage("internal: S3-FIFO replay not deterministic");
            r.s3 = x;
            r.s3_ns.push_back(x.ns_per_op);
          } else {
            const result x = replay(t, table, warmup, lru_adapter(budget, value));
            if (k > 0 && x.hits != r.lru.hits) usage("internal: LRU replay not deterministic");
            r.lru = x;
            r.lru_ns.push_back(x.ns_per_op);
          }
        }
      }
      std::fprintf(stderr, "%-9s %5.1f%%  S3-FIFO %.4f (%.0f ns)  LRU %.4f (%.0f ns)\n",
                   t.name.c_str(), pct, double(r.s3.hits) / double(r.s3.counted), median(r.s3_ns),
                   double(r.lru.hits) / double(r.lru.counted), median(r.lru_ns));
      if (csv) {
        for (int j = 0; j < 2; ++j) {
          const result& x = j == 0 ? r.s3 : r.lru;
          const auto& ns = j == 0 ? r.s3_ns : r.lru_ns;
          std::fprintf(csv, "%s,%g,%zu,%zu,%s,%zu,%zu,%.6f,%zu,%zu,%zu,%.1f,%.1f,%.1f\n",
                       t.name.c_str(), pct, budget, cap, j == 0 ? "s3fifo" : "lru", x.hits,
                       x.counted, double(x.hits) / double(x.counted), x.entries, x.bytes,
                       x.evictions, median(ns), *std::min_element(ns.begin(), ns.end()),
                       *std::max_element(ns.begin(), ns.end()));
        }
      }
      rows.push_back(std::move(r));
    }
    if (!shared.name.empty())
      std::printf("%-9s = %s\n", shared.name.c_str(), shared.about.c_str());
    else
      std::printf("%-9s = keys 0..L-1 in order over and over, L = 1.1 x the cache's capacity\n",
                  "loop");
  }
  if (csv) std::fclose(csv);

  std::printf("\n%-9s  %5s  %8s  %8s  %8s  %9s  %7s  %7s  %6s  %s\n", "trace", "size", "entries",
              "S3-FIFO", "LRU", "S3-LRU", "S3 ns", "LRU ns", "ns S3/LRU", "better hit ratio");
  std::printf("%s\n", std::string(100, '-').c_str());
  for (const auto& r : rows) {
    const double s3 = double(r.s3.hits) / double(r.s3.counted);
    const double lr = double(r.lru.hits) / double(r.lru.counted);
    const double d = s3 - lr;
    const char* better = std::fabs(d) < 0.0005 ? "tie" : d > 0 ? "S3-FIFO" : "LRU";
    std::printf("%-9s  %4g%%  %8zu  %8.4f  %8.4f  %+9.4f  %7.0f  %7.0f  %9.2f  %s\n",
                r.trace.c_str(), r.pct, r.cap, s3, lr, d, median(r.s3_ns), median(r.lru_ns),
                median(r.s3_ns) / median(r.lru_ns), better);
  }
  std::printf(
      "\nhit ratios: hits / accesses after the warm-up (exact; the same in every replay); "
      "S3-LRU = difference in hit ratio (positive: S3-FIFO hits more); entries = the "
      "cache's capacity in entries (budget / charge); ns = nanoseconds per access (find, "
      "plus store on a miss, evictions included), median over the replays\n");
  return 0;
}
