#pragma once
// Wakes PGET ... WAIT requests when their key is published. PSET, PRELEASE and PINVALIDATE
// PUBLISH the data key on the wake channel from inside their script, so every proxy instance
// sharing the upstream hears of it. Each worker has one hub: one subscriber connection
// (started on first use, reconnected with back-off) and the sessions waiting per key.
//
// The waiters of one key share their reads: when the key is published (or a waiter's timer
// says look again), one of them, the reader, asks Redis; a value it gets is given to every
// other waiter of the key on this worker, and if it gets none they go on waiting. So a
// thousand waiters cost Redis one read per publish, not a thousand.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "puppy/net/stream.hpp"
#include "puppy/server/reply_reader.hpp"

namespace puppy::server {

class session;
class worker;

class wake_hub {
 public:
  explicit wake_hub(worker& owner);
  wake_hub(const wake_hub&) = delete;
  wake_hub& operator=(const wake_hub&) = delete;

  // `s` hears on_wake() when `key` is published (or when the subscription was re-established,
  // since messages may have been missed) until it calls remove().
  void add(const std::string& key, const std::shared_ptr<session>& s);
  void remove(const std::string& key, const session* s);
  // Whether the subscription is established, so that waiters can trust to be woken.
  bool listening() const { return state_ == state::subscribed; }
  // `s` (waiting for `key`) wants to look again: it becomes the reader (s->attempt_now()) unless
  // another waiter of the key is reading, whose outcome it then gets.
  void ask(const std::string& key, const std::shared_ptr<session>& s);
  // The reader's look ended (and it will not look again by itself): `answer` (a PGET reply with
  // a value) goes to every other waiter of the key (on_peer_answer); without one they go on
  // waiting (on_peer_miss, `retry_after_ms` as the script said, -1: unknown).
  void outcome(const std::string& key, const session* s, const std::string* answer,
               std::int64_t retry_after_ms);
  void close();

 private:
  enum class state : std::uint8_t { idle, connecting, subscribing, subscribed, backing_off };

  void connect();
  void on_connected(const boost::system::error_code& ec);
  void on_ready(const boost::system::error_code& ec, const std::string& why);
  void write();
  void read();
  void on_message(std::string_view bytes);
  void notify(const std::string& key);
  void notify_all();
  void lost(const std::string& why);

  worker& owner_;
  net::stream socket_;
  boost::asio::steady_timer timer_;
  state state_ = state::idle;
  unsigned failures_ = 0;
  std::uint64_t generation_ = 0;
  std::string out_;              // the SUBSCRIBE request not yet written
  detail::reply_reader reader_;  // the subscription's messages
  struct key_waiters {
    std::vector<std::weak_ptr<session>> list;
    const session* reader = nullptr;  // the one asking Redis for all of them
  };
  void lead(key_waiters& w, bool published);  // makes the first live waiter the reader
  std::unordered_map<std::string, key_waiters> waiters_;
};

}  // namespace puppy::server
