// Translation of Redis commands for a memcached upstream: helpers, the commands answered without
// a server, and the dispatch table. The commands themselves: translate_data.cpp (one round),
// translate_rmw.cpp (read-modify-write with CAS), translate_pget.cpp (the PGET family).
#include "puppy/memcached/translate.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <functional>
#include <unordered_map>

#include "puppy/resp/ascii.hpp"
#include "translate_commands.hpp"

namespace puppy::memcached {

using resp::lower;

namespace {

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                       static_cast<unsigned char>(in[i + 1]) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v =
        static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

bool encode_key(std::string_view key, std::string* out, std::string* error_reply) {
  if (key.empty()) {
    *error_reply = resp_out::error("ERR empty keys are not supported by the memcached upstream");
    return false;
  }
  if (key.size() > max_key_len) {
    *error_reply = resp_out::error(
        "ERR keys longer than 250 bytes are not supported by the memcached upstream");
    return false;
  }
  const bool plain = std::all_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (plain) {
    out->assign(key);
  } else {
    *out = base64(key) + " b";  // the meta protocol's binary keys
  }
  return true;
}

namespace {
std::int64_t ceil_seconds(std::int64_t ms) {
  return ms / 1000 + (ms % 1000 > 0 ? 1 : 0);
}
}  // namespace

std::int64_t ttl_seconds(std::int64_t ms_from_now, std::int64_t now_ms) {
  const std::int64_t seconds = ceil_seconds(ms_from_now);
  if (seconds <= max_relative_ttl) return seconds;
  const std::int64_t now = ceil_seconds(now_ms);
  return seconds > max_absolute_ttl - now ? max_absolute_ttl : now + seconds;
}

std::int64_t ttl_at(std::int64_t at_ms) {
  return std::clamp(ceil_seconds(at_ms), max_relative_ttl + 1, max_absolute_ttl);
}

bool expiry_ms(long long v, bool seconds, bool relative, std::int64_t now_ms, std::int64_t* ms) {
  // As Redis 7.0's expireGenericCommand / getExpireMillisecondsOrReply.
  if (seconds && (v > LLONG_MAX / 1000 || v < LLONG_MIN / 1000)) return false;
  const std::int64_t value = seconds ? v * 1000 : v;
  if (relative && value > 0 && value > LLONG_MAX - now_ms) return false;
  *ms = value;
  return true;
}

bool is_error(const response& r) {
  return r.what == code::error || r.what == code::client_error || r.what == code::server_error ||
         r.what == code::unavailable;
}

std::string error_for(const response& r) {
  switch (r.what) {
    case code::unavailable:
      return resp_out::error("ERR upstream unavailable (memcached " + std::string(r.flags) + ")");
    case code::server_error:
      if (r.flags.find("too large") != std::string_view::npos) {
        return resp_out::error(
            "ERR value too large for the memcached upstream (its item size limit)");
      }
      if (r.flags.find("out of memory") != std::string_view::npos) {
        return resp_out::error("OOM the memcached upstream is out of memory");
      }
      return resp_out::error("ERR memcached: " + std::string(r.flags));
    case code::client_error:
      return resp_out::error("ERR memcached refused the request: " + std::string(r.flags));
    case code::error:
      return resp_out::error("ERR memcached refused the request");
    default:
      return resp_out::error("ERR unexpected memcached response");
  }
}

std::string wrong_arity(std::string_view name) {
  return resp_out::error("ERR wrong number of arguments for '" + lower(name) + "' command");
}

namespace {

std::string client(const std::vector<std::string_view>& args, client_state& st) {
  if (args.size() < 2) return wrong_arity(args[0]);
  if (auto r = resp::answer_client(args, st)) return *r;
  return resp_out::error("ERR unsupported command 'CLIENT " + std::string(args[1]) +
                         "' for a memcached upstream");
}

std::string info(const settings& cfg) {
  std::string text =
      "# "
      "Server\r\nredis_version:7.0.0\r\nredis_mode:standalone\r\npuppy_proxy_version:" PUPPY_VERSION
      "\r\nupstream:memcached\r\nmemcached_servers:" +
      std::to_string(cfg.servers) +
      "\r\n\r\n# Persistence\r\nloading:0\r\n\r\n# Replication\r\n"
      "role:master\r\n";
  return resp_out::bulk(text);
}

std::string command_cmd(const std::vector<std::string_view>& args, const client_state& st) {
  if (args.size() == 1) return resp_out::array_header(0);
  const std::string sub = lower(args[1]);
  if (sub == "count") return resp_out::integer(static_cast<std::int64_t>(command_names().size()));
  if (sub == "docs") return st.resp3 ? "%0\r\n" : resp_out::array_header(0);
  if (sub == "info") {
    std::string out = resp_out::array_header(args.size() - 2);
    for (std::size_t i = 2; i < args.size(); ++i) out += resp_out::nil(st.resp3);
    return out;
  }
  if (sub == "list") {
    std::string out = resp_out::array_header(command_names().size());
    for (const auto& n : command_names()) out += resp_out::bulk(n);
    return out;
  }
  return resp_out::error("ERR unsupported command 'COMMAND " + std::string(args[1]) +
                         "' for a memcached upstream");
}

}  // namespace

std::unique_ptr<command> translate(const std::vector<std::string_view>& args, client_state& st,
                                   const settings& cfg, std::int64_t now_ms, std::string* reply) {
  const std::string name = lower(args[0]);
  if (name == "ping") {
    if (args.size() > 2) {
      *reply = wrong_arity(args[0]);
    } else {
      *reply = args.size() == 2 ? resp_out::bulk(args[1]) : resp_out::simple("PONG");
    }
    return nullptr;
  }
  if (name == "echo") {
    *reply = args.size() == 2 ? resp_out::bulk(args[1]) : wrong_arity(args[0]);
    return nullptr;
  }
  if (name == "select") {
    if (args.size() != 2) {
      *reply = wrong_arity(args[0]);
    } else if (args[1] == "0") {
      *reply = resp_out::simple("OK");
    } else if (std::all_of(args[1].begin(), args[1].end(), ::isdigit) && !args[1].empty()) {
      *reply = resp_out::error("ERR DB index is out of range");
    } else {
      *reply = resp_out::error("ERR value is not an integer or out of range");
    }
    return nullptr;
  }
  if (name == "quit") {
    st.quit = true;
    *reply = resp_out::simple("OK");
    return nullptr;
  }
  if (name == "hello") {
    *reply = resp::answer_hello(args, st, "standalone");
    return nullptr;
  }
  if (name == "client") {
    *reply = client(args, st);
    return nullptr;
  }
  if (name == "info") {
    *reply = info(cfg);
    return nullptr;
  }
  if (name == "command") {
    *reply = command_cmd(args, st);
    return nullptr;
  }
  auto made = make_command(name, args, st, cfg, now_ms, reply);
  if (!made && reply->empty()) {
    *reply = resp_out::error("ERR unsupported command '" + std::string(args[0]) +
                             "' for a memcached upstream");
  }
  return made;
}

}  // namespace puppy::memcached
