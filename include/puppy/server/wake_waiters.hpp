#pragma once
// The PGET ... WAIT requests of one worker waiting for their keys (wake_hub.hpp hears the
// publishes): who waits for which key, and which of a key's waiters looks.
//
// The waiters of one key share their reads: when the key is published (or a waiter's timer
// says look again), one of them, the reader, asks Redis; a value it gets is given to every
// other waiter of the key, and if it gets none they go on waiting. So a thousand waiters cost
// Redis one read per publish, not a thousand. No sockets: unit-tested with fake waiters.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace puppy::server {

// A waiting PGET, as the waiters' bookkeeping sees it (a session).
class wake_listener {
 public:
  // Its key was published while it was looking (it looks again once that look is answered).
  virtual void on_wake() = 0;
  // Look now: it is the reader. `published`: the key was published, so a plain read probably
  // finds the value; else the script looks.
  virtual void attempt_now(bool published) = 0;
  // The reader got this answer (a PGET reply with a value), or none (go on waiting; look again
  // after `retry_after_ms`, -1: unknown).
  virtual void on_peer_answer(const std::string& reply) = 0;
  virtual void on_peer_miss(std::int64_t retry_after_ms) = 0;

 protected:
  ~wake_listener() = default;
};

class wake_waiters {
 public:
  // `w` waits for `key` until it calls remove(). Held weakly: one that is gone is skipped.
  void add(const std::string& key, const std::shared_ptr<wake_listener>& w);
  // `w` waits no more. If it was the reader, another waiter looks at once.
  void remove(const std::string& key, const wake_listener* w);
  // `w` (waiting for `key`) wants to look again: it becomes the reader (w->attempt_now(false))
  // unless another waiter of the key is looking, whose outcome it then gets.
  void ask(const std::string& key, const std::shared_ptr<wake_listener>& w);
  // The reader `w` looked and will not look again by itself: `answer` (a PGET reply with a
  // value) goes to every other waiter of the key; without one they go on waiting.
  void outcome(const std::string& key, const wake_listener* w, const std::string* answer,
               std::int64_t retry_after_ms);
  // `key` was published: its reader, if looking, is told (on_wake); else the first waiter
  // still there becomes the reader and looks.
  void published(const std::string& key);
  // Anything may have been published (the subscription was (re-)established): every key.
  void published_all();
  // Shutting down: every waiter is woken (on_wake), to see that its client is gone.
  void wake_all();
  bool empty() const { return keys_.empty(); }
  void clear() { keys_.clear(); }

 private:
  struct key_waiters {
    std::vector<std::weak_ptr<wake_listener>> list;
    const wake_listener* reader = nullptr;  // the one asking Redis for all of them
  };
  void lead(key_waiters& w, bool published);  // makes the first live waiter the reader
  std::unordered_map<std::string, key_waiters> keys_;
};

}  // namespace puppy::server
