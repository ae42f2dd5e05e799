#pragma once
// Streaming scanner for everything an upstream can send, RESP2 and RESP3:
//   simple  + - : _ # , (      blob  $ ! =  (and streamed $? with ; chunks)
//   aggregate  * % ~ > |       (and streamed *? %? ~? closed by .)
// It consumes every byte it is given and keeps only a small state (a stack of element counts, one
// 8-byte word per level of nesting), so replies of any size and any depth Redis produces pass
// through without being buffered. It reports where each top-level reply
// ends, whether it was a push (`>`), and the first bytes of a top-level simple string or error.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "puppy/resp/limits.hpp"

namespace puppy::resp {

enum class scan_status : std::uint8_t {
  reply,      // a top-level reply ended at input + consumed
  need_more,  // all input consumed, the reply in progress is not finished
  error       // the input is not RESP; error_message() says why
};

struct scan_result {
  scan_status status;
  std::size_t consumed;
};

class reply_scanner {
 public:
  explicit reply_scanner(std::size_t max_depth = default_max_reply_depth);

  // Scans from the current state over [data, data+size), stopping after one top-level reply.
  scan_result scan(const char* data, std::size_t size);

  // About the top-level reply the last scan() completed:
  char type() const { return top_type_; }            // its type byte (after any attribute)
  bool is_push() const { return top_type_ == '>'; }  // RESP3 out-of-band push
  std::string_view head() const { return {head_, head_len_}; }  // first bytes of + or - content

  // True when no reply is in progress (an attribute before a value is part of its reply).
  bool at_boundary() const { return state_ == state::type && stack_.empty() && !top_attribute_; }
  const char* error_message() const { return error_; }
  void reset();
  // Bytes the scanner holds for the nesting of the reply in progress (8 per level, as allocated).
  std::size_t stack_bytes() const { return stack_.capacity() * sizeof(frame); }
  // Nesting of the reply in progress.
  std::size_t depth() const { return stack_.size(); }

  static constexpr std::size_t head_capacity = 16;

 private:
  enum class state : std::uint8_t {
    type,        // expecting a type byte
    line,        // inside a simple line, looking for CR
    line_lf,     // CR seen, expecting LF
    number,      // reading the length/count digits of $ ! = * % ~ > | ;
    number_lf,   // CR of the length line seen, expecting LF
    data,        // skipping blob bytes
    data_cr,     // expecting the CR after blob bytes
    data_lf,     // expecting the LF after blob bytes
    chunk_type,  // inside a streamed string, expecting ';'
    end_cr,      // '.' seen, expecting CR
    end_lf
  };
  // One level of nesting in one word: the elements still to come in the low 63 bits (all ones
  // for a streamed aggregate, which ends with '.'), and whether it is an attribute in the top bit.
  using frame = std::uint64_t;
  static constexpr frame attribute_bit = frame{1} << 63;
  static constexpr frame streamed_count = attribute_bit - 1;
  static constexpr frame count_of(frame f) { return f & ~attribute_bit; }

  scan_result fail(const char* why, std::size_t consumed);
  // A value ended; returns true if that finished a top-level reply.
  bool value_done();
  // The length line of the current type byte is complete.
  bool length_done(std::size_t pos, scan_result* out);

  std::size_t max_depth_;
  state state_ = state::type;
  char cur_type_ = 0;
  char top_type_ = 0;
  bool negative_ = false;
  bool streamed_ = false;
  bool any_digit_ = false;
  bool capture_head_ = false;
  bool top_attribute_ = false;  // a top-level attribute was read; the value it describes was not
  std::uint64_t number_ = 0;
  std::uint64_t data_left_ = 0;
  std::vector<frame> stack_;  // grows with the nesting; released again after a deep reply
  char head_[head_capacity];
  std::size_t head_len_ = 0;
  const char* error_ = "";
};

}  // namespace puppy::resp
