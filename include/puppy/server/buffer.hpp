#pragma once
// A growable byte buffer: [data(), data()+size()) holds bytes, [end(), end()+free()) is room to
// read into. Growing moves the bytes, so views into it are valid only until the next reserve().
#include <cstddef>
#include <cstring>
#include <memory>

namespace puppy::server {

class buffer {
 public:
  explicit buffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  char* end() { return data_.get() + size_; }
  std::size_t free() const { return capacity_ - size_; }

  // Marks n more bytes after the current end as filled.
  void commit(std::size_t n) { size_ += n; }

  // Makes room for at least n more bytes, doubling the capacity as needed.
  void reserve(std::size_t n) {
    if (free() >= n) return;
    std::size_t cap = capacity_;
    while (cap - size_ < n) cap *= 2;
    std::unique_ptr<char[]> bigger(new char[cap]);
    std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = cap;
  }

  // Drops the first n bytes, moving the rest to the front.
  void consume(std::size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_.get(), data_.get() + n, size_ - n);
    size_ -= n;
  }

  // Returns to `capacity` bytes if it grew beyond and holds no more than that.
  void shrink_to(std::size_t capacity) {
    if (capacity_ <= capacity || size_ > capacity) return;
    std::unique_ptr<char[]> smaller(new char[capacity]);
    std::memcpy(smaller.get(), data_.get(), size_);
    data_ = std::move(smaller);
    capacity_ = capacity;
  }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t size_ = 0;
};

}  // namespace puppy::server
