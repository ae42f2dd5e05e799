#include "puppy/cluster/split.hpp"

#include <charconv>

#include "puppy/cluster/slot.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/resp/number.hpp"

namespace puppy::cluster {
namespace {

const char* const unexpected = "-ERR unexpected reply from a cluster node\r\n";

bool is_error(std::string_view r) {
  return !r.empty() && (r[0] == '-' || r[0] == '!');
}

// The number on a "<type><digits>\r\n" line at p; advances p. False if it is not one.
bool number_line(std::string_view r, std::size_t* p, char type, long long* v) {
  if (*p >= r.size() || r[*p] != type) return false;
  const auto cr = r.find("\r\n", *p);
  if (cr == std::string_view::npos) return false;
  if (!resp::string_to_ll(r.data() + *p + 1, cr - *p - 1, v)) return false;
  *p = cr + 2;
  return true;
}

// The elements of an MGET reply (bulk strings or nulls), as the bytes they are.
bool elements_of(std::string_view r, std::vector<std::string_view>* out) {
  std::size_t p = 0;
  long long n = 0;
  if (!number_line(r, &p, '*', &n) || n < 0) return false;
  for (long long i = 0; i < n; ++i) {
    const std::size_t start = p;
    if (r.compare(p, 3, "_\r\n") == 0) {
      p += 3;
    } else {
      long long len = 0;
      if (!number_line(r, &p, '$', &len)) return false;
      if (len >= 0) {
        if (p + static_cast<std::size_t>(len) + 2 > r.size() ||
            r.compare(p + static_cast<std::size_t>(len), 2, "\r\n") != 0) {
          return false;
        }
        p += static_cast<std::size_t>(len) + 2;
      } else if (len != -1) {
        return false;
      }
    }
    out->push_back(r.substr(start, p - start));
  }
  return p == r.size();
}

}  // namespace

std::optional<split_plan> plan_split(const std::vector<std::string_view>& args) {
  if (args.empty()) return std::nullopt;
  std::string name(args[0]);
  for (auto& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  split_plan plan;
  std::size_t stride = 1;  // arguments per key
  if (name == "mget") {
    plan.how = split_plan::merge::values_in_order;
  } else if (name == "del" || name == "unlink" || name == "exists" || name == "touch") {
    plan.how = split_plan::merge::integer_sum;
  } else if (name == "mset") {
    plan.how = split_plan::merge::all_ok;
    stride = 2;
  } else {
    return std::nullopt;
  }
  if (args.size() < 1 + stride || (args.size() - 1) % stride != 0) return std::nullopt;
  plan.keys = (args.size() - 1) / stride;
  std::vector<std::vector<std::size_t>> members;  // per part: the keys' argument indices
  for (std::size_t k = 0; k < plan.keys; ++k) {
    const std::size_t at = 1 + k * stride;
    const std::uint16_t slot = key_slot(args[at]);
    std::size_t part = 0;
    while (part < plan.parts.size() && plan.parts[part].slot != slot) ++part;
    if (part == plan.parts.size()) {
      plan.parts.emplace_back();
      plan.parts.back().slot = slot;
      members.emplace_back();
    }
    members[part].push_back(at);
    plan.parts[part].positions.push_back(k);
  }
  for (std::size_t i = 0; i < plan.parts.size(); ++i) {
    std::string& out = plan.parts[i].request;
    out = "*" + std::to_string(1 + members[i].size() * stride) + "\r\n";
    resp::encode::append_bulk(&out, args[0]);
    for (const std::size_t at : members[i]) {
      for (std::size_t j = 0; j < stride; ++j) resp::encode::append_bulk(&out, args[at + j]);
    }
  }
  return plan;
}

std::string merge_replies(const split_plan& plan, const std::vector<std::string_view>& replies) {
  if (replies.size() != plan.parts.size()) return unexpected;
  for (const auto r : replies) {
    if (is_error(r)) return std::string(r);
  }
  switch (plan.how) {
    case split_plan::merge::all_ok:
      for (const auto r : replies) {
        if (r != "+OK\r\n") return unexpected;
      }
      return "+OK\r\n";
    case split_plan::merge::integer_sum: {
      long long sum = 0;
      for (const auto r : replies) {
        std::size_t p = 0;
        long long v = 0;
        if (!number_line(r, &p, ':', &v) || p != r.size()) return unexpected;
        sum += v;
      }
      return ":" + std::to_string(sum) + "\r\n";
    }
    case split_plan::merge::values_in_order: {
      std::vector<std::string_view> values(plan.keys);
      std::vector<std::string_view> elements;
      for (std::size_t i = 0; i < replies.size(); ++i) {
        elements.clear();
        if (!elements_of(replies[i], &elements) ||
            elements.size() != plan.parts[i].positions.size()) {
          return unexpected;
        }
        for (std::size_t k = 0; k < elements.size(); ++k) {
          values[plan.parts[i].positions[k]] = elements[k];
        }
      }
      std::string out = "*" + std::to_string(plan.keys) + "\r\n";
      for (const auto v : values) out.append(v);  // forwarded as the nodes sent them
      return out;
    }
  }
  return unexpected;
}

}  // namespace puppy::cluster
