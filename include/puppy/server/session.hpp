#pragma once
// One client connection.
//
// A client starts on its worker's shared upstream connection: its requests are copied into that
// connection's outgoing stream together with other clients' requests, and its replies are routed
// back to it. That is only done while every request it sent is a stateless, non-blocking data
// command (command_spec::shareable). The first request that needs connection state (SELECT,
// MULTI, AUTH, HELLO, SUBSCRIBE, BLPOP, CLIENT, an unknown command, ...) pins the client: once its
// shared replies are in, it gets an upstream connection of its own for the rest of its life, and
// from then on its bytes are forwarded unchanged in both directions. With shared connections
// turned off, every client is pinned from the start.
//
// Requests are framed to count them and to find protocol errors; replies are scanned to know
// where each ends. Replies the proxy makes itself (errors, QUIT's +OK) are spliced in at their
// request's place. I/O is reactor style: sockets are non-blocking, reads and writes are tried at
// once, and a wait is armed only when the kernel says it would block.
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "puppy/cache/near_answer.hpp"
#include "puppy/cache/write_gens.hpp"
#include "puppy/memcached/translate.hpp"
#include "puppy/metrics/stats.hpp"
#include "puppy/net/stream.hpp"
#include "puppy/pget/request.hpp"
#include "puppy/resp/request_framer.hpp"
#include "puppy/server/buffer.hpp"
#include "puppy/server/client_output.hpp"
#include "puppy/server/fifo.hpp"
#include "puppy/server/own_link.hpp"
#include "puppy/server/read_board.hpp"
#include "puppy/server/redis_link.hpp"
#include "puppy/server/reply_ledger.hpp"
#include "puppy/server/routed_backend.hpp"
#include "puppy/server/shared_link.hpp"
#include "puppy/server/wake_waiters.hpp"

