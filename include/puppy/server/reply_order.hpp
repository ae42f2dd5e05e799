#pragma once
// A client's replies released in request order when some are answered out of order: a PGET's
// second step, every request to a memcached pool. A request whose reply is not known yet
// reserves a slot; a reply that is known at once while a slot before it is still open is held
// (copied) behind that slot. Once the oldest slot is filled, it and everything held behind it,
// up to the next open slot, go out in order. No sockets: the session hands released bytes on.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "puppy/server/fifo.hpp"

namespace puppy::server::detail {

class reply_order {
 public:
  using slot_id = std::uint64_t;  // from 1, in reservation order

  // A slot for a reply to come, after everything reserved or held so far.
  slot_id reserve() {
    parts_.push_back({next_++, false, {}, {}});
    return parts_.back().id;
  }
  // The reply of a reserved slot that was not filled yet (an unknown or filled one: ignored).
  void fill(slot_id id, std::string_view reply) {
    if (parts_.empty() || id < parts_.front().id || id - parts_.front().id >= parts_.size()) {
      return;
    }
    part& p = parts_[static_cast<std::size_t>(id - parts_.front().id)];  // ids are consecutive
    if (p.filled) return;
    p.filled = true;
    p.reply.assign(reply);
    held_bytes_ += reply.size();
  }
  // A reply known now: false when no slot is open (the caller sends it itself, nothing is
  // kept); else it is held behind the last slot and true.
  bool hold(std::string_view reply) {
    if (parts_.empty()) return false;
    parts_.back().after.append(reply);
    held_bytes_ += reply.size();
    return true;
  }
  // fill() and release() at once; the oldest slot's reply is handed on without a copy.
  template <class Emit>
  void answer(slot_id id, std::string_view reply, Emit&& emit) {
    if (!parts_.empty() && parts_.front().id == id && !parts_.front().filled) {
      part& p = parts_.front();
      held_bytes_ -= p.after.size();
      emit(reply);
      if (!p.after.empty()) emit(std::string_view(p.after));
      drop(p);
    } else {
      fill(id, reply);
    }
    release(emit);
  }
  // Hands what is no longer behind an open slot to emit(std::string_view), oldest first.
  template <class Emit>
  void release(Emit&& emit) {
    while (!parts_.empty() && parts_.front().filled) {
      part& p = parts_.front();
      held_bytes_ -= p.reply.size() + p.after.size();
      emit(std::string_view(p.reply));
      if (!p.after.empty()) emit(std::string_view(p.after));
      drop(p);
    }
  }

  bool open() const { return !parts_.empty(); }           // a slot waits for its reply
  std::size_t slots() const { return parts_.size(); }     // reserved, not yet released
  std::size_t held_bytes() const { return held_bytes_; }  // copied here, not yet released

 private:
  struct part {
    slot_id id;
    bool filled;
    std::string reply;  // the slot's reply, once filled
    std::string after;  // replies known meanwhile that come after it
  };
  // Pops the front part, giving its bytes' memory back (the fifo keeps the part itself).
  void drop(part& p) {
    std::string().swap(p.reply);
    std::string().swap(p.after);
    parts_.pop_front();
  }
  fifo<part> parts_;  // consecutive ids from parts_.front().id; keeps its storage
  slot_id next_ = 1;
  std::size_t held_bytes_ = 0;
};

}  // namespace puppy::server::detail
