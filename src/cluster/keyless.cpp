#include "puppy/cluster/keyless.hpp"

#include <algorithm>
#include <charconv>

#include "puppy/resp/encode.hpp"

namespace puppy::cluster {

namespace {

// "<prefix><number>\r\n" at the start of `reply`: the number and where the line ends.
std::optional<std::int64_t> header_number(std::string_view reply, char prefix, std::size_t* end) {
  if (reply.empty() || reply[0] != prefix) return std::nullopt;
  const auto crlf = reply.find("\r\n");
  if (crlf == std::string_view::npos) return std::nullopt;
  std::int64_t v = 0;
  const auto r = std::from_chars(reply.data() + 1, reply.data() + crlf, v);
  if (r.ec != std::errc() || r.ptr != reply.data() + crlf) return std::nullopt;
  *end = crlf + 2;
  return v;
}

std::string protocol_fault() {
  return resp::encode::error("ERR unexpected reply from a node");
}

// The elements of an array of bulk strings and integers (a PUBSUB reply), each as its bytes.
// A RESP3 map (%N: N pairs) counts as the array of its 2N elements.
std::optional<std::vector<std::string_view>> flat_elements(std::string_view r) {
  std::size_t end = 0;
  const bool map = !r.empty() && r[0] == '%';
  auto n = header_number(r, map ? '%' : '*', &end);
  if (!n || *n < 0) return std::nullopt;
  if (map) *n *= 2;
  r.remove_prefix(end);
  std::vector<std::string_view> out;
  for (std::int64_t i = 0; i < *n; ++i) {
    std::size_t size = 0;
    if (!r.empty() && r[0] == ':') {
      if (!header_number(r, ':', &end)) return std::nullopt;
      size = end;
    } else {
      const auto len = header_number(r, '$', &end);
      if (!len || *len < 0 || r.size() < end + static_cast<std::size_t>(*len) + 2) {
        return std::nullopt;
      }
      size = end + static_cast<std::size_t>(*len) + 2;
    }
    out.push_back(r.substr(0, size));
    r.remove_prefix(size);
  }
  if (!r.empty()) return std::nullopt;
  return out;
}

}  // namespace

keyless keyless_policy(std::string_view name, std::string_view sub) {
  if (name == "dbsize") return keyless::sum;
  if (name == "keys") return keyless::concat;
  if (name == "flushall" || name == "flushdb") return keyless::all_ok;
  if (name == "randomkey") return keyless::any_non_nil;
  if (name == "scan") return keyless::scan;
  if (name == "publish") return keyless::first;
  if (name == "pubsub") {
    if (sub == "channels" || sub == "shardchannels") return keyless::unique;
    if (sub == "numsub" || sub == "shardnumsub") return keyless::sum_pairs;
    if (sub == "numpat") return keyless::sum;
  }
  if (name == "script") {
    if (sub == "load") return keyless::same;
    if (sub == "flush") return keyless::all_ok;
    if (sub == "exists") return keyless::all_and;
  }
  if (name == "function") {
    if (sub == "load") return keyless::same;
    if (sub == "flush" || sub == "delete" || sub == "restore") return keyless::all_ok;
  }
  return keyless::any_node;
}

std::string merge_keyless(keyless how, const std::vector<std::string_view>& replies,
                          std::size_t start) {
  if (replies.empty()) return protocol_fault();
  for (const auto r : replies) {
    if (!r.empty() && r[0] == '-') return std::string(r);
  }
  switch (how) {
    case keyless::any_node:
    case keyless::first:
    case keyless::scan:
    case keyless::all_ok:
    case keyless::same:
      for (const auto r : replies) {
        if (r != replies.front()) return protocol_fault();
      }
      return std::string(replies.front());
    case keyless::sum: {
      std::int64_t total = 0;
      for (const auto r : replies) {
        std::size_t end = 0;
        const auto v = header_number(r, ':', &end);
        if (!v || end != r.size()) return protocol_fault();
        total += *v;
      }
      return resp::encode::integer(total);
    }
    case keyless::concat: {
      std::int64_t total = 0;
      std::string body;
      for (const auto r : replies) {
        std::size_t end = 0;
        const auto n = header_number(r, '*', &end);
        if (!n || *n < 0) return protocol_fault();
        total += *n;
        body.append(r.substr(end));
      }
      return resp::encode::array_header(static_cast<std::size_t>(total)) + body;
    }
    case keyless::all_and: {
      std::vector<bool> all;
      for (std::size_t i = 0; i < replies.size(); ++i) {
        std::string_view r = replies[i];
        std::size_t end = 0;
        const auto n = header_number(r, '*', &end);
        if (!n || *n < 0 || (i > 0 && static_cast<std::size_t>(*n) != all.size())) {
          return protocol_fault();
        }
        if (i == 0) all.assign(static_cast<std::size_t>(*n), true);
        r.remove_prefix(end);
        for (std::size_t k = 0; k < all.size(); ++k) {
          const auto v = header_number(r, ':', &end);
          if (!v) return protocol_fault();
          if (*v == 0) all[k] = false;
          r.remove_prefix(end);
        }
        if (!r.empty()) return protocol_fault();
      }
      std::string out = resp::encode::array_header(all.size());
      for (const bool b : all) out += b ? ":1\r\n" : ":0\r\n";
      return out;
    }
    case keyless::unique: {
      std::vector<std::string_view> names;
      for (const auto r : replies) {
        const auto elements = flat_elements(r);
        if (!elements) return protocol_fault();
        for (const auto e : *elements) {
          if (std::find(names.begin(), names.end(), e) == names.end()) names.push_back(e);
        }
      }
      std::string out = resp::encode::array_header(names.size());
      for (const auto n : names) out.append(n);
      return out;
    }
    case keyless::sum_pairs: {
      const auto first = flat_elements(replies.front());
      if (!first || first->size() % 2 != 0) return protocol_fault();
      std::vector<std::int64_t> counts(first->size() / 2, 0);
      for (const auto r : replies) {
        const auto elements = flat_elements(r);
        if (!elements || elements->size() != first->size()) return protocol_fault();
        for (std::size_t i = 0; i < counts.size(); ++i) {
          std::size_t end = 0;
          const auto v = header_number((*elements)[2 * i + 1], ':', &end);
          if (!v || (*elements)[2 * i] != (*first)[2 * i]) return protocol_fault();
          counts[i] += *v;
        }
      }
      std::string out = replies.front()[0] == '%' ? "%" + std::to_string(counts.size()) + "\r\n"
                                                  : resp::encode::array_header(first->size());
      for (std::size_t i = 0; i < counts.size(); ++i) {
        out.append((*first)[2 * i]);
        out += resp::encode::integer(counts[i]);
      }
      return out;
    }
    case keyless::any_non_nil:
      for (std::size_t i = 0; i < replies.size(); ++i) {
        const auto r = replies[(start + i) % replies.size()];
        if (r != "$-1\r\n" && r != "_\r\n") return std::string(r);
      }
      return std::string(replies.front());
  }
  return protocol_fault();
}

std::optional<scan_cursor> decode_scan_cursor(std::string_view text, std::size_t masters) {
  std::uint64_t v = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  scan_cursor c;
  c.node = static_cast<std::size_t>(v & ((1u << scan_cursor::node_bits) - 1));
  c.cursor = v >> scan_cursor::node_bits;
  if (c.node >= masters && v != 0) return std::nullopt;
  return c;
}

std::string scan_request(const std::vector<std::string_view>& args, std::uint64_t cursor) {
  std::string out = resp::encode::array_header(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    resp::encode::append_bulk(&out, i == 1 ? std::string_view(std::to_string(cursor)) : args[i]);
  }
  return out;
}

std::optional<scan_page> parse_scan_page(std::string_view reply) {
  std::size_t end = 0;
  const auto n = header_number(reply, '*', &end);
  if (!n || *n != 2) return std::nullopt;
  std::string_view rest = reply.substr(end);
  const auto len = header_number(rest, '$', &end);
  if (!len || *len < 0 || rest.size() < end + static_cast<std::size_t>(*len) + 2) {
    return std::nullopt;
  }
  const std::string_view text = rest.substr(end, static_cast<std::size_t>(*len));
  scan_page page;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), page.cursor);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size()) return std::nullopt;
  rest.remove_prefix(end + text.size() + 2);
  const auto count = header_number(rest, '*', &end);
  if (!count || *count < 0) return std::nullopt;
  page.count = static_cast<std::size_t>(*count);
  page.elements = rest.substr(end);
  return page;
}

