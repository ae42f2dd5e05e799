// Which reply belongs to which request on a Redis connection: relayed, captured, or followed by
// a reply the proxy made.
#include "puppy/server/reply_ledger.hpp"

namespace puppy::server {

void reply_ledger::reply_local(std::string bytes) {
  if (idle()) {
    out_.copy(bytes);
  } else {
    pending_local_.push_back({sent_, std::move(bytes)});
  }
}

void reply_ledger::enter_passthrough(bool raw) {
  if (!passthrough_at_) passthrough_at_ = sent_;
  reset_waiting_ = false;
  raw_ = raw_ || raw;
}

void reply_ledger::after_reply() {
  while (!pending_local_.empty() && pending_local_.front().after <= received_) {
    out_.copy(pending_local_.front().bytes);
    pending_local_.pop_front();
  }
  if (watch_each_) listener_.on_counted();
}

void reply_ledger::take_capture(const char* data, std::size_t len) {
  const captured_reply c = captures_.front();
  captures_.pop_front();
  if (capture_buf_.empty()) {  // the reply came whole: handled where it lies
    listener_.on_captured(c, std::string_view(data, len));
    return;
  }
  capture_buf_.append(data, len);
  capture_done_.swap(capture_buf_);
  capture_buf_.clear();
  listener_.on_captured(c, capture_done_);
}

void reply_ledger::deliver(const char* data, std::size_t len, bool reply_ends) {
  if (capturing_ || (!mid_reply_ && next_reply_captured())) {
    capturing_ = !reply_ends;
    mid_reply_ = !reply_ends;
    if (!reply_ends) {
      capture_buf_.append(data, len);
      return;
    }
    ++received_;
    take_capture(data, len);
    after_reply();
    return;
  }
  out_.view(data, len);
  mid_reply_ = !reply_ends;
  if (reply_ends) {
    ++received_;
    after_reply();
  }
}

bool reply_ledger::relay(const char* data, std::size_t n) {
  std::size_t pos = 0;
  std::size_t seg = 0;
  bool readonly = false;
  while (pos < n && !(raw_ && !counting())) {
    if (!capturing_ && scanner_.at_boundary() && counting() && next_reply_captured() &&
        data[pos] != '>') {
      out_.view(data + seg, pos - seg);  // what came before is relayed; this reply is ours
      seg = pos;
      capturing_ = true;
    }
    const auto r = scanner_.scan(data + pos, n - pos);
    pos += r.consumed;
    if (r.status == resp::scan_status::need_more) break;
    if (r.status == resp::scan_status::error) {
      if (!capturing_) out_.view(data + seg, pos - seg);
      return false;
    }
    if (scanner_.is_push()) continue;
    if (scanner_.type() == '-' && scanner_.head().rfind("READONLY", 0) == 0) readonly = true;
    if (capturing_) {
      const std::size_t from = seg;
      seg = pos;
      capturing_ = false;
      ++received_;
      take_capture(data + from, pos - from);
      after_reply();
      continue;
    }
    if (counting()) {
      if (received_ + 1 > sent_) {
        listener_.on_accounting_lost();
        enter_passthrough(false);
        passthrough_at_ = received_ = sent_;
        continue;
      }
      if (pending_local_.empty() && captures_.empty() && !watch_each_) {
        ++received_;
      } else {
        out_.view(data + seg, pos - seg);
        seg = pos;
        ++received_;
        after_reply();
      }
    } else if (reset_waiting_ && scanner_.type() == '+' && scanner_.head() == "RESET") {
      passthrough_at_.reset();
      raw_ = reset_waiting_ = false;
      sent_ = received_ + sent_since_reset_;
    }
  }
  if (capturing_) {
    capture_buf_.append(data + seg, n - seg);
  } else {
    out_.view(data + seg, n - seg);
  }
  if (readonly) listener_.on_readonly();
  return true;
}

}  // namespace puppy::server
