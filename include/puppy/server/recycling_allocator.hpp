#pragma once
// An allocator that keeps freed single objects of each size on a per-thread free list and hands
// them out again, for objects made and dropped once per request on a worker's thread (a
// cluster request's job and legs, with std::allocate_shared: object and control block in one
// block). Each thread keeps at most max_cached blocks per block size; what a thread still keeps
// is freed when it exits. (Asio's own recycling allocator is from Boost 1.79.) Built with
// AddressSanitizer every block goes back to the heap at once, so that a use after free of a
// recycled object is still caught.
#include <cstddef>
#include <new>

namespace puppy::server::detail {

// The free list of one block size on the calling thread.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool recycle_blocks = false;
#else
inline constexpr bool recycle_blocks = true;
#endif

template <std::size_t Size>
class block_cache {
 public:
  static constexpr std::size_t max_cached = recycle_blocks ? 4096 : 0;

  static void* take() {
    list& l = mine();
    if (l.head == nullptr) return ::operator new(Size);
    void* p = l.head;
    l.head = *static_cast<void**>(p);
    --l.count;
    return p;
  }
  static void give(void* p) {
    list& l = mine();
    if (l.closed || l.count == max_cached) {
      ::operator delete(p);
      return;
    }
    *static_cast<void**>(p) = l.head;
    l.head = p;
    ++l.count;
  }

 private:
  struct list {
    void* head = nullptr;
    std::size_t count = 0;
    bool closed = false;
    ~list() {  // the thread exits: free what it keeps, and keep nothing from now on
      closed = true;
      while (head != nullptr) {
        void* next = *static_cast<void**>(head);
        ::operator delete(head);
        head = next;
      }
      count = 0;
    }
  };
  static list& mine() {
    thread_local list l;
    return l;
  }
};

template <class T>
class recycling_allocator {
 public:
  using value_type = T;
  recycling_allocator() noexcept = default;
  template <class U>
  recycling_allocator(const recycling_allocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n != 1) return static_cast<T*>(::operator new(n * sizeof(T)));
    return static_cast<T*>(block_cache<block_size>::take());
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n != 1) {
      ::operator delete(p);
      return;
    }
    block_cache<block_size>::give(p);
  }

  template <class U>
  bool operator==(const recycling_allocator<U>&) const noexcept {
    return true;
  }
  template <class U>
  bool operator!=(const recycling_allocator<U>&) const noexcept {
    return false;
  }

 private:
  // A free block holds the list's next pointer.
  static constexpr std::size_t block_size = sizeof(T) < sizeof(void*) ? sizeof(void*) : sizeof(T);
  static_assert(alignof(T) <= alignof(std::max_align_t), "over-aligned types are not recycled");
};

}  // namespace puppy::server::detail
