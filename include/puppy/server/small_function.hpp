#pragma once
// A move-only callable of one signature that keeps a callable of up to InlineSize bytes in place.
// std::function (libstdc++) stores in place only trivially copyable callables of 16 bytes, so a
// lambda capturing a shared_ptr -- a node connection's callback for each request -- costs a heap
// allocation per request; this one does not. Larger callables go to the heap. Calling an empty
// one is undefined, as calling a null function pointer.
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace puppy::server::detail {

template <class Signature, std::size_t InlineSize = 32>
class small_function;

template <class R, class... Args, std::size_t InlineSize>
class small_function<R(Args...), InlineSize> {
 public:
  small_function() noexcept = default;
  small_function(std::nullptr_t) noexcept {}  // NOLINT: as std::function
  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, small_function> &&
                                     !std::is_same_v<D, std::nullptr_t> &&
                                     std::is_invocable_r_v<R, D&, Args...>>>
  small_function(F&& f) {  // NOLINT: as std::function
    if constexpr (fits<D>) {
      new (storage_) D(std::forward<F>(f));
      ops_ = &in_place<D>::table;
    } else {
      new (storage_) D*(new D(std::forward<F>(f)));
      ops_ = &on_heap<D>::table;
    }
  }
  small_function(small_function&& o) noexcept { take(o); }
  small_function& operator=(small_function&& o) noexcept {
    if (this != &o) {
      reset();
      take(o);
    }
    return *this;
  }
  small_function& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  small_function(const small_function&) = delete;
  small_function& operator=(const small_function&) = delete;
  ~small_function() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  R operator()(Args... args) const {
    return ops_->call(const_cast<unsigned char*>(storage_), std::forward<Args>(args)...);
  }
  void reset() noexcept {
    if (ops_ != nullptr) std::exchange(ops_, nullptr)->destroy(storage_);
  }

 private:
  struct ops {
    R (*call)(void*, Args&&...);
    void (*destroy)(void*) noexcept;
    void (*move)(void* from, void* to) noexcept;  // and destroys `from`
  };
  template <class F>
  static constexpr bool fits =
      sizeof(F) <= InlineSize &&
      alignof(F) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<F>;
  template <class F>
  struct in_place {
    static R call(void* s, Args&&... a) { return (*static_cast<F*>(s))(std::forward<Args>(a)...); }
    static void destroy(void* s) noexcept { static_cast<F*>(s)->~F(); }
    static void move(void* from, void* to) noexcept {
      new (to) F(std::move(*static_cast<F*>(from)));
      static_cast<F*>(from)->~F();
    }
    static constexpr ops table{&call, &destroy, &move};
  };
  template <class F>
  struct on_heap {
    static F* get(void* s) { return *static_cast<F**>(s); }
    static R call(void* s, Args&&... a) { return (*get(s))(std::forward<Args>(a)...); }
    static void destroy(void* s) noexcept { delete get(s); }
    static void move(void* from, void* to) noexcept { new (to) F*(get(from)); }
    static constexpr ops table{&call, &destroy, &move};
  };

  void take(small_function& o) noexcept {
    if (o.ops_ == nullptr) return;
    o.ops_->move(o.storage_, storage_);
    ops_ = std::exchange(o.ops_, nullptr);
  }

  alignas(std::max_align_t) unsigned char storage_[InlineSize];
  const ops* ops_ = nullptr;
};

}  // namespace puppy::server::detail
