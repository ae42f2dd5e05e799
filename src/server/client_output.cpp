// A client's output: replies queued in order, gathered into one write, the rest kept.
#include "puppy/server/client_output.hpp"

namespace puppy::server {

namespace {
constexpr std::size_t backlog_keep = 1024 * 1024;  // a drained backlog keeps this much room
}  // namespace

void client_output::answer(slot_id slot, std::string_view reply) {
  order_.answer(slot, reply, [this](std::string_view b) { emit(b); });
}

void client_output::copy(std::string_view bytes) {
  if (order_.hold(bytes)) return;  // copied behind an open slot
  emit(bytes);
}

void client_output::view(const char* data, std::size_t len) {
  if (len == 0) return;
  if (order_.hold(std::string_view(data, len))) return;  // copied behind an open slot
  bytes_out_.add(len);
  if (!pieces_.empty() && pieces_.back().data != nullptr &&
      pieces_.back().data + pieces_.back().len == data) {
    pieces_.back().len += len;
    return;
  }
  pieces_.push_back({data, 0, len});
}

void client_output::appended(std::size_t at) {
  bytes_out_.add(local_.size() - at);
  pieces_.push_back({nullptr, at, local_.size() - at});
}

void client_output::emit(std::string_view bytes) {
  bytes_out_.add(bytes.size());
  pieces_.push_back({nullptr, local_.size(), bytes.size()});
  local_ += bytes;
}

void client_output::keep_unsent(std::size_t first, std::size_t off) {
  // Copied in order, so that the buffers the views point into are free once this returns.
  for (std::size_t i = first; i < pieces_.size(); ++i) {
    const piece& p = pieces_[i];
    const char* bytes = p.data != nullptr ? p.data : local_.data() + p.offset;
    const std::size_t skip = i == first ? off : 0;
    backlog_.append(bytes + skip, p.len - skip);
  }
  pieces_.clear();
  local_.clear();
}

void client_output::backlog_written(std::size_t n) {
  backlog_off_ += n;
  if (backlog_off_ > backlog_keep && backlog_off_ * 2 > backlog_.size()) {
    backlog_.erase(0, backlog_off_);  // do not keep what was written
    backlog_off_ = 0;
  }
}

void client_output::backlog_drained() {
  backlog_off_ = 0;
  if (backlog_.capacity() > backlog_keep) {
    std::string().swap(backlog_);
  } else {
    backlog_.clear();
  }
}

void client_output::clear() {
  pieces_.clear();
  local_.clear();
}

}  // namespace puppy::server
