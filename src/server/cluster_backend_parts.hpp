#pragma once
// The parts of a cluster_backend's work (cluster_backend.hpp), shared by its source files.
#include <array>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/cache/near_answer.hpp"
#include "puppy/cache/write_gens.hpp"
#include "puppy/cluster/keyless.hpp"
#include "puppy/cluster/slot_map.hpp"
#include "puppy/cluster/split.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/server/cluster_backend.hpp"
#include "puppy/server/recycling_allocator.hpp"
#include "puppy/server/shard_wakes.hpp"

namespace puppy::server {

// Replies and requests the cluster backend's files share.
namespace cluster_wire {
inline constexpr std::string_view asking_request = "*1\r\n$6\r\nASKING\r\n";
inline constexpr std::string_view crossslot =
    "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
inline constexpr std::string_view slot_not_served = "-CLUSTERDOWN Hash slot not served\r\n";

inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}
inline bool is_redirect(std::string_view r) {
  return starts_with(r, "-MOVED ") || starts_with(r, "-ASK ");
}
}  // namespace cluster_wire

// One client request: its reply slot and how its legs' replies make its answer.
struct cluster_backend::job {
  enum class merge : std::uint8_t { none, split, keyless, scan, getkeys } how = merge::none;
  std::shared_ptr<reply_sink> sink;
  std::uint64_t slot = 0;
  bool counted = false;  // in inflight_ until answered
  bool answered = false;
  bool own = false;    // its legs go to the client's own connections (a blocking command)
  bool read = false;   // a read (COMMAND's readonly flag): a replica may answer (--read-from)
  bool watch = false;  // WATCH: +OK makes the node that answered the client's watch node
  // A step of the proxy's own (a PGET's read, the script): its reply goes here, not to a slot.
  std::function<void(std::string_view)> then;
  std::optional<cluster::split_plan> plan;
  cluster::keyless policy = cluster::keyless::any_node;
  std::vector<std::string> replies;  // of the legs, when merged
  std::size_t outstanding = 0;
  std::size_t scan_node = 0;  // SCAN: the master asked, of `masters`
  std::size_t masters = 0;
  std::string original;           // COMMAND GETKEYS: the request whose keys it asks for
  std::vector<std::string> args;  // COMMAND GETKEYS, SCAN: the client's arguments
  std::size_t scan_want = 0;      // SCAN: COUNT
  std::size_t scan_got = 0;       // SCAN: elements gathered from the masters so far
  std::string scan_elements;
  // With the near cache: what it may write (expect_writes), bumped again when it is answered,
  // or when it ends unanswered (its client went: it may have run all the same).
  cache::write_note writes;
  cache::write_gens* gens = nullptr;

  job() = default;
  job(const job&) = delete;
  job& operator=(const job&) = delete;
  ~job() {
    if (gens != nullptr) writes.bump(*gens);
  }
};

// A job or a leg, made and dropped once per request: its block is recycled on the thread.
template <class T>
std::shared_ptr<T> make_part() {
  return std::allocate_shared<T>(detail::recycling_allocator<T>());
}

// A leg's request: kept inline up to inline_size bytes (a command with a key or two), so that
// most requests are not copied to the heap.
class request_bytes {
 public:
  static constexpr std::size_t inline_size = 96;
  void assign(std::string_view s) {
    if (s.size() <= inline_size) {
      std::memcpy(inline_.data(), s.data(), s.size());
      size_ = s.size();
      heap_.clear();
      on_heap_ = false;
    } else {
      heap_.assign(s);
      on_heap_ = true;
    }
  }
  request_bytes& operator=(std::string&& s) {
    heap_ = std::move(s);
    on_heap_ = true;
    return *this;
  }
  std::string_view view() const {
    return on_heap_ ? std::string_view(heap_) : std::string_view(inline_.data(), size_);
  }

 private:
  std::array<char, inline_size> inline_;
  std::size_t size_ = 0;
  bool on_heap_ = true;
  std::string heap_;
};

// One request to one node on behalf of a job, followed through redirections and retries.
struct cluster_backend::leg {
  std::shared_ptr<job> j;
  std::size_t index = 0;  // of the job's replies
  request_bytes bytes;
  bool by_slot = true;  // to the master of `slot`; else to `target`
  std::uint16_t slot = 0;
  cluster::node target;  // !by_slot: the node; asking: the node named by -ASK
  bool asking = false;
  cluster::node sent_to;  // own: the node of the connection it went to last
  int redirects = 0;
  int retries = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::unique_ptr<boost::asio::steady_timer> timer;
};

