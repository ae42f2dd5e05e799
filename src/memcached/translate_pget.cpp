// The PGET family over memcached, on the rules of pget/decision.hpp. memcached has no scripts and
// no transactions, so each command is a few meta commands whose writes are conditional: a lease is
// taken with an add (no status yet) or a CAS replace (the status read), PSET and PRELEASE replace
// the lease with CAS, and any race makes the loser start over or be refused. The status item is
// kept on the data key's server. There is no pub/sub: PGET ... WAIT looks again every poll_ms.
#include <chrono>
#include <cmath>
#include <random>

#include "puppy/pget/decision.hpp"
#include "puppy/pget/reply.hpp"
#include "translate_commands.hpp"

#include <algorithm>
#include <climits>

namespace puppy::memcached {
namespace {

constexpr int max_attempts = 16;
constexpr std::int64_t poll_ms = 25;

std::string token128() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* digits = "0123456789abcdef";
  std::string t(32, '0');
  for (int half = 0; half < 2; ++half) {
    std::uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) t[half * 16 + i] = digits[v & 0xF];
  }
  return t;
}

double xfetch_factor(double beta) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0.0, 1.0);
  return beta * -std::log(1.0 - u(rng));
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

step finish(std::string reply) {
  step s;
  s.done = true;
  s.reply = std::move(reply);
  return s;
}

std::optional<std::string_view> status_text(const response& r) {
  if (r.what == code::va) return r.data;
  return std::nullopt;
}

// Common to the family: the data key (decides the server) and both encoded keys.
struct keys {
  std::string key;
  std::string key_token;
  std::string status_token;
  request to_status(std::string bytes) const { return {key, false, std::move(bytes)}; }
  request to_data(std::string bytes) const { return {key, false, std::move(bytes)}; }
};

class pget_command : public command {
 public:
  pget_command(keys k, pget::request r) : k_(std::move(k)), r_(std::move(r)) {
    deadline_ = steady_ms() + r_.wait_ms;
  }

  step begin() override { return read(); }

  step next(const std::vector<response>& rs) override {
    if (stage_ == stage::wait) return read();
    for (const auto& r : rs) {
      if (is_error(r)) return finish(error_for(r));
    }
    if (stage_ == stage::read) {
      const response& st = rs.at(0);
      const response& data = rs.at(1);
      has_value_ = data.what == code::va;
      value_.assign(data.data);
      cas_ = st.number('c').value_or(0);
      status_present_ = st.what == code::va;
      const std::int64_t t = st.number('t').value_or(-1);
      const auto status = pget::parse_status(status_text(st));
      lease_held_ = status.what == pget::status::kind::lease;
      token_ = token128();
      now_ = wall_ms();
      decision_ = pget::decide_get(
          status,
          status_present_ && t >= 0 ? std::min<std::int64_t>(t, LLONG_MAX / 1000) * 1000 : -1,
          has_value_, now_, token_, r_.beta > 0 ? xfetch_factor(r_.beta) : 0);
      if (decision_.take_lease) {
        stage_ = stage::lease;
        const std::string flags =
            (status_present_ ? "C" + std::to_string(cas_) : std::string("ME")) + " T" +
            std::to_string(ttl_seconds(r_.update_time * 1000, now_));
        step s;
        s.requests.push_back(k_.to_status(ms(k_.status_token, decision_.new_status, flags)));
        return s;
      }
      return answer(decision_.answer, decision_.retry_after_ms);
    }
    // stage::lease: did our conditional write win?
    if (rs.at(0).what == code::hd) return answer(pget::state::lease, -1);
    if (++attempts_ >= max_attempts) {
      return finish(
          resp_out::error("ERR the key kept changing on the memcached upstream; try again"));
    }
    return read();  // someone else changed the status meanwhile: look again
  }

 private:
  enum class stage : std::uint8_t { read, lease, wait };

  step read() {
    stage_ = stage::read;
    step s;
    s.requests.push_back(k_.to_status("mg " + k_.status_token + " v c t\r\n"));
    s.requests.push_back(k_.to_data("mg " + k_.key_token + " v\r\n"));
    return s;
  }

  step answer(pget::state state, std::int64_t retry_after_ms) {
    // A waiter that finds a value under a lease caught a PSET half-way (value written, status
    // not yet): look again in a moment, to answer fresh as over Redis.
    const bool publishing = waited_ && state == pget::state::stale && lease_held_;
    if ((state == pget::state::miss || publishing) && r_.wait_ms > 0) {
      const std::int64_t left = deadline_ - steady_ms();
      if (left > 0) {
        // No wake-ups over memcached: look again soon (or when the lease ends, if sooner).
        stage_ = stage::wait;
        waited_ = true;
        step s;
        s.wake_after_ms =
            publishing ? 1
                       : std::min(left, retry_after_ms >= 0 ? std::min(poll_ms, retry_after_ms + 1)
                                                            : poll_ms);
        return s;
      }
    }
    std::string reply;
    const std::string_view value = value_;
    const std::string_view token = token_;
    const bool with_value = has_value_ && state != pget::state::miss;
    pget::encode_pget_reply(state, with_value ? &value : nullptr,
                            state == pget::state::lease ? &token : nullptr, &reply);
    return finish(std::move(reply));
  }

