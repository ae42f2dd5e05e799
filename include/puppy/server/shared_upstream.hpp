#pragma once
// An upstream connection shared by the clients of one worker that so far sent only shareable
// (stateless, non-blocking) commands. Their complete requests are appended to one outgoing stream,
// written once per turn of the event loop, and each reply is routed back, in order, to the client
// whose request it answers. Many clients' requests thus reach Redis in one read, as they do
// through twemproxy, while any client that needs connection state gets a connection of its own.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "puppy/metrics/stats.hpp"
#include "puppy/net/stream.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/buffer.hpp"
#include "puppy/server/gather_queue.hpp"
#include "puppy/server/liveness_probe.hpp"
#include "puppy/server/reply_watchdog.hpp"

namespace puppy::server {

class session;
class worker;

class shared_upstream {
 public:
  enum class state : std::uint8_t { idle, connecting, up, down };

  explicit shared_upstream(worker& owner);
  shared_upstream(const shared_upstream&) = delete;
  shared_upstream& operator=(const shared_upstream&) = delete;

  // (While it moves, connecting: requests wait for the new connection.)
  state current() const { return moving_ ? state::connecting : state_; }
  // Starts connecting if there is no connection and the worker's back-off allows it.
  state ensure();

  // Appends `count` complete requests of `s` to the outgoing stream; their replies will be
  // delivered to `s` in order. Only while current() == state::up. With `lend`, the bytes may be
  // written from where they are instead of copied: then send() returns true, and they must stay
  // as they are until s->on_shared_written() is called (after this turn's write).
  bool send(const std::shared_ptr<session>& s, const char* data, std::size_t len,
            std::uint32_t count, bool lend = false);
  // Whether the PGET script was loaded on the current connection (a client loading it first sets
  // this, so that the next one need not).
  bool scripts_loaded() const { return scripts_loaded_; }
  void set_scripts_loaded(bool loaded = true) { scripts_loaded_ = loaded; }

  // Whether so many bytes wait to be written that clients should stop adding more.
  bool congested() const;
  // Calls s->on_shared_ready() once the state changes or the congestion clears.
  void wake_me(const std::shared_ptr<session>& s);

  // Sessions using this connection hear of its failure (they are closed, as if Redis restarted).
  void attach(session* s) { attached_.insert(s); }
  void detach(session* s) { attached_.erase(s); }

  void close();
  // The primary moved (Redis Sentinel): what is in flight is answered on this connection (its
  // replies are those requests'), then it connects to the new primary; requests wait meanwhile
  // (current() is connecting), and hear when it is up (wake_me).
  void move();

 private:
  struct route {
    std::shared_ptr<session> target;
    std::uint32_t left;  // replies still to deliver to it
  };

  void connect();
  void reconnect();     // a new connection now, this one dropped (nothing is in flight on it)
  void start_moving();  // move() with requests in flight: reconnect once they are answered
  void on_connected(const boost::system::error_code& ec);
  void on_ready(const boost::system::error_code& ec);  // connected and logged in
  // send() of bytes the session lends: queued as a view, written by this turn's flush.
  [[gnu::noinline]] bool lend_until_flush(const std::shared_ptr<session>& s, const char* data,
                                          std::size_t len);
  void schedule_flush();
  void flush();
  void pump();
  void arm_read_wait();
  void dispatch(std::size_t n);
  void fail(const std::string& why, metrics::error_kind kind = metrics::error_kind::upstream_lost);
  // The oldest request went unanswered for the response timeout: a client's slow script, or a
  // dead upstream? A liveness probe tells; only a dead upstream fails the connection.
  void on_reply_overdue();
  void wake_all();
  void wake_soon();
  // out_ keeps no lent byte: its lenders hear they may use their buffers again.
  void release_lenders();

  worker& owner_;
  net::stream socket_;
  boost::asio::steady_timer connect_timer_;
  state state_ = state::idle;
  std::string connect_error_;
  std::uint64_t generation_ = 0;  // bumped per connection; stale handlers check it
  bool scripts_loaded_ = false;
  bool moving_ = false;  // move(): reconnect once routes_ is empty
  std::chrono::steady_clock::time_point next_readonly_move_{};  // -READONLY moves: not before

  gather_queue out_;
  detail::iov_scratch iov_;                         // for out_'s writes
  std::vector<std::shared_ptr<session>> lenders_;   // whose bytes out_ lends, to release
  std::vector<std::shared_ptr<session>> released_;  // scratch of release_lenders()
  bool releasing_ = false;
  bool flush_scheduled_ = false;
  bool write_blocked_ = false;
  bool wake_posted_ = false;

  buffer in_;
  resp::reply_scanner scanner_;
  bool readable_ = true;
  bool read_wait_pending_ = false;
  std::deque<route> routes_;
  std::vector<std::shared_ptr<session>> touched_;
  std::vector<std::shared_ptr<session>> waiters_;  // strong: a waiting session has no I/O pending
  std::unordered_set<session*> attached_;
  reply_watchdog watchdog_;
  std::shared_ptr<liveness_probe> probe_;  // in flight after the watchdog expired
  std::uint64_t requests_ = 0;  // requests queued and replies read on the current connection
  std::uint64_t replies_ = 0;
  metrics::rtt_sampler rtt_;
};

}  // namespace puppy::server
