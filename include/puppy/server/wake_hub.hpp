#pragma once
// Wakes PGET ... WAIT requests when their key is published. PSET, PRELEASE and PINVALIDATE
// PUBLISH the data key on the wake channel from inside their script, so every proxy instance
// sharing the upstream hears of it. Each worker has one hub: one subscriber connection
// (started on first use, reconnected with back-off) and the requests waiting per key, whose
// reads it shares (wake_waiters.hpp).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "puppy/net/stream.hpp"
#include "puppy/server/reply_reader.hpp"
#include "puppy/server/wake_waiters.hpp"

namespace puppy::server {

class worker;

class wake_hub {
 public:
  explicit wake_hub(worker& owner);
  wake_hub(const wake_hub&) = delete;
  wake_hub& operator=(const wake_hub&) = delete;

  // `w` is woken when `key` is published (or when the subscription was re-established, since
  // messages may have been missed) until it calls remove(); and the rest of wake_waiters.
  void add(const std::string& key, const std::shared_ptr<wake_listener>& w);
  void remove(const std::string& key, const wake_listener* w) { waiters_.remove(key, w); }
  // Whether the subscription is established, so that waiters can trust to be woken.
  bool listening() const { return state_ == state::subscribed; }
  void ask(const std::string& key, const std::shared_ptr<wake_listener>& w) {
    waiters_.ask(key, w);
  }
  void outcome(const std::string& key, const wake_listener* w, const std::string* answer,
               std::int64_t retry_after_ms) {
    waiters_.outcome(key, w, answer, retry_after_ms);
  }
  void close();
  // The primary moved: the subscription starts again, on the new primary.
  void move() {
    if (state_ != state::idle) lost("the primary moved");
  }

 private:
  enum class state : std::uint8_t { idle, connecting, subscribing, subscribed, backing_off };

  void connect();
  void on_connected(const boost::system::error_code& ec);
  void on_ready(const boost::system::error_code& ec, const std::string& why);
  void write();
  void read();
  void on_message(std::string_view bytes);
  void lost(const std::string& why);

  worker& owner_;
  net::stream socket_;
  boost::asio::steady_timer timer_;
  state state_ = state::idle;
  unsigned failures_ = 0;
  std::uint64_t generation_ = 0;
  std::string out_;              // the SUBSCRIBE request not yet written
  detail::reply_reader reader_;  // the subscription's messages
  wake_waiters waiters_;
};

}  // namespace puppy::server
