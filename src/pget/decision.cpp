#include "puppy/pget/decision.hpp"

#include <vector>

#include "puppy/resp/number.hpp"

namespace puppy::pget {
namespace {

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto colon = s.find(':', start);
    const auto end = colon == std::string_view::npos ? s.size() : colon;
    if (end > start) parts.push_back(s.substr(start, end - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  return parts;
}

std::int64_t number(std::string_view s) {
  long long v = 0;
  return resp::string_to_ll(s.data(), s.size(), &v) ? v : 0;
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
  const auto p = split(*text);
  if (p.size() == 2 && p[0] == "current") {
    st.what = status::kind::current;
    st.compute_ms = number(p[1]);
  } else if (p.size() == 5 && p[0] == "lease") {
    st.what = status::kind::lease;
    st.token = std::string(p[1]);
    st.granted_ms = number(p[2]);
    st.compute_ms = number(p[3]);
    st.fresh_until_ms = number(p[4]);
  } else if (p.size() == 2 && p[0] == "backoff") {
    st.what = status::kind::backoff;
    st.compute_ms = number(p[1]);
  } else {
    st.what = status::kind::unknown;  // e.g. another writer's marker: treated as a lease held
  }
  return st;
}

std::string format_current(std::int64_t compute_ms) {
  return "current:" + std::to_string(compute_ms);
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
    case status::kind::unknown:
      d.answer = has_value ? state::stale : state::miss;
      d.retry_after_ms = status_pttl_ms;
      return d;
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
