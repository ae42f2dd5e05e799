#include "puppy/pget/script.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "puppy/resp/encode.hpp"

namespace puppy::pget {
namespace {

using resp::encode::append_bulk;

// Mirrors decision.cpp. Status values: current:<compute_ms>:<fresh_until_ms> (also current and
// current:<compute_ms>), lease:<token>:<granted_ms>:<compute_ms>:<fresh_until_ms>,
// backoff:<compute_ms>.
constexpr const char* body = R"LUA(-- puppy-proxy PGET family (see docs/pget.md)
local function split(s)
  local parts = {}
  for part in string.gmatch(s, '[^:]+') do parts[#parts + 1] = part end
  return parts
end
local function wake(channel, key)  -- 'shard:<name>': a shard channel of the key's slot (a cluster)
  if string.sub(channel, 1, 6) == 'shard:' then
    redis.call('SPUBLISH', string.sub(channel, 7), key)
  else
    redis.call('PUBLISH', channel, key)
  end
end
local function count(s)  -- a non-negative integer written plainly, or nil
  if s and #s <= 18 and string.match(s, '^%d+$') and (#s == 1 or string.sub(s, 1, 1) ~= '0') then
    return tonumber(s)
  end
  return nil
end
local function status_of(st)
  if not st then return {'none'} end
  local p = split(st)
  if p[1] == 'current' and (#p == 1 or (#p == 2 and count(p[2])) or
                            (#p == 3 and count(p[2]) and count(p[3]))) then
    return {'current', count(p[2]) or 0}
  end
  if p[1] == 'backoff' and #p == 2 and count(p[2]) then
    return {p[1], count(p[2])}
  end
  if p[1] == 'lease' and #p == 5 and count(p[3]) and count(p[4]) and count(p[5]) then
    return {p[1], p[2], count(p[3]), count(p[4]), count(p[5])}
  end
  return {'unknown'}
end
local op = ARGV[1]
if op == 'get' then
  local update, token, xf, now = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])
  local st = status_of(redis.call('GET', KEYS[2]))
  local value = redis.call('GET', KEYS[1])
  local has = 1
  if not value then has, value = 0, '' end
  local function lease(compute, fresh_until)
    redis.call('SET', KEYS[2], 'lease:' .. token .. ':' .. now .. ':' .. compute .. ':' ..
               fresh_until, 'EX', update)
    return {'lease', has, value, token, -1}
  end
  if st[1] == 'none' then return lease(0, 0) end
  if st[1] == 'current' then
    if has == 0 then return lease(st[2], 0) end
    if xf ~= '' then
      local pttl = redis.call('PTTL', KEYS[2])
      if pttl > 0 and st[2] * tonumber(xf) >= pttl then
        return lease(st[2], now + pttl)
      end
    end
    return {'fresh', 1, value, '', -1}
  end
  if st[1] == 'lease' and has == 1 and now < st[5] then
    return {'fresh', 1, value, '', -1}
  end
  local pttl = redis.call('PTTL', KEYS[2])
  -- A foreign status (the seed's 'updating'): its end is never published, so look again soon.
  if st[1] == 'unknown' and (pttl < 0 or pttl > 100) then pttl = 100 end
  if has == 1 then return {'stale', 1, value, '', pttl} end
  return {'miss', 0, '', '', pttl}
elseif op == 'set' or op == 'release' then
  local st = status_of(redis.call('GET', KEYS[2]))
  if st[1] ~= 'lease' or st[2] ~= ARGV[2] then return 0 end
  if op == 'set' then
    local compute = tonumber(ARGV[7]) - st[3]
    if compute < 0 then compute = 0 end
    local timeout, update = tonumber(ARGV[4]), tonumber(ARGV[5])
    redis.call('SET', KEYS[1], ARGV[3], 'EX', timeout + 2 * update)
    redis.call('SET', KEYS[2], 'current:' .. compute .. ':' .. (tonumber(ARGV[7]) + timeout * 1000),
               'EX', timeout)
    wake(ARGV[6], KEYS[1])
  else
    local backoff = tonumber(ARGV[3])
    if backoff > 0 then
      redis.call('SET', KEYS[2], 'backoff:' .. st[4], 'EX', backoff)
    else
      redis.call('DEL', KEYS[2])
    end
    wake(ARGV[4], KEYS[1])
  end
  return 1
elseif op == 'heal' then
  -- The fast path found a current status without its value (evicted): drop the status, so that
  -- the next reader gets the lease instead of a miss until the status expires.
  local st = status_of(redis.call('GET', KEYS[2]))
  if st[1] == 'current' and redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
    return 1
  end
  return 0
elseif op == 'invalidate' then
  local existed = redis.call('EXISTS', KEYS[1])
  if redis.call('DEL', KEYS[2]) == 1 then wake(ARGV[2], KEYS[1]) end
  return existed
end
return redis.error_reply('ERR unknown puppy-proxy script operation')
)LUA";

// SHA-1 (FIPS 180-4), small and only for naming the script.
std::array<std::uint32_t, 5> sha1(std::string_view data) {
  std::array<std::uint32_t, 5> h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::vector<unsigned char> msg(data.begin(), data.end());
  const std::uint64_t bits = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(static_cast<unsigned char>(bits >> (i * 8)));
  const auto rol = [](std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); };
  for (std::size_t chunk = 0; chunk < msg.size(); chunk += 64) {
    std::uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = static_cast<std::uint32_t>(msg[chunk + 4 * i]) << 24 |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 1]) << 16 |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 2]) << 8 |
             static_cast<std::uint32_t>(msg[chunk + 4 * i + 3]);
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  return h;
}

}  // namespace

