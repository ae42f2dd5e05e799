#include "puppy/pget/decision.hpp"

#include <cstring>
#include <vector>

namespace puppy::pget {
namespace {

// The non-empty parts of a status value between ':'s, without allocating: the first
// max_parts are kept, size() counts them all (no status form has more than 5).
struct status_parts {
  static constexpr std::size_t max_parts = 5;
  std::string_view part[max_parts];
  std::size_t count = 0;
  std::size_t size() const { return count; }
  bool empty() const { return count == 0; }
  std::string_view operator[](std::size_t i) const { return part[i]; }
};

status_parts split(std::string_view s) {
  status_parts parts;
  const std::size_t n = s.size();
  std::size_t start = 0;
  for (std::size_t i = 0; i <= n; ++i) {
    if (i < n && s[i] != ':') continue;
    if (i > start) {
      if (parts.count < status_parts::max_parts) {
        parts.part[parts.count] = std::string_view(s.data() + start, i - start);
      }
      ++parts.count;
    }
    start = i + 1;
  }
  return parts;
}

// A non-negative integer of at most 18 digits (no overflow), written plainly: no sign, no
// leading zero (as the script also requires).
bool number(std::string_view s, std::int64_t* out) {
  if (s.empty() || s.size() > 18 || (s[0] == '0' && s.size() > 1)) return false;
  std::int64_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

// Eight ASCII digits at `p` as a number, if they are all digits: a few multiplications instead
// of eight steps of a loop (a status's deadline, in ms, has 13 digits). SWAR on the little-endian
// machines we build for.
bool eight_digits(const char* p, std::uint64_t* out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr std::uint64_t zeros = 0x3030303030303030ull;
  constexpr std::uint64_t high = 0xF0F0F0F0F0F0F0F0ull;
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  // Every byte in '0'..'9': its high half is 3, and still 3 with 6 added.
  if ((v & high) != zeros || ((v + 0x0606060606060606ull) & high) != zeros) return false;
  v -= zeros;             // byte i: digit i (the first digit in the lowest byte)
  v = v * 10 + (v >> 8);  // bytes 0, 2, 4, 6: two digits each
  v = ((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32)) +
       ((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32))) >>
      32;
  *out = v;
  return true;
#else
  (void)p;
  (void)out;
  return false;
#endif
}

// Exactly "current:C:F" with two plain numbers, in one pass; anything else (other forms, the
// seed's "current", stray colons) is left to the general parser below, which gives the same
// answer for this form.
bool parse_current(std::string_view s, status* st) {
  constexpr std::string_view head = "current:";
  if (s.size() <= head.size() || s.compare(0, head.size(), head) != 0) return false;
  const char* p = s.data() + head.size();
  const char* const end = s.data() + s.size();
  std::int64_t v[2] = {0, 0};
  for (int field = 0; field < 2; ++field) {
    const char* const start = p;
    std::uint64_t x = 0;  // (wraps past 19 digits, which are refused below)
    for (std::uint64_t eight = 0; end - p >= 8 && eight_digits(p, &eight); p += 8) {
      x = x * 100'000'000 + eight;
    }
    for (; p != end && static_cast<unsigned char>(*p - '0') < 10; ++p) x = x * 10 + (*p - '0');
    const auto digits = p - start;
    if (digits == 0 || digits > 18 || (*start == '0' && digits > 1)) return false;
    v[field] = static_cast<std::int64_t>(x);
    if (field == 0 && (p == end || *p++ != ':')) return false;
  }
  if (p != end) return false;
  st->what = status::kind::current;
  st->compute_ms = v[0];
  st->fresh_until_ms = v[1];
  return true;
}

}  // namespace

const char* state_name(state s) {
  switch (s) {
    case state::fresh:
      return "fresh";
    case state::stale:
      return "stale";
    case state::lease:
      return "lease";
    case state::miss:
      return "miss";
  }
  return "miss";
}

status parse_status(std::optional<std::string_view> text) {
  status st;
  if (!text) return st;
  if (parse_current(*text, &st)) return st;  // the hot path: what every fresh hit reads
  // Anything not exactly one of our forms (numbers included) is unknown: a lease held by
  // someone else, e.g. another writer's marker.
  const auto p = split(*text);
  st.what = status::kind::unknown;
  if (!p.empty() && p[0] == "current" &&
      (p.size() == 1 || (p.size() == 2 && number(p[1], &st.compute_ms)) ||
       (p.size() == 3 && number(p[1], &st.compute_ms) && number(p[2], &st.fresh_until_ms)))) {
    st.what = status::kind::current;
  } else if (p.size() == 5 && p[0] == "lease" && number(p[2], &st.granted_ms) &&
             number(p[3], &st.compute_ms) && number(p[4], &st.fresh_until_ms)) {
    st.what = status::kind::lease;
    st.token = std::string(p[1]);
  } else if (p.size() == 2 && p[0] == "backoff" && number(p[1], &st.compute_ms)) {
    st.what = status::kind::backoff;
  }
  if (st.what == status::kind::unknown) {
    st = status{};
    st.what = status::kind::unknown;
  }
  return st;
}

std::string format_current(std::int64_t compute_ms, std::int64_t fresh_until_ms) {
  return "current:" + std::to_string(compute_ms) + ":" + std::to_string(fresh_until_ms);
}

std::string format_lease(std::string_view token, std::int64_t granted_ms, std::int64_t compute_ms,
                         std::int64_t fresh_until_ms) {
  return "lease:" + std::string(token) + ":" + std::to_string(granted_ms) + ":" +
         std::to_string(compute_ms) + ":" + std::to_string(fresh_until_ms);
}

std::string format_backoff(std::int64_t compute_ms) {
  return "backoff:" + std::to_string(compute_ms);
}

get_decision decide_get(const status& st, std::int64_t status_pttl_ms, bool has_value,
                        std::int64_t now_ms, std::string_view new_token, double xfetch_factor) {
  get_decision d;
  const auto lease = [&](std::int64_t compute_ms, std::int64_t fresh_until) {
    d.answer = state::lease;
    d.take_lease = true;
    d.new_status = format_lease(new_token, now_ms, compute_ms, fresh_until);
    return d;
  };
  switch (st.what) {
    case status::kind::none:
      return lease(0, 0);
    case status::kind::current:
      if (!has_value) return lease(st.compute_ms, 0);  // status without data: no busy loop
      if (xfetch_factor > 0 && status_pttl_ms > 0 &&
          static_cast<double>(st.compute_ms) * xfetch_factor >=
              static_cast<double>(status_pttl_ms)) {
        return lease(st.compute_ms, now_ms + status_pttl_ms);  // early refresh (XFetch)
      }
      d.answer = state::fresh;
      return d;
    case status::kind::lease:
      if (has_value && now_ms < st.fresh_until_ms) {
        d.answer = state::fresh;
        return d;
      }
      [[fallthrough]];
    case status::kind::backoff:
      d.answer = has_value ? state::stale : state::miss;
      d.retry_after_ms = status_pttl_ms;
      return d;
    case status::kind::unknown:
      d.answer = has_value ? state::stale : state::miss;
      d.retry_after_ms = status_pttl_ms < 0 || status_pttl_ms > foreign_lease_poll_ms
                             ? foreign_lease_poll_ms
                             : status_pttl_ms;
      return d;
  }
  return d;
}

read_decision decide_read(const status& st, bool has_value, std::int64_t now_ms,
                          double xfetch_factor) {
  read_decision d;
  const auto answer = [&d](state s) {
    d.answer = s;
    return d;
  };
  switch (st.what) {
    case status::kind::none:
      d.next = read_next::take_lease;
      return d;
    case status::kind::current:
      if (!has_value) {
        d.next = read_next::heal;
        return answer(state::miss);
      }
      if (xfetch_factor > 0 && st.compute_ms > 0) {  // a compute time of 0 never refreshes early
        if (st.fresh_until_ms == 0) {
          d.next = read_next::atomic;  // the deadline only the status's TTL knows
          return d;
        }
        const std::int64_t remaining_ms = st.fresh_until_ms - now_ms;
        if (remaining_ms > 0 && static_cast<double>(st.compute_ms) * xfetch_factor >=
                                    static_cast<double>(remaining_ms)) {
          d.next = read_next::atomic;  // early refresh: the lease is taken in Redis
          return d;
        }
      }
      return answer(state::fresh);
    case status::kind::lease:
      if (has_value && now_ms < st.fresh_until_ms) return answer(state::fresh);
      [[fallthrough]];
    case status::kind::backoff:
    case status::kind::unknown:
      return answer(has_value ? state::stale : state::miss);
  }
  return d;
}

std::optional<std::int64_t> decide_set(const status& st, std::string_view token,
                                       std::int64_t now_ms) {
  if (st.what != status::kind::lease || st.token != token) return std::nullopt;
  return now_ms > st.granted_ms ? now_ms - st.granted_ms : 0;
}

bool decide_release(const status& st, std::string_view token) {
  return st.what == status::kind::lease && st.token == token;
}

}  // namespace puppy::pget
