#include "puppy/pget/request.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "puppy/resp/number.hpp"

namespace puppy::pget {
namespace {

// `b` in lower case.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = a[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c) != b[i]) return false;
  }
  return true;
}

std::string quoted(std::string_view s) {
  return "'" + std::string(s.substr(0, 64)) + "'";
}

// Whole seconds in [1, max_seconds].
bool parse_seconds(std::string_view text, std::int64_t* out) {
  long long v = 0;
  if (!resp::string_to_ll(text.data(), text.size(), &v) || v < 1 || v > max_seconds) return false;
  *out = v;
  return true;
}

bool looks_numeric(std::string_view text) {
  return !text.empty() && (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'));
}

std::string wrong_arity(std::string_view name) {
  std::string lower(name);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "wrong number of arguments for '" + lower + "' command";
}

std::string parse_times(const std::vector<std::string_view>& args, std::size_t i, const defaults& d,
                        request* r) {
  r->timeout = d.timeout;
  r->update_time = d.update_time;
  if (i < args.size() && !parse_seconds(args[i], &r->timeout)) {
    return "invalid timeout " + quoted(args[i]) + ": whole seconds, at least 1";
  }
  if (i + 1 < args.size() && !parse_seconds(args[i + 1], &r->update_time)) {
    return "invalid update_time " + quoted(args[i + 1]) + ": whole seconds, at least 1";
  }
  return {};
}

std::string parse_get(const std::vector<std::string_view>& args, const defaults& d, request* r) {
  r->timeout = d.timeout;
  r->update_time = d.update_time;
  std::size_t i = 2;
  // Up to two positional times; anything numeric-looking in their place must be valid.
  if (i < args.size() && looks_numeric(args[i])) {
    if (!parse_seconds(args[i], &r->timeout)) {
      return "invalid timeout " + quoted(args[i]) + ": whole seconds, at least 1";
    }
    ++i;
    if (i < args.size() && looks_numeric(args[i])) {
      if (!parse_seconds(args[i], &r->update_time)) {
        return "invalid update_time " + quoted(args[i]) + ": whole seconds, at least 1";
      }
      ++i;
    }
  }
  bool seen_wait = false;
  bool seen_beta = false;
  while (i < args.size()) {
    const std::string_view opt = args[i];
    if (iequals(opt, "wait") && !seen_wait) {
      if (i + 1 >= args.size()) return "WAIT needs a number of milliseconds";
      long long ms = 0;
      if (!resp::string_to_ll(args[i + 1].data(), args[i + 1].size(), &ms) || ms < 0) {
        return "invalid WAIT " + quoted(args[i + 1]) + ": whole milliseconds, 0 or more";
      }
      r->wait_ms = ms;
      seen_wait = true;
      i += 2;
    } else if (iequals(opt, "beta") && !seen_beta) {
      if (i + 1 >= args.size()) return "BETA needs a positive number";
      const std::string text(args[i + 1]);
      char* end = nullptr;
      const double b = std::strtod(text.c_str(), &end);
      if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])) ||
          end != text.c_str() + text.size() || !std::isfinite(b) || b <= 0) {
        return "invalid BETA " + quoted(args[i + 1]) + ": a positive decimal number";
      }
      r->beta = b;
      seen_beta = true;
      i += 2;
    } else if (iequals(opt, "wait") || iequals(opt, "beta")) {
      return "option " + quoted(opt) + " given twice";
    } else {
      return "unknown PGET argument " + quoted(opt) +
             " (expected: key [timeout] [update_time] [WAIT ms] [BETA b])";
    }
  }
  if (r->wait_ms > r->update_time * 1000) {
    return "WAIT " + std::to_string(r->wait_ms) + " is longer than update_time (" +
           std::to_string(r->update_time * 1000) + " ms)";
  }
  return {};
}

}  // namespace

bool is_family(std::string_view n) {
  return n == "pget" || n == "pset" || n == "prelease" || n == "pinvalidate";
}

std::string parse(const std::vector<std::string_view>& args, const defaults& d, request* r) {
  *r = request{};
  const std::string_view name = args.empty() ? std::string_view() : args[0];
  if (iequals(name, "pget")) {
    r->kind = op::get;
    if (args.size() < 2 || args.size() > 8) return wrong_arity(name);
    r->key = args[1];
    return parse_get(args, d, r);
  }
  if (iequals(name, "pset")) {
    r->kind = op::set;
    if (args.size() < 4 || args.size() > 6) return wrong_arity(name);
    r->key = args[1];
    r->token = args[2];
    r->value = args[3];
    return parse_times(args, 4, d, r);
  }
  if (iequals(name, "prelease")) {
    r->kind = op::release;
    if (args.size() != 3 && args.size() != 5) return wrong_arity(name);
    r->key = args[1];
    r->token = args[2];
    if (args.size() == 5) {
      if (!iequals(args[3], "backoff")) {
        return "unknown PRELEASE argument " + quoted(args[3]) + " (expected: BACKOFF seconds)";
      }
      if (!parse_seconds(args[4], &r->backoff)) {
        return "invalid BACKOFF " + quoted(args[4]) + ": whole seconds, at least 1";
      }
    }
    return {};
  }
  if (iequals(name, "pinvalidate")) {
    r->kind = op::invalidate;
    if (args.size() != 2) return wrong_arity(name);
    r->key = args[1];
    return {};
  }
  return "not a PGET-family command";
}

}  // namespace puppy::pget
