#include "load.hpp"

#include <optional>

#include "client.hpp"
#include "process.hpp"

namespace puppy::test {

namespace {

std::string bulk(const std::string& v) {
  return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
}

}  // namespace

checked_load::checked_load(std::uint16_t port, int clients, bool writes_may_be_lost)
    : checked_load(port, clients, writes_may_be_lost, shape{}) {}

checked_load::checked_load(std::uint16_t port, int clients, bool writes_may_be_lost, shape s)
    : port_(port), lossy_(writes_may_be_lost), shape_(s) {
  const bool pipelined = s.pipeline > 1 || s.value_bytes > 0;
  for (int i = 0; i < clients; ++i) {
    threads_.emplace_back([this, i, pipelined] { pipelined ? run_pipelined(i) : run(i); });
  }
}

bool checked_load::judge(const std::string& got, const std::string& want, const char* what) {
  if (got == want) {
    ++ok_;
    return true;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!got.empty() && got[0] == '-') {
    errors_.push_back(got.substr(0, got.size() - 2));
  } else {
    ++wrong_;
    if (wrong_sample_.empty()) wrong_sample_ = std::string(what) + ": " + got + " for " + want;
  }
  return false;
}

namespace {

// Client `id`'s value for its key `slot` in round `round`, padded to `size` bytes.
std::string padded_value(int id, std::uint64_t round, int slot, std::size_t size) {
  std::string v =
      "c" + std::to_string(id) + "r" + std::to_string(round) + "s" + std::to_string(slot) + ":";
  if (v.size() < size) v.append(size - v.size(), static_cast<char>('a' + (round + slot) % 26));
  return v;
}

// The round of a value client `id` wrote to its key `slot`, if `reply` is one (a bulk reply).
std::optional<std::uint64_t> round_of(const std::string& reply, int id, int slot,
                                      std::size_t size) {
  const std::string head = "c" + std::to_string(id) + "r";
  const auto start = reply.find("\r\n");
  if (reply.empty() || reply[0] != '$' || start == std::string::npos) return std::nullopt;
  const std::string value = reply.substr(start + 2, reply.size() - start - 4);
  if (value.rfind(head, 0) != 0) return std::nullopt;
  std::uint64_t round = 0;
  std::size_t i = head.size();
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i)
    round = round * 10 + (value[i] - '0');
  if (padded_value(id, round, slot, size) != value) return std::nullopt;
  return round;
}

}  // namespace

void checked_load::run_pipelined(int id) {
  std::unique_ptr<raw_client> c;
  const int p = shape_.pipeline;
  for (std::uint64_t round = 0; !stop_; ++round) {
    try {
      if (!c) c = std::make_unique<raw_client>(port_);
      std::string batch;
      const auto key = [&](int slot) {
        return "load" + std::to_string(id) + ":p" + std::to_string(slot);
      };
      for (int j = 0; j < p; ++j) {
        batch += encode({"SET", key(j), padded_value(id, round, j, shape_.value_bytes)});
      }
      for (int j = 0; j < p; ++j) batch += encode({"GET", key(j)});
      c->send(batch);
      std::vector<bool> written(p);
      for (int j = 0; j < p; ++j) written[j] = judge(c->read_reply(), "+OK\r\n", "SET");
      for (int j = 0; j < p; ++j) {
        const std::string got = c->read_reply();
        const std::string want = bulk(padded_value(id, round, j, shape_.value_bytes));
        if (got != want && (lossy_ || !written[j]) && !got.empty() && got[0] != '-') {
          // An older value of this key's (a write lost, or refused), or none.
          const auto r = round_of(got, id, j, shape_.value_bytes);
          if (got == "$-1\r\n" || (r && *r < round)) {
            ++lost_;
            continue;
          }
        }
        judge(got, want, "GET");
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_.push_back(std::string("client: ") + e.what());
      c.reset();
    }
  }
}

checked_load::~checked_load() {
  stop();
}

void checked_load::stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

bool checked_load::wait_for_more(std::uint64_t more, std::chrono::milliseconds timeout) {
  const auto target = ok_.load() + more;
  return wait_until([&] { return ok_.load() >= target; }, timeout);
}

std::vector<std::string> checked_load::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_;
}

std::string checked_load::wrong_sample() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return wrong_sample_;
}

void checked_load::run(int id) {
  std::unique_ptr<raw_client> c;
  for (std::uint64_t round = 0; !stop_; ++round) {
    try {
      if (!c) c = std::make_unique<raw_client>(port_);
      const std::string key = "load" + std::to_string(id) + ":" + std::to_string(round % 256);
      const std::string value = "c" + std::to_string(id) + "r" + std::to_string(round);
      if (!judge(c->call({"SET", key, value}), "+OK\r\n", "SET")) continue;
      const std::string got = c->call({"GET", key});
      if (lossy_ && got != bulk(value) && got != "" && got[0] != '-') {
        // An older value this client wrote to the key (same round modulo 256), or none.
        bool older = got == "$-1\r\n";
        for (std::uint64_t r = round % 256; !older && r < round; r += 256) {
          older = got == bulk("c" + std::to_string(id) + "r" + std::to_string(r));
        }
        if (older) {
          ++lost_;
          continue;
        }
      }
      if (!judge(got, bulk(value), "GET")) continue;
      if (lossy_ || round % 8 != 0) continue;
      const std::string other = "other" + std::to_string(id) + ":" + std::to_string(round % 64);
      if (!judge(c->call({"MSET", key, value + "m", other, value + "o"}), "+OK\r\n", "MSET")) {
        continue;
      }
      judge(c->call({"MGET", other, key}), "*2\r\n" + bulk(value + "o") + bulk(value + "m"),
            "MGET");
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_.push_back(std::string("client: ") + e.what());
      c.reset();
    }
  }
}

failover_load::failover_load(std::uint16_t port)
    : single_(port, 16, true), pipelined_(port, 4, true, {16, 8192}) {}

bool failover_load::wait_for_more(std::uint64_t more, std::chrono::milliseconds timeout) {
  return single_.wait_for_more(more, timeout) && pipelined_.wait_for_more(more, timeout);
}

void failover_load::stop() {
  single_.stop();
  pipelined_.stop();
}

std::vector<std::string> failover_load::errors() const {
  auto all = single_.errors();
  for (auto& e : pipelined_.errors()) all.push_back(std::move(e));
  return all;
}

namespace {

bool starts(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

bool dropping(const std::string& e) {
  return starts(e, "client: ") || starts(e, "-ERR upstream connection lost");
}

}  // namespace

std::string failover_load::unclear_errors() const {
  std::string out;
  for (const auto& e : errors()) {
    if (dropping(e) || starts(e, "-ERR upstream unavailable (") || starts(e, "-READONLY")) {
      continue;
    }
    out += e + "\n";
  }
  return out;
}

std::string failover_load::error_sample() const {
  const auto all = errors();
  std::string out;
  for (std::size_t i = 0; i < all.size() && i < 20; ++i) out += all[i] + "\n";
  return out;
}

std::size_t failover_load::dropped() const {
  std::size_t n = 0;
  for (const auto& e : errors()) n += dropping(e) ? 1 : 0;
  return n;
}

}  // namespace puppy::test
