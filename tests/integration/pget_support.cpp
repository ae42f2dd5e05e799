#include "pget_support.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <stdexcept>

#include "process.hpp"

namespace puppy::test {
namespace {

std::optional<std::string> bulk(const std::string& r, std::size_t* pos) {
  if (r.compare(*pos, 5, "$-1\r\n") == 0) {
    *pos += 5;
    return std::nullopt;
  }
  if (r[*pos] != '$') throw std::runtime_error("not a bulk string: " + r);
  const auto cr = r.find("\r\n", *pos);
  const auto len = std::stoul(r.substr(*pos + 1, cr - *pos - 1));
  std::string value = r.substr(cr + 2, len);
  *pos = cr + 2 + len + 2;
  return value;
}

}  // namespace

pget_answer parse_pget(const std::string& reply) {
  if (reply.rfind("*3\r\n", 0) != 0) throw std::runtime_error("not a PGET reply: " + reply);
  std::size_t pos = 4;
  pget_answer a;
  const auto state = bulk(reply, &pos);
  if (!state) throw std::runtime_error("PGET reply without a state: " + reply);
  a.state = *state;
  a.value = bulk(reply, &pos);
  a.token = bulk(reply, &pos);
  if (pos != reply.size()) throw std::runtime_error("trailing bytes in PGET reply: " + reply);
  return a;
}

pget_answer pget(raw_client& c, const std::vector<std::string>& args,
                 std::chrono::milliseconds timeout) {
  std::vector<std::string> full = {"PGET"};
  full.insert(full.end(), args.begin(), args.end());
  return parse_pget(c.call(full, timeout));
}

bool ms_between(const std::string& reply, long long lo, long long hi) {
  if (reply.empty() || reply[0] != ':') return false;
  const long long v = std::stoll(reply.substr(1));
  return v >= lo && v <= hi;
}

double near_invalidations(std::uint16_t proxy_port) {
  return proxy_metric(proxy_port, "puppy_near_cache_invalidations_total");
}

void await_near_invalidation(std::uint16_t proxy_port, double before) {
  if (before < 0) return;
  REQUIRE(wait_until([&] { return near_invalidations(proxy_port) > before; }, 10s));
}

void await_near_fills(std::uint16_t proxy_port, double fills) {
  const auto stored = [&] { return proxy_metric(proxy_port, "puppy_near_cache_fills_total"); };
  if (stored() < 0) return;
  REQUIRE(wait_until([&] { return stored() >= fills; }, 10s));
}

std::map<std::string, long> command_calls(raw_client& direct) {
  std::map<std::string, long> out;
  std::istringstream in(direct.call({"INFO", "commandstats"}));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("cmdstat_", 0) != 0) continue;
    const std::string name = line.substr(8, line.find(':') - 8);
    if (name == "info" || name.rfind("config", 0) == 0) continue;
    const auto at = line.find("calls=") + 6;
    out[name] = std::stol(line.substr(at, line.find(',', at) - at));
  }
  return out;
}

void reset_stats(raw_client& direct) {
  REQUIRE(direct.call({"CONFIG", "RESETSTAT"}) == "+OK\r\n");
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace puppy::test
