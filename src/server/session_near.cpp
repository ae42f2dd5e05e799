// The near cache in a session: fresh PGET values (and GET replies under --near-cache-prefix)
// answered from the worker's copies, fills asked of the tracking connection, and the write
// generations that make a write through this proxy visible to the next read at once.
#include <spdlog/spdlog.h>

#include "puppy/cache/near_cache.hpp"
#include "puppy/pget/decision.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/resp/encode.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/tracking_link.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {
namespace {

using cache::near_cache;

bool lower_equals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

bool under_prefix(std::string_view key, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (key.size() >= p.size() && key.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

}  // namespace

bool session::near_usable() const {
  return owner_.near_on() && mode_ != mode::routed && !ledger_.passthrough() && !in_multi_ &&
         db_zero_ && !own_tracking_;
}

cache::stamp session::near_stamp(std::string_view key, std::string_view status_key) const {
  auto& w = const_cast<worker&>(owner_);
  return cache::stamp::take(w.gens(), cache::write_gens::slot_of(key),
                            cache::write_gens::slot_of(status_key));
}

bool session::near_pget_hit(std::string_view key, double xfetch, std::string* reply) {
  const auto now = near_cache::clock::now();
  const auto copy = owner_.near().find(cache::space::pget, key, now);
  if (!copy) return false;
  if (xfetch > 0) {
    // BETA: the early refresh is decided as decide_read() does, from the copy's deadline.
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(copy->fresh_until - now);
    if (static_cast<double>(copy->compute_ms) * xfetch >= static_cast<double>(left.count())) {
      return false;
    }
  }
  pget::encode_pget_reply(pget::state::fresh, &copy->value, nullptr, reply);
  return true;
}

bool session::near_get_hit(const resp::framed_command& cmd, std::size_t start, std::size_t pos) {
  const auto& prefixes = owner_.config().near_cache_prefixes;
  if (prefixes.empty() || resp3_ || !near_usable() || cmd.is_inline ||
      cmd.args.size() != cmd.argc || cmd.argc < 2 || (cmd.name == "get" && cmd.argc != 2)) {
    return false;
  }
  for (std::size_t i = 1; i < cmd.args.size(); ++i) {
    if (!under_prefix(cmd.args[i], prefixes)) return false;
  }
  auto& cache = owner_.near();
  const auto now = near_cache::clock::now();
  std::string reply;
  if (cmd.name == "mget") reply = resp::encode::array_header(cmd.args.size() - 1);
  bool all = true;
  for (std::size_t i = 1; i < cmd.args.size(); ++i) {
    const auto key = cmd.args[i];
    const auto copy = cache.find(cache::space::get, key, now);
    if (!copy) {
      all = false;
      owner_.tracking().fill_get(key, near_stamp(key, key));
      continue;
    }
    if (!all) continue;
    if (copy->nil) {
      reply += "$-1\r\n";
    } else {
      resp::encode::append_bulk(&reply, copy->value);
    }
  }
  if (!all) return false;
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
    if (a.size() >= 2 && (lower_equals(a[1], "tracking") || lower_equals(a[1], "caching"))) {
      own_tracking_ = true;
    }
  } else if (cmd.spec.kind == resp::command_kind::reset) {
    db_zero_ = true;
    resp3_ = false;
    own_tracking_ = false;
  }
}

void session::note_write(const resp::framed_command& cmd) {
  written_slots_.clear();
  written_all_ = false;
  written_pending_ = !cmd.spec.read_only || cmd.spec.kind == resp::command_kind::multi_end;
  if (cmd.spec.read_only) return;
  auto& gens = owner_.gens();
  const bool have_args = cmd.keys_only || cmd.spec.capture_args || cmd.is_inline;
  if (cmd.spec.writes_all || !have_args) {
    written_all_ = true;
    gens.bump_epoch();
    return;
  }
  for (std::size_t i = 1; i < cmd.args.size(); ++i) {
    if (cmd.args[i].size() > near_cache::max_key_size) continue;
    const std::size_t slot = cache::write_gens::slot_of(cmd.args[i]);
    gens.bump(slot);
    written_slots_.push_back(slot);
  }
}

void session::mark_written() {
  if (!written_pending_) return;
  written_pending_ = false;
  if (in_multi_) {  // queued: done by EXEC
    multi_slots_.insert(multi_slots_.end(), written_slots_.begin(), written_slots_.end());
    multi_all_ = multi_all_ || written_all_;
    return;
  }
  bool all = written_all_;
  std::vector<std::size_t> slots = std::move(written_slots_);
  written_slots_.clear();
  if (!multi_slots_.empty() || multi_all_) {
    // EXEC ran the queued writes (DISCARD dropped them: bumping again is harmless).
    slots.insert(slots.end(), multi_slots_.begin(), multi_slots_.end());
    all = all || multi_all_;
    multi_slots_.clear();
    multi_all_ = false;
  }
  if (!ledger_.counting() || (slots.empty() && !all)) return;
  write_marks_.push_back({ledger_.sent(), all, std::move(slots)});
}

void session::note_keys_written(std::string_view key, std::string_view status_key) {
  auto& gens = owner_.gens();
  const std::size_t k = cache::write_gens::slot_of(key);
  const std::size_t s = cache::write_gens::slot_of(status_key);
  gens.bump(k);
  gens.bump(s);
  write_marks_.push_back({ledger_.sent(), false, {k, s}});
}

void session::settle_writes() {
  auto& gens = owner_.gens();
  while (!write_marks_.empty() && write_marks_.front().seq <= ledger_.received()) {
    const write_mark& m = write_marks_.front();
    if (m.all) gens.bump_epoch();
    for (const std::size_t slot : m.slots) gens.bump(slot);
    write_marks_.pop_front();
  }
}

}  // namespace puppy::server
