#include "puppy/resp/request_framer.hpp"

#include <algorithm>
#include <cstring>

#include "puppy/resp/inline_split.hpp"
#include "puppy/resp/number.hpp"

namespace puppy::resp {
namespace {

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// string_to_ll with a fast path for the short positive lengths of almost every header line.
bool parse_length(const char* s, std::size_t len, long long* value) {
  if (len >= 1 && len <= 9 && s[0] >= '1' && s[0] <= '9') {
    long long v = 0;
    for (std::size_t i = 0; i < len; ++i) {
      const auto d = static_cast<unsigned>(s[i] - '0');
      if (d > 9) return string_to_ll(s, len, value);  // not a number: the full rules decide
      v = v * 10 + d;
    }
    *value = v;
    return true;
  }
  return string_to_ll(s, len, value);
}

}  // namespace

request_framer::request_framer(request_limits limits) : limits_(limits) {}

void request_framer::reset() {
  state_ = state::start;
  args_left_ = data_left_ = copy_left_ = cmd_bytes_ = 0;
  line_searched_ = 0;
  line_blocked_ = false;
  name_known_ = false;
  error_ = frame_error::none;
  cmd_ = framed_command{};
  arena_.clear();
  spans_.clear();
  inline_args_.clear();
}

std::string request_framer::error_message() const {
  switch (error_) {
    case frame_error::none:
      return {};
    case frame_error::too_big_inline_request:
      return "Protocol error: too big inline request";
    case frame_error::unbalanced_quotes:
      return "Protocol error: unbalanced quotes in request";
    case frame_error::too_big_mbulk_count:
      return "Protocol error: too big mbulk count string";
    case frame_error::invalid_mbulk_length:
      return "Protocol error: invalid multibulk length";
    case frame_error::too_big_bulk_count:
      return "Protocol error: too big bulk count string";
    case frame_error::expected_dollar:
      return std::string("Protocol error: expected '$', got '") + error_char_ + "'";
    case frame_error::invalid_bulk_length:
      return "Protocol error: invalid bulk length";
    case frame_error::unauthenticated_mbulk_length:
      return "Protocol error: unauthenticated multibulk length";
    case frame_error::unauthenticated_bulk_length:
      return "Protocol error: unauthenticated bulk length";
  }
  return {};
}

std::size_t request_framer::find_line_end(const char* p, std::size_t n, char term) {
  if (line_blocked_) return n;
  for (std::size_t i = line_searched_; i < n; ++i) {
    if (p[i] == term) return i;
    if (p[i] == '\0') {
      line_blocked_ = true;
      return n;
    }
  }
  line_searched_ = n;
  return n;
}

frame_result request_framer::fail(frame_error e, std::size_t consumed, char got) {
  error_ = e;
  error_char_ = got;
  state_ = state::start;
  return {frame_status::error, consumed};
}

frame_result request_framer::finish(std::size_t consumed) {
  cmd_.wire_size = cmd_bytes_;
  if ((cmd_.spec.capture_args || cmd_.keys_only) && !cmd_.is_inline) {
    cmd_.args.clear();
    for (const auto& [offset, len] : spans_) cmd_.args.emplace_back(arena_.data() + offset, len);
  }
  state_ = state::start;
  cmd_bytes_ = 0;
  name_known_ = false;
  return {frame_status::command, consumed};
}

void request_framer::take_name(const char* p, std::size_t len) {
  for (std::size_t i = 0; i < len; ++i) name_buf_[i] = to_lower(p[i]);
  cmd_.name = std::string_view(name_buf_, len);
  cmd_.spec = lookup_command(cmd_.name);
  if (capture_all_) cmd_.spec.capture_args = true;
  cmd_.keys_only = wants_keys();
  name_known_ = true;
  if (cmd_.spec.capture_args || cmd_.keys_only) {
    spans_.emplace_back(arena_.size(), len);
    arena_.append(p, len);
  }
}

void request_framer::begin_arg(std::uint64_t len) {
  data_left_ = len + 2;
  copy_left_ = 0;
  if (cmd_.spec.capture_args || (cmd_.keys_only && len <= capture_keys_)) {
    copy_left_ = len;
    spans_.emplace_back(arena_.size(), static_cast<std::size_t>(len));
  }
}

frame_result request_framer::start_request(const char* p, std::size_t n) {
  // A new request: forget the previous one's captured arguments.
  if (line_searched_ == 0 && !line_blocked_) {
    cmd_.spec = {};
    cmd_.name = {};
    cmd_.argc = 0;
    cmd_.is_inline = false;
    cmd_.keys_only = false;
    cmd_.args.clear();
    arena_.clear();
    spans_.clear();
  }
  if (p[0] != '*') return parse_inline(p, n);

  const std::size_t cr = find_line_end(p, n, '\r');
  if (cr == n) {
    if (n > limits_.max_inline_len) return fail(frame_error::too_big_mbulk_count, 0);
    return {frame_status::need_more, 0};
  }
  if (cr + 1 >= n) return {frame_status::need_more, 0};  // the byte after CR is not here yet
  line_searched_ = 0;
  line_blocked_ = false;

  long long count = 0;
  if (!parse_length(p + 1, cr - 1, &count) ||
      (count > 0 && static_cast<std::uint64_t>(count) > limits_.max_args)) {
    return fail(frame_error::invalid_mbulk_length, 0);
  }
  if (pre_auth_ && count > 0 && static_cast<std::uint64_t>(count) > pre_auth_max_args) {
    return fail(frame_error::unauthenticated_mbulk_length, 0);
  }
  cmd_bytes_ = cr + 2;
  if (count <= 0) return finish(cr + 2);  // an empty request: no command, no reply
  cmd_.argc = static_cast<std::uint64_t>(count);
  args_left_ = cmd_.argc;
  state_ = state::bulk_header;
  return {frame_status::need_more, cr + 2};  // parse() continues with the arguments
}

frame_result request_framer::parse_inline(const char* p, std::size_t n) {
  const std::size_t nl = find_line_end(p, n, '\n');
  if (nl == n) {
    if (n > limits_.max_inline_len) return fail(frame_error::too_big_inline_request, 0);
    return {frame_status::need_more, 0};
  }
  line_searched_ = 0;
  line_blocked_ = false;
  std::size_t len = nl;
  if (len > 0 && p[len - 1] == '\r') --len;
  inline_args_.clear();
  if (!split_inline_args(std::string_view(p, len), &inline_args_)) {
    return fail(frame_error::unbalanced_quotes, 0);
  }
  cmd_.is_inline = true;
  cmd_.argc = inline_args_.size();
  for (const auto& a : inline_args_) cmd_.args.emplace_back(a);
  if (!inline_args_.empty()) {
    const std::string& first = inline_args_.front();
    if (first.size() <= max_command_name_len) {
      for (std::size_t i = 0; i < first.size(); ++i) name_buf_[i] = to_lower(first[i]);
      cmd_.name = std::string_view(name_buf_, first.size());
      cmd_.spec = lookup_command(cmd_.name);
    }
  }
  cmd_bytes_ = nl + 1;
  return finish(nl + 1);
}

frame_result request_framer::parse(const char* data, std::size_t size) {
  std::size_t pos = 0;
  for (;;) {
    const char* p = data + pos;
    const std::size_t n = size - pos;
    switch (state_) {
      case state::start: {
        if (n == 0) return {frame_status::need_more, pos};
        const frame_result r = start_request(p, n);
        pos += r.consumed;
        if (r.status != frame_status::need_more || state_ == state::start) {
          return {r.status, pos};
        }
        break;
      }
      case state::bulk_header: {
        const std::size_t cr = find_line_end(p, n, '\r');
        if (cr == n) {
          if (n > limits_.max_inline_len) return fail(frame_error::too_big_bulk_count, pos);
          return {frame_status::need_more, pos};
        }
        if (cr + 1 >= n) return {frame_status::need_more, pos};
        line_searched_ = 0;
        line_blocked_ = false;
        if (p[0] != '$') return fail(frame_error::expected_dollar, pos, p[0]);
        long long len = 0;
        if (!parse_length(p + 1, cr - 1, &len) || len < 0 ||
            static_cast<std::uint64_t>(len) > limits_.max_bulk_len) {
          return fail(frame_error::invalid_bulk_length, pos);
        }
        if (pre_auth_ && static_cast<std::uint64_t>(len) > pre_auth_max_bulk_len) {
          return fail(frame_error::unauthenticated_bulk_length, pos);
        }
        pos += cr + 2;
        cmd_bytes_ += cr + 2;
        if (name_known_) {
          begin_arg(static_cast<std::uint64_t>(len));
          state_ = state::arg_data;
        } else if (static_cast<std::uint64_t>(len) <= max_command_name_len) {
          data_left_ = static_cast<std::uint64_t>(len);
          state_ = state::name_data;
        } else {
          // Too long to be a command we know: a plain request, forwarded as it streams.
          name_known_ = true;
          cmd_.spec = {};
          cmd_.spec.capture_args = capture_all_;
          cmd_.keys_only = wants_keys();
          begin_arg(static_cast<std::uint64_t>(len));
          state_ = state::arg_data;
        }
        break;
      }
      case state::name_data: {
        const std::size_t len = static_cast<std::size_t>(data_left_);
        if (n < len + 2) return {frame_status::need_more, pos};
        take_name(p, len);
        pos += len + 2;
        cmd_bytes_ += len + 2;
        if (--args_left_ == 0) return finish(pos);
        state_ = state::bulk_header;
        break;
      }
      case state::arg_data: {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, data_left_));
        if (copy_left_ > 0) {
          const std::size_t copy =
              static_cast<std::size_t>(std::min<std::uint64_t>(take, copy_left_));
          arena_.append(p, copy);
          copy_left_ -= copy;
        }
        pos += take;
        cmd_bytes_ += take;
        data_left_ -= take;
        if (data_left_ > 0) return {frame_status::need_more, pos};
        if (--args_left_ == 0) return finish(pos);
        state_ = state::bulk_header;
        break;
      }
    }
  }
}

}  // namespace puppy::resp
