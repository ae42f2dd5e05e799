#include "puppy/pget/reply.hpp"

#include <charconv>
#include <cstring>

#include "puppy/resp/number.hpp"

namespace puppy::pget {
namespace {

// A minimal reader for the shapes the script returns: an array of bulk strings and integers,
// an integer, or an error (simple, or RESP3 blob error).
struct reader {
  std::string_view in;
  std::size_t pos = 0;

  bool line(std::string_view* out) {
    const auto cr = in.find("\r\n", pos);
    if (cr == std::string_view::npos) return false;
    *out = in.substr(pos, cr - pos);
    pos = cr + 2;
    return true;
  }
  // The number after `type` up to its CRLF (lengths and integers: a few digits, scanned
  // directly rather than searched for).
  bool number_line(char type, long long* v) {
    const std::size_t n = in.size();
    if (pos >= n || in[pos] != type) return false;
    std::size_t end = pos + 1;
    while (end < n && in[end] != '\r') ++end;
    if (end + 1 >= n || in[end + 1] != '\n') return false;
    if (!resp::string_to_ll(in.data() + pos + 1, end - pos - 1, v)) return false;
    pos = end + 2;
    return true;
  }
  bool integer(long long* v) { return number_line(':', v); }
  bool blob(char type, std::string_view* out) {
    long long len = 0;
    if (!number_line(type, &len) || len < 0) return false;
    const auto n = static_cast<std::size_t>(len);
    if (n + 2 > in.size() - pos || in[pos + n] != '\r' || in[pos + n + 1] != '\n') return false;
    *out = std::string_view(in.data() + pos, n);
    pos += n + 2;
    return true;
  }
  bool bulk(std::string_view* out) { return blob('$', out); }
  // A bulk string or a nil ($-1, or RESP3's _).
  bool bulk_or_nil(std::optional<std::string_view>* out) {
    const char* p = in.data() + pos;
    const std::size_t left = in.size() - pos;
    if (left >= 3 &&
        ((p[0] == '$' && p[1] == '-' && left >= 5 && p[2] == '1' && p[3] == '\r' && p[4] == '\n') ||
         (p[0] == '_' && p[1] == '\r' && p[2] == '\n'))) {
      pos += p[0] == '_' ? 3 : 5;
      *out = std::nullopt;
      return true;
    }
    std::string_view s;
    if (!bulk(&s)) return false;
    *out = s;
    return true;
  }
};

reply_kind check_error(std::string_view bytes, std::string* error) {
  if (bytes.empty()) return reply_kind::malformed;
  std::string_view text;
  if (bytes[0] == '-') {
    reader r{bytes, 1};
    if (!r.line(&text)) return reply_kind::malformed;
  } else if (bytes[0] == '!') {
    reader r{bytes};
    if (!r.blob('!', &text)) return reply_kind::malformed;
  } else {
    return reply_kind::ok;
  }
  *error = std::string(text);
  return text.rfind("NOSCRIPT", 0) == 0 ? reply_kind::noscript : reply_kind::error;
}

}  // namespace

reply_kind parse_get_reply(std::string_view bytes, get_reply* out, std::string* error) {
  if (const auto k = check_error(bytes, error); k != reply_kind::ok) return k;
  reader r{bytes};
  long long count = 0, has = 0, retry = 0;
  std::string_view name;
  if (!r.number_line('*', &count) || count != 5 || !r.bulk(&name) || !r.integer(&has) ||
      !r.bulk(&out->value) || !r.bulk(&out->token) || !r.integer(&retry) || r.pos != bytes.size() ||
      (has != 0 && has != 1)) {
    return reply_kind::malformed;
  }
  if (name == "fresh") {
    out->answer = state::fresh;
  } else if (name == "stale") {
    out->answer = state::stale;
  } else if (name == "lease") {
    out->answer = state::lease;
  } else if (name == "miss") {
    out->answer = state::miss;
  } else {
    return reply_kind::malformed;
  }
  out->has_value = has == 1;
  out->retry_after_ms = retry;
  return reply_kind::ok;
}

reply_kind parse_int_reply(std::string_view bytes, std::int64_t* out, std::string* error) {
  if (const auto k = check_error(bytes, error); k != reply_kind::ok) return k;
  reader r{bytes};
  long long v = 0;
  if (!r.integer(&v) || r.pos != bytes.size()) return reply_kind::malformed;
  *out = v;
  return reply_kind::ok;
}

reply_kind parse_bulk_reply(std::string_view bytes, std::optional<std::string_view>* out,
                            std::string* error) {
  if (const auto k = check_error(bytes, error); k != reply_kind::ok) return k;
  reader r{bytes};
  if (!r.bulk_or_nil(out) || r.pos != bytes.size()) return reply_kind::malformed;
  return reply_kind::ok;
}

reply_kind parse_pair_reply(std::string_view bytes, std::optional<std::string_view>* first,
                            std::optional<std::string_view>* second, std::string* error) {
  if (const auto k = check_error(bytes, error); k != reply_kind::ok) return k;
  reader r{bytes};
  long long count = 0;
  if (!r.number_line('*', &count) || count != 2 || !r.bulk_or_nil(first) ||
      !r.bulk_or_nil(second) || r.pos != bytes.size()) {
    return reply_kind::malformed;
  }
  return reply_kind::ok;
}

void encode_pget_reply(state s, const std::string_view* value, const std::string_view* token,
                       std::string* out) {
  // One resize and straight copies: this is a near-cache hit's whole reply.
  const std::string_view name = state_name(s);  // 4 or 5 bytes: a one-digit length
  const std::string_view* parts[2] = {value, token};
  char heads[2][24];  // "$<length>\r\n"
  std::size_t head_len[2] = {0, 0};
  std::size_t total = 10 + name.size();  // "*3\r\n$N\r\n" name "\r\n"
  for (int i = 0; i < 2; ++i) {
    if (parts[i] == nullptr) {
      total += 5;  // "$-1\r\n"
      continue;
    }
    heads[i][0] = '$';
    char* end = std::to_chars(heads[i] + 1, heads[i] + 22, parts[i]->size()).ptr;
    end[0] = '\r';
    end[1] = '\n';
    head_len[i] = static_cast<std::size_t>(end + 2 - heads[i]);
    total += head_len[i] + parts[i]->size() + 2;
  }
  // Small replies are built on the stack and appended at once (a resize would zero-fill).
  constexpr std::size_t small = 256;
  char buf[small];
  char* p = buf;
  if (total > small) {
    const std::size_t at = out->size();
    out->resize(at + total);
    p = out->data() + at;
  }
  const auto put = [&p](const char* data, std::size_t n) {
    std::memcpy(p, data, n);
    p += n;
  };
  put("*3\r\n$", 5);
  *p++ = static_cast<char>('0' + name.size());
  put("\r\n", 2);
  put(name.data(), name.size());
  put("\r\n", 2);
  for (int i = 0; i < 2; ++i) {
    if (parts[i] == nullptr) {
      put("$-1\r\n", 5);
      continue;
    }
    put(heads[i], head_len[i]);
    put(parts[i]->data(), parts[i]->size());
    put("\r\n", 2);
  }
  if (total <= small) out->append(buf, total);
}

std::optional<state> pget_reply_state(std::string_view reply) {
  constexpr std::string_view head = "*3\r\n$";
  if (reply.substr(0, head.size()) != head) return std::nullopt;
  for (const state s : {state::fresh, state::stale, state::lease, state::miss}) {
    const std::string_view name = state_name(s);
    // "$<len>\r\n<name>\r\n" with a one-digit length.
    const std::string_view rest = reply.substr(head.size());
    if (rest.size() >= name.size() + 5 && rest[0] == static_cast<char>('0' + name.size()) &&
        rest.substr(3, name.size()) == name) {
      return s;
    }
  }
  return std::nullopt;
}

}  // namespace puppy::pget