  keys k_;
  pget::request r_;
  stage stage_ = stage::read;
  std::int64_t deadline_ = 0;
  std::int64_t cas_ = 0;
  std::int64_t now_ = 0;
  bool has_value_ = false;
  bool status_present_ = false;
  bool lease_held_ = false;
  bool waited_ = false;
  std::string value_;
  std::string token_;
  pget::get_decision decision_;
  int attempts_ = 0;
};

// PSET and PRELEASE: read the status, and act only if `token` holds the lease. PSET writes the
// value first and then replaces the lease with a current status (CAS): a reader never finds a
// current status without its value (it would take that for an eviction and start a lease).
// The price: if the lease is lost between the check and the CAS, the value was written anyway
// (the reply is then 0, and the new lease holder's PSET overwrites it).
class lease_command : public command {
 public:
  lease_command(keys k, pget::request r, std::string value)
      : k_(std::move(k)), r_(r), value_(std::move(value)), token_(r.token) {
    r_.key = r_.token = r_.value = {};  // views into the request's arguments: not kept
  }

  step begin() override {
    step s;
    s.requests.push_back(k_.to_status("mg " + k_.status_token + " v c\r\n"));
    return s;
  }

  step next(const std::vector<response>& rs) override {
    const response& r = rs.at(0);
    if (is_error(r)) return finish(error_for(r));
    const std::int64_t now = wall_ms();
    switch (stage_) {
      case stage::check: {
        const auto status = pget::parse_status(status_text(r));
        cas_ = "C" + std::to_string(r.number('c').value_or(0));
        if (r_.kind == pget::op::set) {
          const auto compute = pget::decide_set(status, token_, now);
          if (!compute) return finish(resp_out::integer(0));
          compute_ms_ = *compute;
          stage_ = stage::value;
          const std::int64_t life = (r_.timeout + 2 * r_.update_time) * 1000;
          return one(
              k_.to_data(ms(k_.key_token, value_, "T" + std::to_string(ttl_seconds(life, now)))));
        }
        if (!pget::decide_release(status, token_)) return finish(resp_out::integer(0));
        stage_ = stage::status;
        if (r_.backoff > 0) {
          return one(
              k_.to_status(ms(k_.status_token, pget::format_backoff(status.compute_ms),
                              cas_ + " T" + std::to_string(ttl_seconds(r_.backoff * 1000, now)))));
        }
        return one(k_.to_status("md " + k_.status_token + " " + cas_ + "\r\n"));
      }
      case stage::value:
        if (r.what != code::hd) return finish(error_for(r));
        stage_ = stage::status;
        return one(
            k_.to_status(ms(k_.status_token,
                            pget::format_current(compute_ms_, now + r_.timeout * 1000),
                            cas_ + " T" + std::to_string(ttl_seconds(r_.timeout * 1000, now)))));
      case stage::status:
        return finish(resp_out::integer(r.what == code::hd ? 1 : 0));  // 0: the lease moved on
    }
    return finish(resp_out::integer(0));
  }

 private:
  enum class stage : std::uint8_t { check, value, status };

  static step one(request req) {
    step s;
    s.requests.push_back(std::move(req));
    return s;
  }

  keys k_;
  pget::request r_;
  std::string value_;
  std::string token_;
  std::string cas_;
  std::int64_t compute_ms_ = 0;
  stage stage_ = stage::check;
};

}  // namespace

std::unique_ptr<command> make_pget_command(const std::string& name,
                                           const std::vector<std::string_view>& args, client_state&,
                                           const settings& cfg, std::int64_t, std::string* reply) {
  if (!pget::is_family(name)) return nullptr;
  pget::request r;
  if (std::string err = pget::parse(args, cfg.pget_defaults, &r); !err.empty()) {
    return *reply = resp_out::error("ERR " + err), nullptr;
  }
  keys k;
  k.key = std::string(r.key);
  std::string status, err;
  if (!pget::status_key(r.key, cfg.pget_keys, &status, &err)) {
    return *reply = resp_out::error("ERR " + err), nullptr;
  }
  if (!encode_key(r.key, &k.key_token, reply) || !encode_key(status, &k.status_token, reply)) {
    return nullptr;
  }
  switch (r.kind) {
    case pget::op::get:
      r.key = {};  // a view into the arguments: the command keeps its own copy in k
      return std::make_unique<pget_command>(std::move(k), r);
    case pget::op::set:
      return std::make_unique<lease_command>(std::move(k), r, std::string(r.value));
    case pget::op::release:
      return std::make_unique<lease_command>(std::move(k), r, std::string());
    case pget::op::invalidate: {
      std::vector<request> reqs;
      reqs.push_back(k.to_data("mg " + k.key_token + "\r\n"));
      reqs.push_back(k.to_status("md " + k.status_token + "\r\n"));
      return single(std::move(reqs), [](const std::vector<response>& rs) {
        return resp_out::integer(rs[0].what == code::hd ? 1 : 0);
      });
    }
  }
  return nullptr;
}

}  // namespace puppy::memcached
