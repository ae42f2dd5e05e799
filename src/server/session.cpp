// Session lifecycle and the client -> upstream direction: framing, forwarding, pinning (reading
// the client is in session_input.cpp).
#include "puppy/server/session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <cstring>
#include <utility>

#include "puppy/resp/ascii.hpp"
#include "puppy/server/cluster_backend.hpp"
#include "puppy/server/io_util.hpp"
#include "puppy/server/memcached_backend.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/wake_hub.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t session_buffer_size = 16 * 1024;  // initial size of each direction's buffer

}  // namespace

using detail::would_block;

session::session(worker& owner, tcp::socket client, shared_upstream* shared,
                 const net::tls_context* tls)
    : owner_(owner),
      client_(std::move(client)),
      client_tls_(tls),
      shared_(*this, owner, shared),
      link_(shared != nullptr && owner.memcached() == nullptr && owner.cluster() == nullptr
                ? static_cast<redis_link*>(&shared_)
                : &own_),
      framer_(owner.config().limits),
      in_(session_buffer_size),
      own_(owner),
      linger_timer_(owner.context()),
      out_(owner.stats().bytes_out),
      ledger_(out_, *this, owner.config().max_reply_depth) {
  owner_.attach(this);
  if (!owner.config().requirepass.empty()) set_authenticated(false);
  if (owner.near_on()) framer_.set_capture_keys(cache::near_cache::max_key_size);
  if (owner_.memcached() != nullptr) {
    backend_ = std::make_unique<memcached_backend>(owner_);
  } else if (owner_.cluster() != nullptr) {
    backend_ = std::make_unique<cluster_backend>(owner_);
  }
}

session::~session() {
  ledger_.settle_all();  // writes whose replies never came may have run: settle them all
  settle_writes();
  if (wait_) owner_.wakes().remove(wait_->key, this);
  owner_.detach(this);
}

void session::start() {
  error_code ec;
  client_.socket().set_option(tcp::no_delay(true), ec);
  client_.socket().non_blocking(true, ec);
  if (client_tls_ != nullptr && !client_.accept_tls(*client_tls_, ec)) {
    owner_.log().warn("cannot start TLS with a client: {}", client_.describe(ec));
    close("TLS failed");
    return;
  }
  if (routed()) {
    framer_.set_capture_all(true);
    const auto text = [](const tcp::endpoint& e) {
      return e.address().to_string() + ":" + std::to_string(e.port());
    };
    const auto peer = client_.socket().remote_endpoint(ec);
    const auto local = client_.socket().local_endpoint(ec);
    backend_->describe_client(text(peer), text(local), client_.socket().native_handle());
  } else if (sharing()) {
    shared_.join();
  } else {
    connect_own();
  }
  pump_client();
}

void session::on_reconfigured() {
  framer_.set_limits(owner_.config().limits);
}

void session::resume() {
  if (closed_) return;
  pump_upstream();
  pump_client();
  maybe_finish();
}

// ---- framing and forwarding ---------------------------------------------------------------------

