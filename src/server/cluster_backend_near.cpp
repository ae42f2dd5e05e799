// A Redis Cluster upstream: the near cache (docs/near-cache.md, "In front of a Redis Cluster").
// Copies are answered here, on the rules every upstream shares (cache/near_answer.hpp); fills go
// to the tracking connection of the key's master (cluster_nodes::tracking_for), where its
// invalidations arrive; writes move the write generations when sent (start_job, expect_writes)
// and when answered (complete).
#include "cluster_backend_parts.hpp"
#include "puppy/cluster/slot.hpp"
#include "puppy/pget/reply.hpp"
#include "puppy/server/cluster_nodes.hpp"
#include "puppy/server/tracking_link.hpp"
#include "puppy/server/worker.hpp"
#include "session_pget_util.hpp"

namespace puppy::server {

using cache::near_cache;

bool cluster_backend::near_usable() const {
  return owner_.near_on() && !txn_ && !subscribed_context(false);
}

bool cluster_backend::near_get_eligible(const args_view& args) const {
  return near_usable() && cache::get_eligible(args, name_ == "mget", state_.resp3,
                                              owner_.config().near_cache_prefixes);
}

bool cluster_backend::near_get_hit(const args_view& args, std::uint64_t slot,
                                   const sink_ptr& sink) {
  near_reply_.clear();
  if (cache::get_reply(owner_.near(), args, name_ == "mget", near_cache::clock::now(), &near_reply_,
                       &missing_)) {
    sink->answer(slot, near_reply_);
    return true;
  }
  for (const auto key : missing_) {
    if (tracking_link* t = nodes_.tracking_for(cluster::key_slot(key))) {
      t->fill_get(key, cache::stamp::of_keys(owner_.gens(), key, key));
    }
  }
  return false;
}

bool cluster_backend::near_pget_hit(std::string_view key, double xfetch, std::uint64_t slot,
                                    const sink_ptr& sink) {
  const auto copy = cache::pget_copy(owner_.near(), key, xfetch, near_cache::clock::now());
  if (!copy) return false;
  near_reply_.clear();
  pget::encode_pget_reply(pget::state::fresh, &copy->value, nullptr, &near_reply_);
  detail::count(owner_, pget::state::fresh);
  sink->answer(slot, near_reply_);
  return true;
}

void cluster_backend::near_stamp(pget_flow& f) {
  f.taken = cache::stamp::of_keys(owner_.gens(), f.key, f.status_key);
}

void cluster_backend::near_fill(const pget_flow& f) {
  if (tracking_link* t = nodes_.tracking_for(f.slot)) t->fill_pget(f.key, f.status_key, f.taken);
}

void cluster_backend::expect_writes(job& j, cache::write_note w) {
  if (w.empty()) return;
  w.bump(owner_.gens());
  j.writes.add(w);
  j.gens = &owner_.gens();
}

}  // namespace puppy::server