// A PGET-family request: its steps on the master of its key's slot (cluster_backend_pget.cpp).
// It may follow another PGET's read of its key on the worker's read board (read_listener), and
// a PGET ... WAIT shares its looks with the other waiters of its key (wake_listener).
struct cluster_backend::pget_flow : read_listener,
                                    wake_listener,
                                    std::enable_shared_from_this<pget_flow> {
  cluster_backend* backend = nullptr;
  std::shared_ptr<job> j;  // the client's request
  pget::op kind = pget::op::get;
  std::string key, status_key, token, value, channel;
  std::int64_t timeout = 0, update_time = 0, backoff = 0;
  double xfetch = 0;
  bool wait = false;  // PGET ... WAIT
  std::chrono::steady_clock::time_point deadline;
  std::unique_ptr<boost::asio::steady_timer> timer;
  std::string listen;              // the shard channel its wake-ups come on (WAIT)
  shard_wakes::registration wake;  // with the worker's shard_wakes while it waits
  bool in_flight = false;          // a look (read, script) is on its way
  bool woken = false;              // the channel was published meanwhile: look again after it
  std::uint16_t slot = 0;
  bool fill = false;      // the near cache: a fresh answer from the node fills a copy
  cache::stamp taken;     // the generations from before the read (fill)
  bool leads = false;     // its read is on the worker's read board; others may follow it
  bool followed = false;  // decided from another PGET's read (whose PGET heals, if need be)
  // The lease step (SET status NX GET + GET key): its token, clock, and replies so far.
  char lease_token[32];
  std::int64_t lease_now = 0;
  std::string lease_status, lease_value;
  int lease_replies = 0;

  void on_joined_read(const std::string& key, const read_board::follower& f,
                      const std::string_view* reply) override;
  // PGET ... WAIT among the waiters of its key on the worker (shard_wakes::waiters()).
  void on_wake() override;
  void attempt_now(bool published) override;
  void on_peer_answer(const std::string& reply) override;
  void on_peer_miss(std::int64_t retry_after_ms) override;
  // Whether another waiter's outcome is this one's: not while its own look is on its way, nor
  // once answered; a waiter whose client went ends here.
  bool takes_peer_outcome();
  pget::request request() const {
    pget::request r;
    r.kind = kind;
    r.key = key;
    r.token = token;
    r.value = value;
    r.timeout = timeout;
    r.update_time = update_time;
    r.backoff = backoff;
    return r;
  }
};

// A request that waits for the ones in flight (or for the topology).
struct cluster_backend::held {
  std::vector<std::string> args;
  resp::command_spec spec;
  std::string bytes;
  std::uint64_t slot;
};

// A transaction (MULTI ... EXEC/DISCARD) on the client's own connection to one node.
struct cluster_backend::transaction {
  struct kept_request {  // sent once the node is decided
    std::string bytes;
    std::optional<std::uint16_t> key_slot;
    bool record;
    std::shared_ptr<job> j;
  };
  bool decided = false;
  cluster::node node;                      // decided: where it runs
  std::vector<kept_request> kept;          // !decided: waiting for the node
  std::vector<std::string> requests;       // MULTI and the commands queued: sent again if it moves
  std::string exec;                        // the client's EXEC, for a replay
  std::optional<std::uint16_t> key_slot;   // the slot of its first key
  bool watched = false;                    // WATCH came first: it cannot move
  bool failed = false;                     // a command was refused: the node aborts it at EXEC
  std::optional<cluster::redirect> moved;  // its slot moved while queuing: it runs there
  cache::write_note writes;                // of the commands queued: they run at EXEC
  bool broken = false;                     // its connection failed: nothing more is sent
  std::string broken_reply;
  int redirects = 0;
  int retries = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::unique_ptr<boost::asio::steady_timer> timer;
};

// A request on the subscribed connections: its parts (one per connection), in order.
struct cluster_backend::sub_request {
  std::shared_ptr<job> j;
  std::string bytes;
  std::string name;     // the command's, lower case
  bool family = false;  // an (un)subscription, not a command sent while subscribed
  std::vector<std::string> parts;
  std::size_t outstanding = 0;
  int redirects = 0;
};

// One subscribed connection: the client's subscriptions on one node.
struct cluster_backend::subscriber {
  struct waiting {
    std::shared_ptr<sub_request> r;
    std::size_t part;
    std::string reply;  // its replies so far, and the messages that came between them
  };
  cluster::node node;
  std::unique_ptr<link> l;
  std::int64_t classic = 0;  // channels and patterns, as the node's last confirmation said
  std::int64_t shard = 0;    // shard channels
  std::deque<waiting> pending;
};

}  // namespace puppy::server
