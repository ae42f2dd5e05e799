// Talking to Redis Sentinel about the primary, on bytes (hiredis's reader parses the replies).
#include "puppy/upstream/sentinel.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "puppy/resp/encode.hpp"

namespace puppy::upstream::sentinel {
namespace {

using reply_ptr = std::unique_ptr<redisReply, void (*)(void*)>;

// One whole reply parsed, or null (incomplete or not RESP).
reply_ptr parse(std::string_view bytes) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
  void* raw = nullptr;
  if (redisReaderFeed(reader.get(), bytes.data(), bytes.size()) != REDIS_OK ||
      redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
    if (raw != nullptr) freeReplyObject(raw);
    raw = nullptr;
  }
  return reply_ptr(static_cast<redisReply*>(raw), freeReplyObject);
}

bool is_text(const redisReply* r) {
  return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

std::string_view text(const redisReply* r) {
  return std::string_view(r->str, r->len);
}

std::optional<std::uint16_t> port_of(std::string_view s) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// Whether a comma-separated flags field ("s_down,sentinel") holds one of `wanted`.
bool has_flag(std::string_view flags, std::initializer_list<std::string_view> wanted) {
  for (std::size_t at = 0; at <= flags.size();) {
    const auto comma = std::min(flags.find(',', at), flags.size());
    const auto flag = flags.substr(at, comma - at);
    for (const auto w : wanted) {
      if (flag == w) return true;
    }
    at = comma + 1;
  }
  return false;
}

std::string command(std::initializer_list<std::string_view> args) {
  std::string out = resp::encode::array_header(args.size());
  for (const auto a : args) resp::encode::append_bulk(&out, a);
  return out;
}

}  // namespace

std::string ask_primary(std::string_view master_name) {
  return command({"SENTINEL", "get-master-addr-by-name", master_name});
}

std::string ask_role() {
  return command({"ROLE"});
}

std::string subscribe_switches() {
  return command({"SUBSCRIBE", "+switch-master"});
}

std::string ask_sentinels(std::string_view master_name) {
  return command({"SENTINEL", "sentinels", master_name});
}

primary_answer parse_primary(std::string_view reply) {
  const auto r = parse(reply);
  if (!r) return {std::nullopt, "malformed reply"};
  if (r->type == REDIS_REPLY_ERROR) return {std::nullopt, std::string(text(r.get()))};
  if (r->type == REDIS_REPLY_NIL) return {std::nullopt, "unknown master"};
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_text(r->element[0]) ||
      !is_text(r->element[1])) {
    return {std::nullopt, "malformed reply"};
  }
  const auto port = port_of(text(r->element[1]));
  if (!port || r->element[0]->len == 0) return {std::nullopt, "malformed reply"};
  return {host_port{std::string(text(r->element[0])), *port}, {}};
}

std::string parse_role(std::string_view reply) {
  const auto r = parse(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0 || !is_text(r->element[0])) return {};
  return std::string(text(r->element[0]));
}

std::optional<host_port> parse_switch(std::string_view payload, std::string_view master_name) {
  // <name> <old ip> <old port> <new ip> <new port>
  std::string_view parts[5];
  std::size_t n = 0;
  for (std::size_t at = 0;;) {
    if (n == 5) return std::nullopt;  // more than five
    const auto space = payload.find(' ', at);
    parts[n++] = payload.substr(at, space == std::string_view::npos ? space : space - at);
    if (space == std::string_view::npos) break;
    at = space + 1;
  }
  if (n != 5 || parts[0] != master_name || parts[3].empty()) return std::nullopt;
  const auto port = port_of(parts[4]);
  if (!port) return std::nullopt;
  return host_port{std::string(parts[3]), *port};
}

std::vector<host_port> parse_sentinels(std::string_view reply) {
  std::vector<host_port> out;
  const auto r = parse(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* entry = r->element[i];
    if (entry->type != REDIS_REPLY_ARRAY) continue;
    std::string_view ip;
    std::optional<std::uint16_t> port;
    bool down = false;
    for (std::size_t f = 0; f + 1 < entry->elements; f += 2) {
      const redisReply* name = entry->element[f];
      const redisReply* value = entry->element[f + 1];
      if (!is_text(name) || !is_text(value)) continue;
      if (text(name) == "ip") ip = text(value);
      if (text(name) == "port") port = port_of(text(value));
      if (text(name) == "flags") down = has_flag(text(value), {"s_down", "o_down", "disconnected"});
    }
    if (!ip.empty() && port && !down) out.push_back(host_port{std::string(ip), *port});
  }
  return out;
}

std::size_t add_sentinels(std::vector<host_port>* known, const std::vector<host_port>& found,
                          std::size_t limit) {
  std::size_t added = 0;
  for (const auto& f : found) {
    if (known->size() >= limit) break;
    const bool held = std::any_of(known->begin(), known->end(), [&](const host_port& k) {
      return k.host == f.host && k.port == f.port;
    });
    if (held) continue;
    known->push_back(f);
    ++added;
  }
  return added;
}

std::optional<message> parse_message(std::string_view reply) {
  const auto r = parse(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3 || !is_text(r->element[0]) ||
      text(r->element[0]) != "message" || !is_text(r->element[1]) || !is_text(r->element[2])) {
    return std::nullopt;
  }
  return message{std::string(text(r->element[1])), std::string(text(r->element[2]))};
}

}  // namespace puppy::upstream::sentinel
