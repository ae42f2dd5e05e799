#pragma once
// Which reply from a Redis connection belongs to which request, for a client on a shared or on
// its own upstream connection: the requests sent are counted, and each reply that comes back is
// either relayed to the client (a view of the connection's read buffer, handed to the client's
// output without a copy), or captured for the proxy itself (a PGET step's reply, read instead of
// relayed). A reply the proxy makes (an error, QUIT's +OK) is queued after the replies of the
// requests sent before it, so it takes its request's place.
//
// Replies are not counted in pass-through (after SUBSCRIBE, MONITOR, CLIENT REPLY OFF: Redis
// answers without a one-to-one order), until a RESET's +RESET ends it; in a replication stream
// (SYNC) nothing is even scanned.
//
// No sockets: the session hands it the bytes it reads (relay()) or that the shared connection
// routes to it (deliver()), and it tells the session of captured replies and of each counted
// reply through ledger_listener.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/client_output.hpp"
#include "puppy/server/fifo.hpp"

namespace puppy::server {

// A reply the proxy reads itself: which one it is (`seq`, counted from 1), what it is for (the
// session's own `kind`) and the reply slot its answer fills (0: none).
struct captured_reply {
  std::uint8_t kind;
  std::uint64_t seq;
  std::uint64_t slot;
};

class ledger_listener {
 public:
  // A captured reply, whole (`bytes` valid during the call).
  virtual void on_captured(const captured_reply& c, std::string_view bytes) = 0;
  // A counted reply was taken (relayed or captured), and the local replies due after it queued.
  // Only while watch_each_reply() asked for it.
  virtual void on_counted() = 0;
  // More replies came than requests were counted: from here on they are relayed uncounted.
  virtual void on_accounting_lost() = 0;
  // A reply was -READONLY: the upstream is no longer the primary (after the reply is taken).
  virtual void on_readonly() = 0;

 protected:
  ~ledger_listener() = default;
};

class reply_ledger {
 public:
  // `out` (the client's output) and `listener` outlive this. `max_depth`: the reply scanner's
  // nesting limit, for what relay() reads.
  reply_ledger(client_output& out, ledger_listener& listener, std::size_t max_depth)
      : out_(out), listener_(listener), scanner_(max_depth) {}

  // ---- requests ----
  // One request sent whose reply is relayed (counted unless in pass-through; while RESET is
  // awaited, counted from when +RESET arrives).
  void sent_one() {
    if (!passthrough_at_) {
      ++sent_;
    } else if (reset_waiting_) {
      ++sent_since_reset_;
    }
  }
  // One request sent whose reply is captured (never in pass-through).
  void sent_captured(std::uint8_t kind, std::uint64_t slot = 0) {
    captures_.push_back({kind, sent_ + 1, slot});
    ++sent_;
  }
  // A reply made by the proxy: after the replies of every request counted so far.
  void reply_local(std::string bytes);
  // Whether a reply made now would go out at once (nothing counted is outstanding, nothing local
  // waits): then it may be written straight into the output.
  bool idle() const { return received_ >= sent_ && pending_local_.empty(); }
  bool answered() const { return received_ >= sent_; }  // every counted reply came
  std::uint64_t sent() const { return sent_; }
  std::uint64_t received() const { return received_; }
  bool locals_pending() const { return !pending_local_.empty(); }
  void drop_locals() { pending_local_.clear(); }
  // Writes whose replies never came may have run: take them as answered (the session ends).
  void settle_all() { received_ = sent_; }

  // ---- pass-through ----
  void enter_passthrough(bool raw);
  bool passthrough() const { return passthrough_at_.has_value(); }
  bool counting() const { return !passthrough_at_ || received_ < *passthrough_at_; }
  // RESET was sent in pass-through: counting starts again after its +RESET.
  void await_reset() {
    reset_waiting_ = true;
    sent_since_reset_ = 0;
  }
  // Whether the listener hears of every counted reply (a client moving to its own connection
  // waits for its last shared reply).
  void watch_each_reply(bool on) { watch_each_ = on; }

  // ---- replies ----
  // n bytes the client's own connection read (valid until the output's next write). Returns
  // false if they are not RESP (error_message() says why): what came before the bad reply was
  // relayed, and the connection must end.
  bool relay(const char* data, std::size_t n);
  std::string error_message() const { return scanner_.error_message(); }
  // Bytes the shared connection routed to this client: part of one reply, the rest of which
  // follows unless `reply_ends`. Valid until the output's next write.
  void deliver(const char* data, std::size_t len, bool reply_ends);

 private:
  struct pending_local {
    std::uint64_t after;  // emit once this many counted replies were relayed
    std::string bytes;
  };
  bool next_reply_captured() const {
    return !captures_.empty() && captures_.front().seq == received_ + 1;
  }
  void take_capture(const char* data, std::size_t len);
  void after_reply();  // a reply was counted: the local replies due now, the listener

  client_output& out_;
  ledger_listener& listener_;
  resp::reply_scanner scanner_;                  // of the own connection's replies
  std::uint64_t sent_ = 0;                       // counted requests sent upstream (shared or own)
  std::uint64_t received_ = 0;                   // counted replies taken
  std::optional<std::uint64_t> passthrough_at_;  // from this reply on, relay without counting
  bool raw_ = false;                             // replication stream: do not even scan
  bool reset_waiting_ = false;                   // RESET forwarded in pass-through
  std::uint64_t sent_since_reset_ = 0;
  bool watch_each_ = false;
  std::deque<pending_local> pending_local_;
  detail::fifo<captured_reply> captures_;
  std::string capture_buf_;   // the captured reply being read
  std::string capture_done_;  // the captured reply being handled (buffers swap, keep capacity)
  bool capturing_ = false;
  bool mid_reply_ = false;  // a shared delivery ended inside a reply
};

}  // namespace puppy::server