namespace puppy::server {

class worker;

class session : public std::enable_shared_from_this<session>,
                public reply_sink,
                public read_listener,
                public wake_listener,
                private ledger_listener {
 public:
  // `shared` is the upstream connection to start on, or null to pin from the start. `tls`:
  // the client came to the TLS listener and speaks TLS with this context (null: plain).
  session(worker& owner, boost::asio::ip::tcp::socket client, shared_upstream* shared,
          const net::tls_context* tls);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start();
  // Graceful shutdown: no more requests are read; the session closes once its in-flight
  // requests are answered.
  void drain();
  // How long the client has been idle (zero if it waits for replies, is subscribed or blocked).
  std::chrono::steady_clock::duration idle_for(std::chrono::steady_clock::time_point now) const;
  // Closes both connections at once; pending replies are dropped. `why` is logged at debug.
  void close(const char* why = "proxy shutting down");
  // Like close(), but the client first gets a FIN after its last reply, and the socket is only
  // closed once the client has acknowledged every byte or has closed too (or close() is called,
  // as at the drain deadline); until then, what the client still sends is read and dropped.
  // Closing a socket with unread input sends a RST, which destroys replies still unsent.
  void close_lingering(const char* why);
  // One log line (info) for a connection error: the client's address, what, and why.
  void log_client_error(const char* what, const std::string& detail = {}) const;

  // For the shared upstream connection. `data` stays valid until flush_delivered() returns.
  void deliver(const char* data, std::size_t len, bool reply_ends);
  void flush_delivered();
  void on_shared_gone();
  void on_shared_ready();  // the shared connection's state changed or its backlog drained
  // The shared connection no longer needs the bytes of in_ it was lent (shared_upstream::send).
  void on_shared_written();
  // For the read board: the read this session joined was answered (`reply`, MGET's bytes), or
  // its leader went away (null: read for yourself).
  void on_joined_read(const std::string& key, const read_board::follower& f,
                      const std::string_view* reply) override;
  // For the wake hub: the key a PGET ... WAIT waits for was published (or may have been).
  void on_wake() override;
  // For the wake hub: look again now (this session is the key's reader). `published`: the key
  // was published, so a plain read probably finds the value; else the script looks.
  void attempt_now(bool published) override;
  // For the wake hub: another waiter of the same key got this answer (a PGET reply with a
  // value), or got none (go on waiting; look again after `retry_after_ms`, -1: unknown).
  void on_peer_answer(const std::string& reply) override;
  void on_peer_miss(std::int64_t retry_after_ms) override;
  // The worker's settings changed (a reload): take the new request limits.
  void on_reconfigured();
  // The primary moved (Redis Sentinel). A client on a connection of its own (or moving to one)
  // had its state on the old primary: it is closed after the replies to what it sent, as if
  // Redis had restarted, and reconnects to the new one. Shared clients go on as they are.
  void on_primary_moved();
  bool touched = false;  // owned by shared_upstream: delivered to during the current read

 private:
  struct readiness {
    bool readable = true;       // the kernel may have bytes for us
    bool wait_pending = false;  // a receive (or, with TLS, an async_wait) is armed
    std::size_t parked = 0;     // bytes the receive took into `side`, not yet read
    // Where the armed receive of a plain TCP client puts what it takes (session.cpp,
    // arm_client_wait): not in_, which may move while it waits.
    std::array<char, 2048> side;
  };
  // A reply the proxy reads itself instead of relaying (a PGET-family script's answer): what it
  // is for (captured_reply::kind, reply_ledger.hpp).
  struct capture {
    enum class what : std::uint8_t {
      discard,
      read,  // MGET key status: every PGET's first step
      get,
      integer,
      pset,
      fast_status,
      fast_value
    };
  };
  // A PGET whose read (MGET key status) is on its way: most are answered from it.
  struct pget_read {
    std::string key;
    bool fill = false;   // fill the near cache if the read finds the value fresh
    cache::stamp taken;  // the keys' write generations from before the read
    std::int64_t timeout = 0;
    std::int64_t update_time = 0;
    double xfetch = 0;       // BETA's beta * -ln(u), drawn when the request came (0: no BETA)
    bool wait = false;       // PGET ... WAIT: wait_ takes over unless the read answers it
    bool leads = false;      // others may join this read on the worker's read board
    bool joined = false;     // decided from another session's read (its leader heals)
    std::uint64_t slot = 0;  // the reply slot its answer fills (0: queued in order)
  };
  // A PGET taking the lease (SET status NX GET + GET key) waiting for its two replies.
  struct fast_pget {
    std::string key;
    char token[32];
    std::int64_t now_ms = 0;
    std::uint64_t slot = 0;    // the reply slot its answer fills (0: in order)
    std::string status_reply;  // the reply to SET ... GET (pget::answer_lease)
  };
  struct pget_wait;

  // Client -> upstream (session.cpp).
  void resume();
  void pump_client();
  bool may_read_client() const;
  bool may_receive() const;  // into the side buffer: as may_read_client(), even while in_ is lent
  void arm_client_wait();
  void start_client_receive();
  void take_client_bytes(const char* data, std::size_t n);
  void on_client_bytes();
  void process_requests();
  bool on_request(const resp::framed_command& cmd, std::size_t cmd_start, std::size_t pos);
  // The proxy's password (session_auth.cpp). Returns true if the gate dealt with the request;
  // *go_on is then on_request()'s result.
  bool gate_request(const resp::framed_command& cmd, std::size_t start, std::size_t pos,
                    bool* go_on);
  bool gate_holds_partial() const;  // an unfinished request must wait here for the gate
  void set_authenticated(bool on);
  // Answers a request here, in its place among the replies (any mode).
  void answer_here(std::size_t start, std::size_t pos, std::string reply);
  // PUPPY STATS and PUPPY HELP (session_puppy.cpp): the reply.
  std::string proxy_command(const std::vector<std::string_view>& args) const;
  // The link is being opened for the request at `start` (redis_link::admission::wait): the
  // round stops before it, and it is framed again once the connection is up or has failed.
  // Returns on_request()'s result.
  bool wait_for_link(std::size_t start);
  // The bytes of in_ from fwd_begin_ to `end` (and the requests counted among them) go to the
  // link; fwd_begin_ moves to `end`.
  void flush_to(std::size_t end);
  // A request the link does not take (`kind`): QUIT and RESET are answered here, anything else
  // pins the client. Returns on_request()'s result.
  bool refused_by_link(resp::command_kind kind, std::size_t start, std::size_t pos);
  void begin_pin(std::size_t cmd_start);
  void connect_own();  // connect_upstream(), unless the back-off says to wait
  void reprocess_later();
  void finish_pin_if_ready();
  void finish_request_round();
  void on_client_eof();
  // The client has gone while a request of its blocks (a blocking command, PGET ... WAIT):
  // closes the session at once and returns true.
  bool close_if_gone_while_blocked();

  // The client's own upstream connection (session_upstream.cpp).
  void connect_upstream();
  void on_upstream_ready(const boost::system::error_code& ec);  // connected and logged in
  std::string unavailable_reply() const;
  void flush_upstream();
  void pump_upstream();
  void arm_upstream_wait();
  void on_upstream_gone(const std::string& why,
                        metrics::error_kind kind = metrics::error_kind::upstream_lost);
  // ledger_listener: a counted reply was taken (a pinning client may now move to its own
  // connection), more replies came than were counted (logged).
  void on_counted() override;
  void on_accounting_lost() override;
  // -READONLY on the client's own connection: the upstream is no longer the primary. The client
  // is closed after its replies (its state was there), as on a failover, and reconnects.
  void on_readonly() override;
  void send_owned(const std::string& bytes);

  // For a memcached or Redis Cluster upstream (backend_, routed_backend.hpp): every request has a
  // reply slot, and the backend answers it (reply_sink, session_output.cpp).
  void answer(std::uint64_t slot, std::string_view reply) override;
  void answers_ready() override;  // flush_client() once the batch of responses is dispatched
  bool gone() const override { return closed_; }
  void push(std::string_view bytes) override;
  void end() override { close_after_replies_ = true; }
  bool flush_posted_ = false;

  // The PGET family (session_pget.cpp).
  bool on_pget(const resp::framed_command& cmd, std::size_t start, std::size_t pos);
  void send_calls(const std::string& bytes, std::initializer_list<capture::what> kinds,
                  bool needs_script, std::uint64_t slot = 0);
  void on_read_reply(std::string_view bytes);
  void resolve_read(const pget_read& rd, std::string_view bytes);
  // A PGET's read could not answer it: take the lease, or ask the script, in a second step.
  void send_lease_step(const pget_read& rd, std::uint64_t slot);
  void send_script_get(const pget_read& rd, const std::string& status_key, std::uint64_t slot);
  void send_heal(std::string_view key);  // drops the status of an evicted value
  void answer_pget(std::uint64_t slot, const std::string& reply);
  void send_raw(const std::string& bytes, unsigned count);
  // Where requests go. A client starts on the shared link (or its own, with shared connections
  // off). Pinning: requests wait until every shared reply is in, then go to own_. Routed: a
  // memcached or Redis Cluster upstream answers every request (backend_); no link is used.
  bool routed() const { return backend_ != nullptr; }
  bool sharing() const { return link_ == &shared_ && !pinning_; }
  bool on_own() const { return link_ == &own_ && !routed(); }
  void on_captured(const captured_reply& c, std::string_view bytes) override;
  void on_get_reply(std::string_view bytes, std::uint64_t slot);
  void on_fast_reply(std::string_view value_bytes);
  void send_wait_attempt();
  void send_wait_read();
  void after_wait_miss(std::int64_t retry_after_ms);
  void finish_wait(const std::string& reply);

  // The near cache (session_near.cpp).
  // Whether this client may be answered from the near cache: database 0 as clients of the
  // shared connections see it, not in MULTI, not in pass-through, no tracking of its own.
  bool near_usable() const;
  // Answers a PGET from a fresh copy (true), unless BETA refreshes early or there is none.
  bool near_pget_hit(std::string_view key, double xfetch, std::string* reply);
  // Answers GET/MGET of keys under --near-cache-prefix from copies (true), or asks for fills.
  bool near_get_hit(const resp::framed_command& cmd, std::size_t start, std::size_t pos);
  cache::stamp near_stamp(std::string_view key, std::string_view status_key) const;
  // Read-your-writes: before a command that may write keys is forwarded, their generations are
  // bumped; mark_written() (once the ledger counts it) bumps them again when its reply arrives.
  void note_write(const resp::framed_command& cmd);
  void note_keys_written(std::string_view key, std::string_view status_key);
  void mark_written();
  void settle_writes();  // the replies that arrived: bump their writes' generations again
  void note_state(const resp::framed_command& cmd);  // SELECT, HELLO, CLIENT TRACKING, RESET
  struct write_mark {
    std::uint64_t seq;  // the reply after which the writes are done
    cache::write_note note;
  };
  std::deque<write_mark> write_marks_;
  cache::write_note written_;  // of the command being forwarded
  bool written_pending_ = false;
  cache::write_note multi_writes_;  // of the commands queued in MULTI
  bool db_zero_ = true;
  bool own_tracking_ = false;
  bool resp3_ = false;

  // Replies to the client (session_output.cpp; the output itself is out_, client_output.hpp).
  // A reply slot's answer: out in order, and the requests that waited for the PGETs before
  // them are framed again once none is open.
  void fill_slot(std::uint64_t id, std::string_view bytes);
  void reply_local(std::string bytes);
  // Whether a reply made here may be appended to the output directly (nothing queued or held
  // before it): out_.appending(), then out_.appended(where it began).
  bool may_emit_now() const;
  void flush_client();
  void write_backlog();
  void arm_client_write_wait();
  void maybe_finish();

  worker& owner_;
  net::stream client_;
  const net::tls_context* client_tls_;  // the TLS listener's context; null: plain
  shared_link shared_;
  redis_link* link_;      // &shared_ or &own_ (routed: &own_, never up)
  bool pinning_ = false;  // on shared_, waiting for its replies before moving to own_

  // Requests.
  resp::request_framer framer_;
  buffer in_;                    // bytes read from the client not yet done with
  std::size_t held_ = 0;         // leading bytes of in_ the framer consumed but not yet forwarded
  std::size_t tail_ = 0;         // after a round: where the bytes to keep start
  std::size_t fwd_begin_ = 0;    // in_'s bytes from here on are not yet given to the link
  std::uint32_t fwd_count_ = 0;  // requests among them
  // The shared connection writes requests from in_ (not copied): until it has, in_ stays as it
  // is (no read, no new round), and a round that ended waits to drop its bytes.
  bool lent_ = false;
  bool round_waits_write_ = false;
  readiness client_rx_;
  bool round_pending_ = false;    // bytes wait for an upstream connection or the pin to finish
  bool reframe_pending_ = false;  // a posted round will frame in_ again: do not read meanwhile
  bool dropping_ = false;         // the head of the current request was dropped (no upstream then)
  bool recounted_ = false;        // the next request framed was counted when first framed
  std::string error_after_eof_;   // pass-through: a protocol error sent once the upstream closed
  bool client_eof_ = false;
  bool draining_ = false;
  std::chrono::steady_clock::time_point last_read_ = std::chrono::steady_clock::now();
  bool close_after_replies_ = false;

  // The client's own upstream connection.
  own_link own_;
  boost::asio::steady_timer linger_timer_;  // close_lingering()'s polls
  bool round_active_ = false;  // in_ is being processed: its ranges are queued upstream
  bool in_multi_ = false;
  bool quit_forwarded_ = false;  // QUIT went to the own connection: Redis will close it
  bool authenticated_ = true;    // false until AUTH when the proxy has a password

  // PGET state on a Redis connection (its replies: ledger_).
  metrics::rtt_sampler rtt_;    // own connection's round trips
  std::string send_buf_;        // scratch for building script calls
  std::string status_key_buf_;  // scratch for on_pget's status key
  std::unique_ptr<pget_wait> wait_;
  std::deque<fast_pget> fast_;
  detail::fifo<pget_read> reads_;  // PGETs whose read is on its way, in order
  // Pinned: a request that may block waits until no PGET's answer depends on a later reply
  // (its second step would queue behind it); resumed once reads_ and the slots are done.
  bool round_waits_pget_ = false;
  std::unique_ptr<routed_backend> backend_;  // with a memcached or Redis Cluster upstream
  bool fast_ok_ = true;  // the upstream takes SET NX GET (Redis 7.0); else every PGET is a script

  // Output to the client, and which reply of a Redis connection is whose (shared or own).
  client_output out_;
  reply_ledger ledger_;
  bool closed_ = false;
  bool lingering_ = false;        // closed, but the client socket waits for the client's FIN
  void release(const char* why);  // close() but for the client socket
  void discard_until_eof();
  void watch_unsent();
};

// A PGET ... WAIT waiting for its key; owns copies of what its attempts are built from.
struct session::pget_wait {
  explicit pget_wait(boost::asio::io_context& ioc) : timer(ioc) {}
  std::string key;
  std::string status_key;
  pget::request request;  // its key views `key`
  std::chrono::steady_clock::time_point deadline;
  bool in_flight = false;  // an attempt's answer is awaited
  bool woken = false;      // the key was published while an attempt was in flight
  bool waited = false;     // an attempt found no value (counted in puppy_pget_waits_total)
  bool listening = false;  // registered with the wake hub
  boost::asio::steady_timer timer;
};

}  // namespace puppy::server
