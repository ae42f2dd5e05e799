// Commands that read, decide and write: SET (with GET or KEEPTTL), GETSET, GETDEL, INCR and
// friends, APPEND, PERSIST. The write carries the CAS value read, so a concurrent change makes it
// fail, and the command starts over (at most max_attempts times).
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include "puppy/resp/number.hpp"
#include "translate_commands.hpp"

namespace puppy::memcached {
namespace {

constexpr int max_attempts = 16;

class rmw_command : public command {
 public:
  rmw_command(std::string key, std::string token, rmw_fn decide)
      : key_(std::move(key)), token_(std::move(token)), decide_(std::move(decide)) {}

  step begin() override { return read(); }

  step next(const std::vector<response>& rs) override {
    const response& r = rs.at(0);
    if (is_error(r)) return done(error_for(r));
    if (reading_) {
      std::optional<std::string_view> old;
      if (r.what == code::va) old = r.data;
      const std::int64_t cas = r.number('c').value_or(0);
      action_ = decide_(old, r.number('t').value_or(-1));
      switch (action_.kind) {
        case rmw_action::what::reply_only:
          return done(action_.reply);
        case rmw_action::what::store: {
          const std::string flags = (old ? "C" + std::to_string(cas) : std::string("ME")) + " T" +
                                    std::to_string(action_.ttl);
          return write(ms(token_, action_.value, flags));
        }
        case rmw_action::what::erase:
          if (!old) return done(action_.reply);
          return write("md " + token_ + " C" + std::to_string(cas) + "\r\n");
      }
    }
    if (r.what == code::hd) return done(action_.reply);
    if (++attempts_ >= max_attempts) {
      return done(
          resp_out::error("ERR the key kept changing on the memcached upstream; try again"));
    }
    return read();  // EX, NS, NF: someone else changed it between the read and the write
  }

 private:
  step read() {
    reading_ = true;
    step s;
    s.requests.push_back({key_, false, "mg " + token_ + " v c t\r\n"});
    return s;
  }
  step write(std::string bytes) {
    reading_ = false;
    step s;
    s.requests.push_back({key_, false, std::move(bytes)});
    return s;
  }
  static step done(std::string reply) {
    step s;
    s.done = true;
    s.reply = std::move(reply);
    return s;
  }

