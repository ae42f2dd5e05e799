// The near cache in a session: fresh PGET values (and GET replies under --near-cache-prefix)
// answered from the worker's copies, fills asked of the tracking connection, and the write
// generations that make a write through this proxy visible to the next read at once.
#include <spdlog/spdlog.h>

#include "puppy/cache/near_answer.hpp"
#include "puppy/cache/near_cache.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/resp/ascii.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/tracking_link.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
using cache::near_cache;

bool session::near_usable() const {
  return owner_.near_on() && !routed() && !ledger_.passthrough() && !in_multi_ && db_zero_ &&
         !own_tracking_;
}

cache::stamp session::near_stamp(std::string_view key, std::string_view status_key) const {
  return cache::stamp::of_keys(const_cast<worker&>(owner_).gens(), key, status_key);
}

bool session::near_pget_hit(std::string_view key, double xfetch, std::string* reply) {
  const auto copy = cache::pget_copy(owner_.near(), key, xfetch, near_cache::clock::now());
  if (!copy) return false;
  pget::encode_pget_reply(pget::state::fresh, &copy->value, nullptr, reply);
  return true;
}

bool session::near_get_hit(const resp::framed_command& cmd, std::size_t start, std::size_t pos) {
  if (!near_usable() || cmd.is_inline || cmd.args.size() != cmd.argc) return false;
  const bool mget = cmd.name == "mget";
  if (!cache::get_eligible(cmd.args, mget, resp3_, owner_.config().near_cache_prefixes)) {
    return false;
  }
  std::string reply;
  std::vector<std::string_view> missing;
  if (!cache::get_reply(owner_.near(), cmd.args, mget, near_cache::clock::now(), &reply,
                        &missing)) {
    for (const auto key : missing) owner_.tracking().fill_get(key, near_stamp(key, key));
    return false;
  }
  answer_here(start, pos, std::move(reply));
  return true;
}

void session::note_state(const resp::framed_command& cmd) {
  const auto& a = cmd.args;
  if (in_multi_ && cmd.spec.kind != resp::command_kind::reset) {
    // Queued: it may or may not run (EXEC, DISCARD, EXECABORT). Assume the worst.
    if (cmd.name == "select") db_zero_ = false;
    if (cmd.name == "hello") resp3_ = true;
    if (cmd.name == "client") own_tracking_ = true;
    return;
  }
  if (cmd.name == "select") {
    db_zero_ = a.size() == 2 && a[1] == "0";
  } else if (cmd.name == "hello") {
    if (a.size() >= 2) resp3_ = a[1] == "3";
  } else if (cmd.name == "client") {
    // A client that tracks keys itself must be served by Redis, which keeps its tracking table.
    if (a.size() >= 2 && (resp::iequals(a[1], "tracking") || resp::iequals(a[1], "caching"))) {
      own_tracking_ = true;
    }
  } else if (cmd.spec.kind == resp::command_kind::reset) {
    db_zero_ = true;
    resp3_ = false;
    own_tracking_ = false;
  }
}

void session::note_write(const resp::framed_command& cmd) {
  written_pending_ = !cmd.spec.read_only || cmd.spec.kind == resp::command_kind::multi_end;
  const bool have_args = cmd.keys_only || cmd.spec.capture_args || cmd.is_inline;
  written_ = cache::writes_of(cmd.spec, cmd.args, have_args);
  written_.bump(owner_.gens());
}

void session::mark_written() {
  if (!written_pending_) return;
  written_pending_ = false;
  if (in_multi_) {  // queued: done by EXEC
    multi_writes_.add(written_);
    return;
  }
  cache::write_note note = std::move(written_);
  written_.clear();
  if (!multi_writes_.empty()) {
    // EXEC ran the queued writes (DISCARD dropped them: bumping again is harmless).
    note.add(multi_writes_);
    multi_writes_.clear();
  }
  if (!ledger_.counting() || note.empty()) return;
  write_marks_.push_back({ledger_.sent(), std::move(note)});
}

void session::note_keys_written(std::string_view key, std::string_view status_key) {
  auto note = cache::pget_writes(key, status_key);
  note.bump(owner_.gens());
  write_marks_.push_back({ledger_.sent(), std::move(note)});
}

void session::settle_writes() {
  auto& gens = owner_.gens();
  while (!write_marks_.empty() && write_marks_.front().seq <= ledger_.received()) {
    write_marks_.front().note.bump(gens);
    write_marks_.pop_front();
  }
}

}  // namespace puppy::server
