#include "puppy/server/wake_waiters.hpp"

#include <algorithm>

namespace puppy::server {

void wake_waiters::add(const std::string& key, const std::shared_ptr<wake_listener>& w) {
  keys_[key].list.push_back(w);
}

void wake_waiters::remove(const std::string& key, const wake_listener* w) {
  const auto it = keys_.find(key);
  if (it == keys_.end()) return;
  auto& list = it->second.list;
  list.erase(std::remove_if(list.begin(), list.end(),
                            [w](const std::weak_ptr<wake_listener>& weak) {
                              const auto p = weak.lock();
                              return !p || p.get() == w;
                            }),
             list.end());
  if (list.empty()) {
    keys_.erase(it);
    return;
  }
  if (it->second.reader == w) {
    // The reader left before its outcome: another one looks.
    it->second.reader = nullptr;
    lead(it->second, true);
  }
}

void wake_waiters::lead(key_waiters& w, bool published) {
  for (const auto& weak : w.list) {
    if (auto p = weak.lock()) {
      w.reader = p.get();
      p->attempt_now(published);
      return;
    }
  }
}

void wake_waiters::ask(const std::string& key, const std::shared_ptr<wake_listener>& w) {
  const auto it = keys_.find(key);
  if (it == keys_.end()) {
    w->attempt_now(false);  // not registered (yet): on its own
    return;
  }
  if (it->second.reader != nullptr) return;  // the reader's outcome will come
  it->second.reader = w.get();
  w->attempt_now(false);
}

void wake_waiters::outcome(const std::string& key, const wake_listener* w,
                           const std::string* answer, std::int64_t retry_after_ms) {
  const auto it = keys_.find(key);
  if (it == keys_.end()) return;
  if (it->second.reader == w) it->second.reader = nullptr;
  std::vector<std::shared_ptr<wake_listener>> others;
  for (const auto& weak : it->second.list) {
    if (auto p = weak.lock(); p && p.get() != w) others.push_back(std::move(p));
  }
  // Each may finish (and remove itself) or look again (and become the reader).
  for (auto& o : others) {
    if (answer != nullptr) {
      o->on_peer_answer(*answer);
    } else {
      o->on_peer_miss(retry_after_ms);
    }
  }
}

void wake_waiters::published(const std::string& key) {
  const auto it = keys_.find(key);
  if (it == keys_.end()) return;
  key_waiters& w = it->second;
  if (w.reader != nullptr) {
    // It looks again once its current look is answered (the publish may have come after).
    for (const auto& weak : w.list) {
      if (auto p = weak.lock(); p && p.get() == w.reader) {
        p->on_wake();
        return;
      }
    }
    w.reader = nullptr;
  }
  lead(w, true);
}

void wake_waiters::published_all() {
  std::vector<std::string> keys;
  for (const auto& entry : keys_) keys.push_back(entry.first);
  for (const auto& key : keys) published(key);  // anything published meanwhile may be missed
}

void wake_waiters::wake_all() {
  std::vector<std::shared_ptr<wake_listener>> all;
  for (const auto& entry : keys_) {
    for (const auto& weak : entry.second.list) {
      if (auto p = weak.lock()) all.push_back(std::move(p));
    }
  }
  for (auto& w : all) w->on_wake();  // (each may remove itself)
}

}  // namespace puppy::server
