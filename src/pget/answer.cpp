#include "puppy/pget/answer.hpp"

#include "puppy/pget/reply.hpp"

namespace puppy::pget {
namespace {

void append_error(std::string_view text, std::string* out) {
  out->append("-").append(text).append("\r\n");
}

void append_own_error(std::string_view text, std::string* out) {
  out->append("-ERR ").append(text).append("\r\n");
}

constexpr std::string_view script_flushed =
    "the PGET script was flushed from the upstream; try again";
constexpr std::string_view script_malformed = "unexpected reply from the PGET script";

// The reply for a script's error of any kind.
void append_script_error(reply_kind kind, const std::string& error, std::string* out) {
  if (kind == reply_kind::error) {
    append_error(error, out);
  } else {
    append_own_error(kind == reply_kind::noscript ? script_flushed : script_malformed, out);
  }
}

}  // namespace

read_answer answer_read(std::string_view bytes, std::int64_t now_ms, double xfetch, bool wait,
                        std::string* out) {
  std::optional<std::string_view> value;
  std::optional<std::string_view> status;
  std::string error;
  const auto kind = parse_pair_reply(bytes, &value, &status, &error);
  if (kind != reply_kind::ok) {
    if (kind == reply_kind::malformed) {
      append_own_error("unexpected reply to MGET", out);
    } else {
      append_error(error, out);
    }
    return {};
  }
  const auto d = decide_read(parse_status(status), value.has_value(), now_ms, xfetch);
  if (d.next == read_next::answer && (!wait || d.answer != state::miss)) {
    const bool with_value = value && d.answer != state::miss;
    encode_pget_reply(d.answer, with_value ? &*value : nullptr, nullptr, out);
    return {after_read::answered, d.answer};
  }
  if (wait) return {after_read::script, std::nullopt};
  switch (d.next) {
    case read_next::heal:
      encode_pget_reply(state::miss, nullptr, nullptr, out);
      return {after_read::heal, state::miss};
    case read_next::take_lease:
      return {after_read::take_lease, std::nullopt};
    case read_next::answer:  // (a miss of a WAIT: above)
    case read_next::atomic:
      break;
  }
  return {after_read::script, std::nullopt};
}

lease_answer answer_lease(std::string_view status_bytes, std::string_view value_bytes,
                          std::string_view token, std::int64_t now_ms, std::string* out) {
  lease_answer a;
  std::optional<std::string_view> status;
  std::string error;
  switch (parse_bulk_reply(status_bytes, &status, &error)) {
    case reply_kind::ok:
      break;
    case reply_kind::error:
    case reply_kind::noscript:
      if (error.rfind("ERR syntax error", 0) == 0) {
        a.no_set_get = true;
        append_own_error("PGET needs Redis 7.0 or later for its fast path; retry", out);
      } else {
        append_error(error, out);
      }
      return a;
    case reply_kind::malformed:
      append_own_error("unexpected reply to SET NX GET", out);
      return a;
  }
  std::optional<std::string_view> value;
  switch (parse_bulk_reply(value_bytes, &value, &error)) {
    case reply_kind::ok:
      break;
    case reply_kind::error:
    case reply_kind::noscript:
      append_error(error, out);
      return a;
    case reply_kind::malformed:
      append_own_error("unexpected reply to GET", out);
      return a;
  }
  if (!status) {  // SET NX set our lease: we regenerate
    encode_pget_reply(state::lease, value ? &*value : nullptr, &token, out);
    a.given = state::lease;
    return a;
  }
  const auto d = decide_get(parse_status(*status), -1, value.has_value(), now_ms, token, 0);
  if (d.take_lease) {
    // A current status without its value (evicted): this reader gets a miss, and the status is
    // dropped so that the next reader gets the lease (no busy loop until the status expires).
    encode_pget_reply(state::miss, nullptr, nullptr, out);
    a.given = state::miss;
    a.heal = true;
    return a;
  }
  const bool with_value = value && d.answer != state::miss;
  encode_pget_reply(d.answer, with_value ? &*value : nullptr, nullptr, out);
  a.given = d.answer;
  return a;
}

get_answer answer_get(std::string_view bytes, bool wait, std::string* out) {
  get_answer a;
  get_reply r;
  std::string error;
  const auto kind = parse_get_reply(bytes, &r, &error);
  if (kind != reply_kind::ok) {
    a.noscript = kind == reply_kind::noscript;
    append_script_error(kind, error, out);
    return a;
  }
  if (wait && r.answer == state::miss) {
    a.wait = true;
    a.retry_after = r.retry_after_ms;
    return a;
  }
  encode_pget_reply(r.answer, r.has_value ? &r.value : nullptr,
                    r.answer == state::lease ? &r.token : nullptr, out);
  a.given = r.answer;
  return a;
}

write_answer answer_write(std::string_view bytes, std::string* out) {
  write_answer a;
  std::int64_t value = 0;
  std::string error;
  const auto kind = parse_int_reply(bytes, &value, &error);
  if (kind != reply_kind::ok) {
    a.noscript = kind == reply_kind::noscript;
    append_script_error(kind, error, out);
    return a;
  }
  out->append(bytes);  // exactly one integer reply (parse_int_reply): Redis's own bytes
  a.value = value;
  return a;
}

}  // namespace puppy::pget