std::optional<std::uint64_t> next_scan_cursor(std::uint64_t node_cursor, std::size_t node,
                                              std::size_t masters) {
  if (node_cursor == 0) return node + 1 < masters ? node + 1 : 0;  // the next master's start
  if (node_cursor >> (64 - scan_cursor::node_bits) != 0) return std::nullopt;
  return (node_cursor << scan_cursor::node_bits) | node;
}

std::string scan_reply(std::uint64_t cursor, std::size_t count, std::string_view elements) {
  std::string out = "*2\r\n";
  resp::encode::append_bulk(&out, std::to_string(cursor));
  out += resp::encode::array_header(count);
  out.append(elements);
  return out;
}

std::size_t scan_count(const std::vector<std::string_view>& args) {
  for (std::size_t i = 2; i + 1 < args.size(); ++i) {
    const auto a = args[i];
    if (a.size() == 5 && (a[0] | 0x20) == 'c' && (a[1] | 0x20) == 'o' && (a[2] | 0x20) == 'u' &&
        (a[3] | 0x20) == 'n' && (a[4] | 0x20) == 't') {
      std::size_t v = 0;
      const auto r =
          std::from_chars(args[i + 1].data(), args[i + 1].data() + args[i + 1].size(), v);
      if (r.ec == std::errc() && v > 0) return v;
    }
  }
  return 10;
}

}  // namespace puppy::cluster