std::string sha1_hex(std::string_view data) {
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (std::uint32_t word : sha1(data)) {
    for (int shift = 28; shift >= 0; shift -= 4) hex.push_back(digits[(word >> shift) & 0xF]);
  }
  return hex;
}

const std::string& script_body() {
  static const std::string b = body;
  return b;
}

const std::string& script_sha1() {
  static const std::string s = sha1_hex(script_body());
  return s;
}

void encode_fast_get(const request& r, std::string_view status_key, std::string_view token,
                     std::int64_t now_ms, std::string* out, std::size_t* get_at) {
  // Built with as few appends as possible: this runs for every PGET.
  char num[24];
  const auto text = [&num](std::int64_t v) {
    const auto end = std::to_chars(num, num + sizeof num, v).ptr;
    return std::string_view(num, static_cast<std::size_t>(end - num));
  };
  const std::string now(text(now_ms));
  const std::size_t lease_len = 6 + token.size() + 1 + now.size() + 4;  // lease:T:N:0:0
  out->reserve(out->size() + 96 + status_key.size() + lease_len + r.key.size());
  out->append("*7\r\n$3\r\nSET\r\n");
  append_bulk(out, status_key);
  out->push_back('$');
  out->append(text(static_cast<std::int64_t>(lease_len)));
  out->append("\r\nlease:");
  out->append(token);
  out->push_back(':');
  out->append(now);
  out->append(":0:0\r\n$2\r\nNX\r\n$3\r\nGET\r\n$2\r\nEX\r\n");
  append_bulk(out, text(r.update_time));
  if (get_at != nullptr) *get_at = out->size();
  out->append("*2\r\n$3\r\nGET\r\n");
  append_bulk(out, r.key);
}

void encode_read(std::string_view key, std::string_view status_key, std::string* out) {
  // Built on the stack and appended at once: every PGET sends this.
  constexpr std::string_view head = "*3\r\n$4\r\nMGET\r\n";
  constexpr std::size_t small = 512;
  if (head.size() + key.size() + status_key.size() + 2 * 24 > small) {
    out->append(head.data(), head.size());
    append_bulk(out, key);
    append_bulk(out, status_key);
    return;
  }
  char buf[small];
  std::memcpy(buf, head.data(), head.size());
  char* p = buf + head.size();
  for (const std::string_view s : {key, status_key}) {
    *p++ = '$';
    p = std::to_chars(p, p + 20, s.size()).ptr;
    *p++ = '\r';
    *p++ = '\n';
    std::memcpy(p, s.data(), s.size());
    p += s.size();
    *p++ = '\r';
    *p++ = '\n';
  }
  out->append(buf, static_cast<std::size_t>(p - buf));
}

void encode_heal(std::string_view key, std::string_view status_key, std::string* out) {
  out->append("*6\r\n");
  append_bulk(out, "EVALSHA");
  append_bulk(out, script_sha1());
  append_bulk(out, "2");
  append_bulk(out, key);
  append_bulk(out, status_key);
  append_bulk(out, "heal");
}

void encode_load(std::string* out) {
  out->append("*3\r\n");
  append_bulk(out, "SCRIPT");
  append_bulk(out, "LOAD");
  append_bulk(out, script_body());
}

void encode_call(const request& r, std::string_view status_key, std::string_view new_token,
                 std::string_view xfetch_factor, std::string_view channel, std::int64_t now_ms,
                 bool with_body, std::string* out) {
  std::vector<std::string_view> argv;
  std::string t1, t2, t3;
  const std::string now = std::to_string(now_ms);
  switch (r.kind) {
    case op::get:
      t1 = std::to_string(r.timeout);
      t2 = std::to_string(r.update_time);
      argv = {"get", t1, t2, new_token, xfetch_factor, now};
      break;
    case op::set:
      t1 = std::to_string(r.timeout);
      t2 = std::to_string(r.update_time);
      argv = {"set", r.token, r.value, t1, t2, channel, now};
      break;
    case op::release:
      t3 = std::to_string(r.backoff);
      argv = {"release", r.token, t3, channel};
      break;
    case op::invalidate:
      argv = {"invalidate", channel};
      break;
  }
  out->push_back('*');
  out->append(std::to_string(5 + argv.size()));
  out->append("\r\n");
  append_bulk(out, with_body ? "EVAL" : "EVALSHA");
  append_bulk(out, with_body ? std::string_view(script_body()) : std::string_view(script_sha1()));
  append_bulk(out, "2");
  append_bulk(out, r.key);
  append_bulk(out, status_key);
  for (const auto& a : argv) append_bulk(out, a);
}

}  // namespace puppy::pget
