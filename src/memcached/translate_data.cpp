// Commands answered in one round of memcached requests.
#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>

#include "puppy/resp/number.hpp"
#include "translate_commands.hpp"

namespace puppy::memcached {
namespace {

class single_command : public command {
 public:
  single_command(std::vector<request> requests, reducer reduce)
      : requests_(std::move(requests)), reduce_(std::move(reduce)) {}
  step begin() override {
    step s;
    s.requests = std::move(requests_);
    return s;
  }
  step next(const std::vector<response>& rs) override {
    step s;
    s.done = true;
    for (const auto& r : rs) {
      if (is_error(r)) {
        s.reply = error_for(r);
        return s;
      }
    }
    s.reply = reduce_(rs);
    return s;
  }

 private:
  std::vector<request> requests_;
  reducer reduce_;
};

bool iequals(std::string_view a, const char* b) {
  return a.size() == std::strlen(b) && std::equal(a.begin(), a.end(), b, [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == y;
         });
}

bool to_int(std::string_view s, long long* v) {
  return resp::string_to_ll(s.data(), s.size(), v);
}

std::string not_integer() {
  return resp_out::error("ERR value is not an integer or out of range");
}

// One request per key: `line(key_token)` builds it.
bool per_key(const std::vector<std::string_view>& keys,
             const std::function<std::string(const std::string&)>& line, std::vector<request>* out,
             std::string* reply) {
  for (const auto& k : keys) {
    std::string token;
    if (!encode_key(k, &token, reply)) return false;
    out->push_back({std::string(k), false, line(token)});
  }
  return true;
}

std::int64_t count(const std::vector<response>& rs, code what) {
  return std::count_if(rs.begin(), rs.end(), [what](const response& r) { return r.what == what; });
}

}  // namespace

std::unique_ptr<command> single(std::vector<request> requests, reducer reduce) {
  return std::make_unique<single_command>(std::move(requests), std::move(reduce));
}

std::string ms(std::string_view key_token, std::string_view value, std::string_view flags) {
  // A binary key's token is "<base64> b": its "b" flag goes after the data length.
  const auto space = key_token.find(' ');
  std::string out = "ms ";
  out.append(key_token.substr(0, space));
  out.push_back(' ');
  out.append(std::to_string(value.size()));
  if (space != std::string_view::npos) {
    out.push_back(' ');
    out.append(key_token.substr(space + 1));
  }
  if (!flags.empty()) {
    out.push_back(' ');
    out.append(flags);
  }
  out.append("\r\n");
  out.append(value);
  out.append("\r\n");
  return out;
}

int parse_expiry(const std::vector<std::string_view>& args, std::size_t i, std::string_view command,
                 std::int64_t now_ms, std::int64_t* ttl, std::string* reply) {
  const std::string_view opt = args[i];
  const bool ex = iequals(opt, "ex"), px = iequals(opt, "px"), exat = iequals(opt, "exat"),
             pxat = iequals(opt, "pxat");
  if (!ex && !px && !exat && !pxat) return 0;
  if (i + 1 >= args.size()) {
    *reply = resp_out::error("ERR syntax error");
    return -1;
  }
  long long v = 0;
  if (!to_int(args[i + 1], &v)) {
    *reply = not_integer();
    return -1;
  }
  std::int64_t ms = 0;
  if (v <= 0 || !expiry_ms(v, ex || exat, ex || px, now_ms, &ms)) {
    *reply = resp_out::error("ERR invalid expire time in '" + std::string(command) + "' command");
    return -1;
  }
  *ttl = (ex || px) ? ttl_seconds(ms, now_ms) : ttl_at(ms);  // absolute: past means expired
  return 2;
}

std::unique_ptr<command> make_data_command(const std::string& name,
                                           const std::vector<std::string_view>& args,
                                           client_state& st, const settings& cfg,
                                           std::int64_t now_ms, std::string* reply) {
  const bool resp3 = st.resp3;
  std::vector<request> reqs;
  const std::vector<std::string_view> rest(args.begin() + 1, args.end());
  if (name == "get") {
    if (args.size() != 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "mg " + k + " v\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    return single(std::move(reqs), [resp3](const std::vector<response>& rs) {
      return rs[0].what == code::va ? resp_out::bulk(rs[0].data) : resp_out::nil(resp3);
    });
  }
  if (name == "mget") {
    if (args.size() < 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "mg " + k + " v\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    return single(std::move(reqs), [resp3](const std::vector<response>& rs) {
      std::string out = resp_out::array_header(rs.size());
      for (const auto& r : rs)
        out += r.what == code::va ? resp_out::bulk(r.data) : resp_out::nil(resp3);
      return out;
    });
  }
  if (name == "del" || name == "unlink") {
    if (args.size() < 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "md " + k + "\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    return single(std::move(reqs), [](const std::vector<response>& rs) {
      return resp_out::integer(count(rs, code::hd));
    });
  }
  if (name == "exists" || name == "touch") {
    if (args.size() < 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "mg " + k + "\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    return single(std::move(reqs), [](const std::vector<response>& rs) {
      return resp_out::integer(count(rs, code::hd));
    });
  }
  if (name == "strlen") {
    if (args.size() != 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "mg " + k + " s\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    return single(std::move(reqs), [](const std::vector<response>& rs) {
      return resp_out::integer(rs[0].what == code::en ? 0 : rs[0].number('s').value_or(0));
    });
  }
  if (name == "ttl" || name == "pttl") {
    if (args.size() != 2) return *reply = wrong_arity(args[0]), nullptr;
    if (!per_key(
            rest, [](const std::string& k) { return "mg " + k + " t\r\n"; }, &reqs, reply)) {
      return nullptr;
    }
    const bool ms_unit = name == "pttl";
    return single(std::move(reqs), [ms_unit](const std::vector<response>& rs) {
      if (rs[0].what == code::en) return resp_out::integer(-2);
      const std::int64_t t = rs[0].number('t').value_or(-1);
      if (t < 0) return resp_out::integer(-1);
      if (!ms_unit) return resp_out::integer(t);
      return resp_out::integer(t > LLONG_MAX / 1000 ? LLONG_MAX : t * 1000);
    });
  }
  if (name == "expire" || name == "pexpire" || name == "expireat" || name == "pexpireat") {
    if (args.size() != 3) {
      *reply = args.size() > 3 ? resp_out::error(
                                     "ERR NX, XX, GT and LT are not supported by the "
                                     "memcached upstream")
                               : wrong_arity(args[0]);
      return nullptr;
    }
    long long v = 0;
    if (!to_int(args[2], &v)) return *reply = not_integer(), nullptr;
    std::int64_t ttl = 0;
    bool expired = false;
    const bool relative = name == "expire" || name == "pexpire";
    std::int64_t ms = 0;
    if (!expiry_ms(v, name == "expire" || name == "expireat", relative, now_ms, &ms)) {
      return *reply = resp_out::error("ERR invalid expire time in '" + name + "' command"), nullptr;
    }
    if (relative) {
      expired = ms <= 0;
      if (!expired) ttl = ttl_seconds(ms, now_ms);
    } else {
      expired = ms <= now_ms;
      ttl = ttl_at(ms);
    }
    std::string token;
    if (!encode_key(args[1], &token, reply)) return nullptr;
    // A time in the past deletes the key, as in Redis.
    reqs.push_back(
        {std::string(args[1]), false,
         expired ? "md " + token + "\r\n" : "mg " + token + " T" + std::to_string(ttl) + "\r\n"});
    return single(std::move(reqs), [](const std::vector<response>& rs) {
      return resp_out::integer(rs[0].what == code::hd ? 1 : 0);
    });
  }
  if (name == "getex") {
    if (args.size() < 2) return *reply = wrong_arity(args[0]), nullptr;
    std::string flags = "v";
    if (args.size() > 2) {
      std::int64_t ttl = 0;
      const int used = parse_expiry(args, 2, "getex", now_ms, &ttl, reply);
      if (used < 0) return nullptr;
      if (used == 2 && args.size() == 4) {
        flags += " T" + std::to_string(ttl);
      } else if (used == 0 && args.size() == 3 && iequals(args[2], "persist")) {
        flags += " T0";
      } else {
        return *reply = resp_out::error("ERR syntax error"), nullptr;
      }
    }
    std::string token;
    if (!encode_key(args[1], &token, reply)) return nullptr;
    reqs.push_back({std::string(args[1]), false, "mg " + token + " " + flags + "\r\n"});
    return single(std::move(reqs), [resp3](const std::vector<response>& rs) {
      return rs[0].what == code::va ? resp_out::bulk(rs[0].data) : resp_out::nil(resp3);
    });
  }
  if (name == "setex" || name == "psetex" || name == "setnx") {
    const bool nx = name == "setnx";
    if (args.size() != (nx ? 3u : 4u)) return *reply = wrong_arity(args[0]), nullptr;
    std::int64_t ttl = 0;
    if (!nx) {
      long long v = 0;
      if (!to_int(args[2], &v)) return *reply = not_integer(), nullptr;
      std::int64_t ms = 0;
      if (v <= 0 || !expiry_ms(v, name == "setex", true, now_ms, &ms)) {
        return *reply = resp_out::error("ERR invalid expire time in '" + name + "' command"),
               nullptr;
      }
      ttl = ttl_seconds(ms, now_ms);
    }
    std::string token;
    if (!encode_key(args[1], &token, reply)) return nullptr;
    reqs.push_back({std::string(args[1]), false,
                    ms(token, args.back(), nx ? "ME T0" : "T" + std::to_string(ttl))});
    return single(std::move(reqs), [nx](const std::vector<response>& rs) {
      if (nx) return resp_out::integer(rs[0].what == code::hd ? 1 : 0);
      return resp_out::simple("OK");
    });
  }
  if (name == "mset") {
    if (args.size() < 3 || args.size() % 2 == 0) return *reply = wrong_arity(args[0]), nullptr;
    for (std::size_t i = 1; i + 1 < args.size(); i += 2) {
      std::string token;
      if (!encode_key(args[i], &token, reply)) return nullptr;
      reqs.push_back({std::string(args[i]), false, ms(token, args[i + 1], "T0")});
    }
    return single(std::move(reqs),
                  [](const std::vector<response>&) { return resp_out::simple("OK"); });
  }
  if (name == "flushall" || name == "flushdb") {
    if (args.size() > 2 ||
        (args.size() == 2 && !iequals(args[1], "async") && !iequals(args[1], "sync"))) {
      return *reply = resp_out::error("ERR syntax error"), nullptr;
    }
    reqs.push_back({"", true, "flush_all\r\n"});
    return single(std::move(reqs),
                  [](const std::vector<response>&) { return resp_out::simple("OK"); });
  }
  (void)cfg;
  return nullptr;
}

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = {
      "get",       "mget",    "set",    "setex",  "psetex",   "setnx",      "mset",
      "getset",    "getdel",  "getex",  "del",    "unlink",   "exists",     "incr",
      "decr",      "incrby",  "decrby", "append", "expire",   "pexpire",    "expireat",
      "pexpireat", "persist", "ttl",    "pttl",   "touch",    "strlen",     "flushall",
      "flushdb",   "ping",    "echo",   "select", "quit",     "hello",      "client",
      "command",   "info",    "pget",   "pset",   "prelease", "pinvalidate"};
  return names;
}

std::unique_ptr<command> make_command(const std::string& name,
                                      const std::vector<std::string_view>& args, client_state& st,
                                      const settings& cfg, std::int64_t now_ms,
                                      std::string* reply) {
  if (auto c = make_data_command(name, args, st, cfg, now_ms, reply); c || !reply->empty()) {
    return c;
  }
  if (auto c = make_rmw_command(name, args, st, cfg, now_ms, reply); c || !reply->empty()) {
    return c;
  }
  return make_pget_command(name, args, st, cfg, now_ms, reply);
}

}  // namespace puppy::memcached
