#include "load.hpp"

#include "client.hpp"
#include "process.hpp"

namespace puppy::test {

namespace {

std::string bulk(const std::string& v) {
  return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n";
}

}  // namespace

checked_load::checked_load(std::uint16_t port, int clients, bool writes_may_be_lost)
    : port_(port), lossy_(writes_may_be_lost) {
  for (int i = 0; i < clients; ++i) threads_.emplace_back([this, i] { run(i); });
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
  const auto judge = [&](const std::string& got, const std::string& want, const char* what) {
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
  };
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

}  // namespace puppy::test
