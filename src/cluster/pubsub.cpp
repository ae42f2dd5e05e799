#include "puppy/cluster/pubsub.hpp"

#include <charconv>

namespace puppy::cluster {

namespace {

// "<prefix><number>\r\n" at the start of `s`: the number; `s` moves past the line.
bool take_number(std::string_view* s, char prefix, std::int64_t* out) {
  const auto crlf = s->find("\r\n");
  if (s->empty() || (*s)[0] != prefix || crlf == std::string_view::npos) return false;
  const auto r = std::from_chars(s->data() + 1, s->data() + crlf, *out);
  if (r.ec != std::errc() || r.ptr != s->data() + crlf) return false;
  s->remove_prefix(crlf + 2);
  return true;
}

}  // namespace

pubsub_reply classify_pubsub(std::string_view reply) {
  pubsub_reply out;
  std::string_view s = reply;
  std::int64_t n = 0;
  std::int64_t len = 0;
  const char head = reply.empty() || reply[0] != '>' ? '*' : '>';  // RESP2 array, RESP3 push
  if (!take_number(&s, head, &n) || n < 3 || !take_number(&s, '$', &len) || len < 0 ||
      s.size() < static_cast<std::size_t>(len) + 2) {
    return out;
  }
  const std::string_view kind = s.substr(0, static_cast<std::size_t>(len));
  out.name = kind;
  s.remove_prefix(static_cast<std::size_t>(len) + 2);
  if (take_number(&s, '$', &len) && len >= 0 && s.size() >= static_cast<std::size_t>(len) + 2) {
    out.channel = s.substr(0, static_cast<std::size_t>(len));  // (nil: no channel)
  }
  if ((n == 3 && (kind == "message" || kind == "smessage")) || (n == 4 && kind == "pmessage")) {
    out.what = pubsub_reply::kind::message;
    return out;
  }
  const bool classic = kind == "subscribe" || kind == "unsubscribe" || kind == "psubscribe" ||
                       kind == "punsubscribe";
  const bool shard = kind == "ssubscribe" || kind == "sunsubscribe";
  if (n != 3 || (!classic && !shard)) return out;
  // The last element is the count: the reply's last line.
  if (reply.size() < 5) return out;
  const auto at = reply.rfind("\r\n:", reply.size() - 3);
  std::string_view last = reply.substr(at + 2);
  std::int64_t count = 0;
  if (at == std::string_view::npos || !take_number(&last, ':', &count) || !last.empty()) {
    return out;
  }
  out.what = pubsub_reply::kind::confirmation;
  out.shard = shard;
  out.count = count;
  return out;
}

}  // namespace puppy::cluster
