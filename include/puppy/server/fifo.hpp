#pragma once
// A first-in first-out queue that keeps its storage: std::deque frees and allocates a block each
// time a steady stream of elements crosses one (every few PGETs for the session's read queue).
// Here the elements live in one vector read from `head_`; it is emptied when drained and
// compacted when the consumed part is at least half of it, so memory follows the longest queue
// and a push or pop costs no allocation once that size was reached.
#include <cstddef>
#include <utility>
#include <vector>

namespace puppy::server::detail {

template <class T>
class fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  T& operator[](std::size_t i) { return items_[head_ + i]; }  // i-th from the front
  // Elements held in storage, popped ones not yet dropped included.
  std::size_t stored() const { return items_.size(); }

  void push_back(T item) {
    if (head_ != 0 && head_ >= items_.size() / 2) compact();
    items_.push_back(std::move(item));
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (head_ != 0 && head_ >= items_.size() / 2) compact();
    return items_.emplace_back(std::forward<Args>(args)...);
  }
  void pop_front() {
    if (++head_ == items_.size()) clear();
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

  auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  void compact() {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }

  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) were popped
};

}  // namespace puppy::server::detail
