#include "puppy/resp/reply_scanner.hpp"

#include <algorithm>
#include <cstring>

namespace puppy::resp {
namespace {

// Lengths and counts above this are not RESP any upstream sends; refusing them keeps 2*n exact
// and below a frame's streamed marker (2^63 - 1).
constexpr std::uint64_t max_length = (std::uint64_t{1} << 62) - 1;

bool is_line_type(char c) {
  return c == '+' || c == '-' || c == ':' || c == '_' || c == '#' || c == ',' || c == '(';
}

bool is_length_type(char c) {
  return c == '$' || c == '!' || c == '=' || c == '*' || c == '%' || c == '~' || c == '>' ||
         c == '|';
}

// Stack room kept between replies; a deeper reply's room is given back once it ended.
constexpr std::size_t kept_frames = 1024;

}  // namespace

reply_scanner::reply_scanner(std::size_t max_depth) : max_depth_(max_depth) {}

void reply_scanner::reset() {
  state_ = state::type;
  stack_.clear();
  if (stack_.capacity() > kept_frames) stack_.shrink_to_fit();
  top_type_ = cur_type_ = 0;
  top_attribute_ = false;
  head_len_ = 0;
  error_ = "";
}

scan_result reply_scanner::fail(const char* why, std::size_t consumed) {
  error_ = why;
  return {scan_status::error, consumed};
}

bool reply_scanner::value_done() {
  while (!stack_.empty()) {
    frame& f = stack_.back();
    if (count_of(f) == streamed_count) return false;  // a streamed aggregate ends with '.'
    if (count_of(--f) > 0) return false;
    const bool attribute = (f & attribute_bit) != 0;
    stack_.pop_back();
    if (attribute) return false;  // an attribute is not a value: the value it describes follows
  }
  if (stack_.capacity() > kept_frames) {
    std::vector<frame>().swap(stack_);  // a deep reply ended: give its room back
  }
  return true;
}

bool reply_scanner::length_done(std::size_t pos, scan_result* out) {
  const char t = cur_type_;
  if (streamed_ ? (any_digit_ || negative_) : !any_digit_) {
    *out = fail("malformed length", pos);
    return true;
  }
  if (negative_) {
    // Only RESP2's null bulk ($-1) and null array (*-1) are negative.
    if (number_ != 1 || (t != '$' && t != '*')) {
      *out = fail("negative length", pos);
      return true;
    }
    state_ = state::type;
    if (value_done()) {
      *out = {scan_status::reply, pos};
      return true;
    }
    return false;
  }
  if (t == '$' || t == '!' || t == '=' || t == ';') {
    if (streamed_) {
      if (t != '$') {
        *out = fail("streamed length on a non-string type", pos);
        return true;
      }
      state_ = state::chunk_type;
      return false;
    }
    if (t == ';' && number_ == 0) {  // the end of a streamed string
      state_ = state::type;
      if (value_done()) {
        *out = {scan_status::reply, pos};
        return true;
      }
      return false;
    }
    data_left_ = number_;
    state_ = number_ == 0 ? state::data_cr : state::data;
    return false;
  }
  // An aggregate.
  state_ = state::type;
  if (stack_.size() >= max_depth_) {
    *out = fail("reply nesting too deep", pos);
    return true;
  }
  const frame attribute = t == '|' ? attribute_bit : 0;
  if (streamed_) {
    stack_.push_back(streamed_count | attribute);
    return false;
  }
  const std::uint64_t elements = (t == '%' || t == '|') ? number_ * 2 : number_;
  if (elements > 0) {
    stack_.push_back(elements | attribute);
    return false;
  }
  if (t == '|') return false;  // an empty attribute describes the value that follows
  if (value_done()) {
    *out = {scan_status::reply, pos};
    return true;
  }
  return false;
}

scan_result reply_scanner::scan(const char* data, std::size_t size) {
  std::size_t pos = 0;
  while (pos < size) {
    const char c = data[pos];
    switch (state_) {
      case state::type: {
        ++pos;
        cur_type_ = c;
        const bool top = stack_.empty() && c != '|';
        if (stack_.empty()) top_attribute_ = c == '|';
        if (top) {
          top_type_ = c;
          head_len_ = 0;
        }
        capture_head_ = top && (c == '+' || c == '-');
        if (is_line_type(c)) {
          state_ = state::line;
        } else if (is_length_type(c)) {
          number_ = 0;
          negative_ = streamed_ = any_digit_ = false;
          state_ = state::number;
        } else if (c == '.' && !stack_.empty() && count_of(stack_.back()) == streamed_count) {
          state_ = state::end_cr;
        } else {
          return fail("unknown reply type byte", pos - 1);
        }
        break;
      }
      case state::line: {
        const char* cr = static_cast<const char*>(std::memchr(data + pos, '\r', size - pos));
        const std::size_t end = cr != nullptr ? static_cast<std::size_t>(cr - data) : size;
        if (capture_head_ && head_len_ < head_capacity) {
          const std::size_t n = std::min(end - pos, head_capacity - head_len_);
          std::memcpy(head_ + head_len_, data + pos, n);
          head_len_ += n;
        }
        pos = end;
        if (cr != nullptr) {
          ++pos;
          state_ = state::line_lf;
        }
        break;
      }
      case state::line_lf:
        if (c != '\n') return fail("CR without LF", pos);
        ++pos;
        state_ = state::type;
        if (value_done()) return {scan_status::reply, pos};
        break;
      case state::number:
        if (c >= '0' && c <= '9') {
          // The digits in one go, and the CRLF after them when it is here too.
          do {
            const auto digit = static_cast<std::uint64_t>(data[pos] - '0');
            if (number_ > (max_length - digit) / 10) return fail("length too large", pos);
            number_ = number_ * 10 + digit;
            ++pos;
          } while (pos < size && data[pos] >= '0' && data[pos] <= '9');
          any_digit_ = true;
          if (size - pos >= 2 && data[pos] == '\r' && data[pos + 1] == '\n') {
            pos += 2;
            scan_result out{scan_status::need_more, pos};
            if (length_done(pos, &out)) return out;
          }
          break;
        } else if (c == '-' && !any_digit_ && !negative_ && !streamed_) {
          negative_ = true;
        } else if (c == '?' && !any_digit_ && !negative_ && !streamed_ && cur_type_ != ';') {
          streamed_ = true;
        } else if (c == '\r') {
          state_ = state::number_lf;
        } else {
          return fail("malformed length", pos);
        }
        ++pos;
        break;
      case state::number_lf: {
        if (c != '\n') return fail("CR without LF", pos);
        ++pos;
        scan_result out{scan_status::need_more, pos};
        if (length_done(pos, &out)) return out;
        break;
      }
      case state::data: {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(size - pos, data_left_));
        pos += n;
        data_left_ -= n;
        if (data_left_ != 0) break;
        state_ = state::data_cr;
        if (cur_type_ != ';' && size - pos >= 2 && data[pos] == '\r' && data[pos + 1] == '\n') {
          pos += 2;  // the CRLF after the data when it is here too
          state_ = state::type;
          if (value_done()) return {scan_status::reply, pos};
        }
        break;
      }
      case state::data_cr:
        if (c != '\r') return fail("blob not followed by CRLF", pos);
        ++pos;
        state_ = state::data_lf;
        break;
      case state::data_lf:
        if (c != '\n') return fail("blob not followed by CRLF", pos);
        ++pos;
        if (cur_type_ == ';') {
          state_ = state::chunk_type;
          break;
        }
        state_ = state::type;
        if (value_done()) return {scan_status::reply, pos};
        break;
      case state::chunk_type:
        if (c != ';') return fail("expected ';' in a streamed string", pos);
        ++pos;
        cur_type_ = ';';
        number_ = 0;
        negative_ = streamed_ = any_digit_ = false;
        state_ = state::number;
        break;
      case state::end_cr:
        if (c != '\r') return fail("malformed end of streamed aggregate", pos);
        ++pos;
        state_ = state::end_lf;
        break;
      case state::end_lf:
        if (c != '\n') return fail("malformed end of streamed aggregate", pos);
        ++pos;
        state_ = state::type;
        {
          const bool attribute = (stack_.back() & attribute_bit) != 0;
          stack_.pop_back();
          if (!attribute && value_done()) return {scan_status::reply, pos};
        }
        break;
    }
  }
  return {scan_status::need_more, pos};
}

}  // namespace puppy::resp