  std::string key_;
  std::string token_;
  rmw_fn decide_;
  rmw_action action_;
  bool reading_ = true;
  int attempts_ = 0;
};

bool iequals(std::string_view a, const char* b) {
  return a.size() == std::strlen(b) && std::equal(a.begin(), a.end(), b, [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

// The TTL to store with when the key's expiry is kept (memcached's t: -1 means none).
std::int64_t kept(std::int64_t old_ttl, std::int64_t now_ms) {
  return old_ttl < 0
             ? 0
             : ttl_seconds(std::min<std::int64_t>(old_ttl, LLONG_MAX / 1000) * 1000, now_ms);
}

rmw_action reply_only(std::string reply) {
  rmw_action a;
  a.reply = std::move(reply);
  return a;
}

rmw_action store(std::string value, std::int64_t ttl, std::string reply) {
  rmw_action a;
  a.kind = rmw_action::what::store;
  a.value = std::move(value);
  a.ttl = ttl;
  a.reply = std::move(reply);
  return a;
}

std::unique_ptr<command> make_set(const std::vector<std::string_view>& args, bool resp3,
                                  std::int64_t now_ms, std::string* reply) {
  if (args.size() < 3) return *reply = wrong_arity(args[0]), nullptr;
  bool nx = false, xx = false, get = false, keepttl = false, expiry = false;
  std::int64_t ttl = 0;
  for (std::size_t i = 3; i < args.size(); ++i) {
    const int used = parse_expiry(args, i, "set", now_ms, &ttl, reply);
    if (used < 0) return nullptr;
    if (used == 2 && !expiry && !keepttl) {
      expiry = true;
      ++i;
    } else if (used == 0 && iequals(args[i], "nx") && !xx) {
      nx = true;
    } else if (used == 0 && iequals(args[i], "xx") && !nx) {
      xx = true;
    } else if (used == 0 && iequals(args[i], "get")) {
      get = true;
    } else if (used == 0 && iequals(args[i], "keepttl") && !expiry) {
      keepttl = true;
    } else {
      return *reply = resp_out::error("ERR syntax error"), nullptr;
    }
  }
  std::string token;
  if (!encode_key(args[1], &token, reply)) return nullptr;
  const std::string value(args[2]);
  if (!get && !keepttl) {
    // One write: ms in mode add (NX), replace (XX) or set.
    const std::string flags = std::string(nx ? "ME " : xx ? "MR " : "") + "T" + std::to_string(ttl);
    std::vector<request> reqs;
    reqs.push_back({std::string(args[1]), false, ms(token, value, flags)});
    return single(std::move(reqs), [resp3](const std::vector<response>& rs) {
      return rs[0].what == code::hd ? resp_out::simple("OK") : resp_out::nil(resp3);
    });
  }
  return rmw(std::string(args[1]),
             [=](const std::optional<std::string_view>& old, std::int64_t old_ttl) {
               const std::string previous = old ? resp_out::bulk(*old) : resp_out::nil(resp3);
               if ((nx && old) || (xx && !old))
                 return reply_only(get ? previous : resp_out::nil(resp3));
               return store(value, keepttl ? kept(old_ttl, now_ms) : ttl,
                            get ? previous : resp_out::simple("OK"));
             });
}

std::unique_ptr<command> make_incr(const std::string& name,
                                   const std::vector<std::string_view>& args, std::int64_t now_ms,
                                   std::string* reply) {
  const bool by = name == "incrby" || name == "decrby";
  if (args.size() != (by ? 3u : 2u)) return *reply = wrong_arity(args[0]), nullptr;
  long long delta = 1;
  if (by && !resp::string_to_ll(args[2].data(), args[2].size(), &delta)) {
    return *reply = resp_out::error("ERR value is not an integer or out of range"), nullptr;
  }
  const bool decrement = name == "decr" || name == "decrby";
  if (decrement) {
    if (delta == LLONG_MIN) {
      return *reply = resp_out::error("ERR decrement would overflow"), nullptr;
    }
    delta = -delta;
  }
  return rmw(std::string(args[1]), [=](const std::optional<std::string_view>& old,
                                       std::int64_t old_ttl) {
    long long current = 0;
    if (old && !resp::string_to_ll(old->data(), old->size(), &current)) {
      return reply_only(resp_out::error("ERR value is not an integer or out of range"));
    }
    if ((delta < 0 && current < LLONG_MIN - delta) || (delta > 0 && current > LLONG_MAX - delta)) {
      return reply_only(resp_out::error("ERR increment or decrement would overflow"));
    }
    const long long result = current + delta;
    return store(std::to_string(result), old ? kept(old_ttl, now_ms) : 0,
                 resp_out::integer(result));
  });
}

}  // namespace

std::unique_ptr<command> rmw(std::string key, rmw_fn decide) {
  std::string token, ignored;
  encode_key(key, &token, &ignored);  // callers checked the key
  return std::make_unique<rmw_command>(std::move(key), std::move(token), std::move(decide));
}

std::unique_ptr<command> make_rmw_command(const std::string& name,
                                          const std::vector<std::string_view>& args,
                                          client_state& st, const settings&, std::int64_t now_ms,
                                          std::string* reply) {
  const bool resp3 = st.resp3;
  if (name == "set") return make_set(args, resp3, now_ms, reply);
  if (name == "incr" || name == "decr" || name == "incrby" || name == "decrby") {
    if (args.size() >= 2) {
      std::string token;
      if (!encode_key(args[1], &token, reply)) return nullptr;
    }
    return make_incr(name, args, now_ms, reply);
  }
  const std::size_t arity = name == "getset" || name == "append" ? 3 : 2;
  if (name != "getset" && name != "getdel" && name != "append" && name != "persist") {
    return nullptr;
  }
  if (args.size() != arity) return *reply = wrong_arity(args[0]), nullptr;
  std::string token;
  if (!encode_key(args[1], &token, reply)) return nullptr;
  const std::string key(args[1]);
  if (name == "getset") {
    const std::string value(args[2]);
    return rmw(key, [=](const std::optional<std::string_view>& old, std::int64_t) {
      return store(value, 0, old ? resp_out::bulk(*old) : resp_out::nil(resp3));
    });
  }
  if (name == "getdel") {
    return rmw(key, [=](const std::optional<std::string_view>& old, std::int64_t) {
      rmw_action a = reply_only(old ? resp_out::bulk(*old) : resp_out::nil(resp3));
      if (old) a.kind = rmw_action::what::erase;
      return a;
    });
  }
  if (name == "append") {
    const std::string tail(args[2]);
    return rmw(key, [=](const std::optional<std::string_view>& old, std::int64_t old_ttl) {
      std::string value = old ? std::string(*old) + tail : tail;
      const auto len = static_cast<std::int64_t>(value.size());
      return store(std::move(value), old ? kept(old_ttl, now_ms) : 0, resp_out::integer(len));
    });
  }
  // persist
  return rmw(key, [=](const std::optional<std::string_view>& old, std::int64_t old_ttl) {
    if (!old || old_ttl < 0) return reply_only(resp_out::integer(0));
    return store(std::string(*old), 0, resp_out::integer(1));
  });
}

}  // namespace puppy::memcached