void session::process_requests() {
  // A PGET ... WAIT holds back what follows it; a round in flight owns in_.
  if (wait_ || closed_ || round_active_ || own_.blocked() || reframe_pending_) return;
  round_active_ = true;
  const char* base = in_.data();
  const std::size_t len = in_.size();
  std::size_t pos = held_;
  fwd_begin_ = 0;
  fwd_count_ = 0;
  for (;;) {
    const auto r = framer_.parse(base + pos, len - pos);
    pos += r.consumed;
    if (r.status == resp::frame_status::command) {
      if (!recounted_) owner_.stats().commands.add();
      recounted_ = false;
      const auto& cmd = framer_.command();
      const std::size_t start = pos - std::min<std::size_t>(pos, cmd.wire_size);
      if (cmd.argc > 0 && !on_request(cmd, start, pos)) break;
      continue;
    }
    if (r.status == resp::frame_status::need_more) {
      const std::size_t partial = std::min<std::size_t>(pos, framer_.partial_bytes());
      if (link_->whole_requests_only()) {
        // Keep an unfinished request here, unless the link will not take it (it cannot be
        // shared, or grows too big to keep), which pins the client.
        if (framer_.name_known() && !gate_holds_partial() &&
            !link_->takes(framer_.partial_spec(), partial)) {
          begin_pin(pos - partial);
          break;
        }
        held_ = partial;
        flush_to(pos - partial);
        tail_ = pos - partial;
        break;
      }
      // A request's name decides where it goes.
      // (A routed backend that needs a request's bytes gets it whole.)
      const bool name_decides =
          framer_.name_known() && !gate_holds_partial() && (!routed() || !backend_->needs_bytes());
      held_ = name_decides ? 0 : partial;
      if (name_decides && partial > 0 && !own_.up() && !routed()) {
        dropping_ = true;
      }
      flush_to(pos - held_);
      tail_ = pos - held_;
      break;
    }
    // A protocol error: what came before it is forwarded, then the error, then the connection
    // closes once the replies before it are out, as Redis does.
    const std::size_t partial = std::min<std::size_t>(pos, framer_.partial_bytes());
    flush_to(pos - partial);
    log_client_error("protocol error; connection closed after the replies before it",
                     framer_.error_message());
    owner_.stats().error(metrics::error_kind::protocol);
    if (on_own() && ledger_.passthrough() && own_.up()) {
      // Replies are not counted now: end the upstream's input, relay all it still sends, then
      // the error (on_upstream_gone), as Redis would have answered before closing.
      // (The upstream's input is ended once this round's bytes are written: see
      // finish_request_round.)
      error_after_eof_ = "-ERR " + framer_.error_message() + "\r\n";
    } else {
      reply_local("-ERR " + framer_.error_message() + "\r\n");
    }
    close_after_replies_ = true;
    held_ = 0;
    tail_ = len;
    break;
  }
  if (own_.queued()) flush_upstream();
  if (!own_.blocked()) finish_request_round();
  flush_client();
  maybe_finish();
}

bool session::on_request(const resp::framed_command& cmd, std::size_t start, std::size_t pos) {
  if (bool go_on = true; gate_request(cmd, start, pos, &go_on)) return go_on;
  if (cmd.spec.kind == resp::command_kind::proxy) {
    answer_here(start, pos, proxy_command(cmd.args));
    return true;
  }
  if (routed()) {
    backend_->submit(cmd, std::string_view(in_.data() + start, pos - start), out_.reserve(),
                     shared_from_this());
    if (!backend_->quit()) return true;
    close_after_replies_ = true;  // QUIT: nothing after it is read
    tail_ = in_.size();
    return false;
  }
  if (cmd.spec.near_read && near_get_hit(cmd, start, pos)) return true;
  const auto admitted = link_->admit(cmd.spec, cmd.wire_size);
  if (admitted == redis_link::admission::refuse) return refused_by_link(cmd.spec.kind, start, pos);
  if (admitted == redis_link::admission::wait) return wait_for_link(start);
  if (cmd.spec.kind == resp::command_kind::pget) return on_pget(cmd, start, pos);
  if (!cmd.spec.shareable && (!reads_.empty() || out_.slots_open())) {
    // A PGET's answer may still take a second step on this connection: a request that may
    // block (BLPOP, WAIT, ...) must not go before it. It is framed again once every PGET
    // before it is answered.
    flush_to(start);
    tail_ = start;
    held_ = 0;
    framer_.reset();
    recounted_ = true;
    round_waits_pget_ = true;
    return false;
  }
  if (admitted == redis_link::admission::down || dropping_) {
    // No upstream, or none when this request's head went by: it is answered here, whole.
    dropping_ = false;
    flush_to(start);
    fwd_begin_ = pos;
    reply_local(unavailable_reply());
    return true;
  }
  ++fwd_count_;
  if (cmd.spec.shareable) {
    // No connection state, no pass-through, nothing to watch (the shared connection's every
    // request: the per-request path).
    ledger_.sent_one();
    if (owner_.near_on()) {
      note_write(cmd);
      mark_written();
    }
    return true;
  }
  if (owner_.near_on()) {
    note_state(cmd);
    note_write(cmd);
  }
  switch (cmd.spec.kind) {
    case resp::command_kind::quit:
      quit_forwarded_ = true;  // Redis answers, then closes: no fault
      break;
    case resp::command_kind::plain:
    case resp::command_kind::pget:
    case resp::command_kind::proxy:
      break;
    case resp::command_kind::multi:
      in_multi_ = true;
      break;
    case resp::command_kind::multi_end:
      in_multi_ = false;
      break;
    case resp::command_kind::pubsub:
    case resp::command_kind::monitor:
      ledger_.enter_passthrough(false);
      return true;
    case resp::command_kind::client: {
      using resp::iequals;
      if (cmd.args.size() >= 3 && iequals(cmd.args[1], "reply") &&
          (iequals(cmd.args[2], "off") || iequals(cmd.args[2], "skip"))) {
        ledger_.enter_passthrough(false);
        return true;
      }
      break;
    }
    case resp::command_kind::reset:
      in_multi_ = false;
      if (ledger_.passthrough()) {
        ledger_.await_reset();
        return true;
      }
      break;
    case resp::command_kind::replication:
      ledger_.enter_passthrough(true);
      return true;
  }
  ledger_.sent_one();
  if (owner_.near_on()) mark_written();
  return true;
}

bool session::wait_for_link(std::size_t start) {
  // The request waits here, unframed, for the connection (up or failed: on_shared_ready).
  // Nothing before it went to the link (it was not up), so nothing is flushed.
  tail_ = start;
  fwd_begin_ = start;
  fwd_count_ = 0;
  held_ = 0;
  framer_.reset();
  recounted_ = true;
  round_pending_ = true;
  return false;
}

void session::flush_to(std::size_t end) {
  if (end > fwd_begin_ && link_->forward(in_.data() + fwd_begin_, end - fwd_begin_, fwd_count_)) {
    lent_ = true;
  }
  fwd_count_ = 0;
  fwd_begin_ = end;
}

bool session::refused_by_link(resp::command_kind kind, std::size_t start, std::size_t pos) {
  if (kind == resp::command_kind::quit || kind == resp::command_kind::reset) {
    // No connection state to reset or close upstream: answer here, in order.
    flush_to(start);
    fwd_begin_ = pos;
    reply_local(kind == resp::command_kind::quit ? "+OK\r\n" : "+RESET\r\n");
    if (kind == resp::command_kind::quit) {
      close_after_replies_ = true;
      tail_ = in_.size();
      return false;
    }
    return true;
  }
  begin_pin(start);
  recounted_ = true;
  return false;
}

void session::finish_request_round() {
  if (!round_active_) return;
  if (lent_) {
    round_waits_write_ = true;  // on_shared_written() ends it
    return;
  }
  round_active_ = false;
  in_.consume(tail_);
  tail_ = 0;
  if (in_.size() == 0) in_.shrink_to(session_buffer_size);
  if (!error_after_eof_.empty() && own_.up()) own_.shutdown_send();
}

void session::on_shared_written() {
  lent_ = false;
  if (!std::exchange(round_waits_write_, false) || own_.blocked()) return;
  finish_request_round();
  resume();
}

// ---- pinning ------------------------------------------------------------------------------------

void session::begin_pin(std::size_t cmd_start) {
  // Everything before the request is on its way; the request and what follows are framed again
  // once the client has its own connection and every shared reply is in.
  flush_to(cmd_start);
  tail_ = cmd_start;
  held_ = 0;
  framer_.reset();
  pinning_ = true;
  ledger_.watch_each_reply(true);  // the last shared reply ends the pinning
  connect_own();
  finish_pin_if_ready();
}

void session::connect_own() {
  if (owner_.upstream_backoff().may_attempt(std::chrono::steady_clock::now())) {
    connect_upstream();
  } else {
    own_.mark_down();
  }
}

void session::finish_pin_if_ready() {
  if (!pinning_ || !ledger_.answered() || own_.connecting()) return;
  pinning_ = false;
  link_ = &own_;
  ledger_.watch_each_reply(false);
  shared_.leave();
  // Frame the waiting requests again, now for the client's own connection (in a handler of its
  // own: this may be called from inside a round or a shared connection's dispatch).
  reprocess_later();
}

void session::reprocess_later() {
  // Nothing reads the client until the posted round has run, so no byte is framed twice.
  reframe_pending_ = true;
  asio::post(owner_.context(), [self = shared_from_this()] {
    self->reframe_pending_ = false;
    if (self->closed_) return;
    self->process_requests();
    self->resume();
  });
}

bool session::close_if_gone_while_blocked() {
  if (!client_eof_ || closed_ || !(wait_ || (routed() && backend_->blocked()))) {
    return false;
  }
  // Redis frees a client blocked when it goes; so does the proxy (there is nothing to wait
  // for: the answer would have no one to go to).
  close("client closed while blocked");
  return true;
}

void session::on_client_eof() {
  client_eof_ = true;
  if (close_if_gone_while_blocked()) return;
  if (on_own() && own_.up() && !own_.blocked()) {
    // Let the upstream see the end too and relay what it still sends until it closes.
    own_.shutdown_send();
    return;
  }
  maybe_finish();
}

}  // namespace puppy::server
