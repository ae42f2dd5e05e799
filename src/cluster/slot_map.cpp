#include "puppy/cluster/slot_map.hpp"

#include <hiredis/hiredis.h>

#include <memory>

#include "puppy/resp/number.hpp"

namespace puppy::cluster {
namespace {

bool read_node(const redisReply* r, std::string_view asked_host, node* out) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
      r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->integer <= 0 || r->element[1]->integer > 65535) {
    return false;
  }
  out->host.assign(r->element[0]->str, r->element[0]->len);
  if (out->host.empty() || out->host == "?") out->host = std::string(asked_host);
  out->port = static_cast<std::uint16_t>(r->element[1]->integer);
  if (r->elements > 2 && r->element[2]->type == REDIS_REPLY_STRING) {
    out->id.assign(r->element[2]->str, r->element[2]->len);
  }
  return true;
}

}  // namespace

std::optional<slot_map> slot_map::from_cluster_slots(std::string_view reply,
                                                     std::string_view asked_host,
                                                     std::string* error) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
  void* raw = nullptr;
  if (redisReaderFeed(reader.get(), reply.data(), reply.size()) != REDIS_OK ||
      redisReaderGetReply(reader.get(), &raw) != REDIS_OK || raw == nullptr) {
    *error = reader->err != 0 ? reader->errstr : "an incomplete reply";
    if (raw != nullptr) freeReplyObject(raw);
    return std::nullopt;
  }
  const std::unique_ptr<redisReply, void (*)(void*)> r(static_cast<redisReply*>(raw),
                                                       freeReplyObject);
  if (r->type == REDIS_REPLY_ERROR) {
    *error = std::string(r->str, r->len);
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_ARRAY) {
    *error = "CLUSTER SLOTS did not answer an array";
    return std::nullopt;
  }
  slot_map map;
  map.owner_.fill(none);
  for (std::size_t i = 0; i < r->elements; ++i) {
    const redisReply* range = r->element[i];
    node master;
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER ||
        !read_node(range->element[2], asked_host, &master)) {
      *error = "a CLUSTER SLOTS range is not [start, end, [host, port, ...], ...]";
      return std::nullopt;
    }
    const long long start = range->element[0]->integer;
    const long long end = range->element[1]->integer;
    if (start < 0 || end < start || end >= slot_count) {
      *error = "a CLUSTER SLOTS range is outside 0-16383";
      return std::nullopt;
    }
    const std::size_t at = map.index_of(master);
    for (std::size_t k = 3; k < range->elements; ++k) {
      node replica;
      if (!read_node(range->element[k], asked_host, &replica)) {
        *error = "a CLUSTER SLOTS replica is not [host, port, ...]";
        return std::nullopt;
      }
      auto& list = map.replicas_[at];
      bool known = false;
      for (const auto& n : list) known = known || n == replica;
      if (!known) list.push_back(replica);
    }
    for (long long s = start; s <= end; ++s) {
      map.owner_[static_cast<std::size_t>(s)] = static_cast<std::uint16_t>(at);
    }
  }
  return map;
}

std::size_t slot_map::index_of(const node& n) {
  for (std::size_t i = 0; i < masters_.size(); ++i) {
    if (masters_[i] == n) return i;
  }
  masters_.push_back(n);
  replicas_.emplace_back();
  return masters_.size() - 1;
}

const node* slot_map::master_of(std::uint16_t slot) const {
  if (slot >= slot_count || owner_[slot] == none) return nullptr;
  return &masters_[owner_[slot]];
}

const std::vector<node>& slot_map::replicas_of(std::uint16_t slot) const {
  static const std::vector<node> no_replicas;
  if (slot >= slot_count || owner_[slot] == none) return no_replicas;
  return replicas_[owner_[slot]];
}

bool slot_map::complete() const {
  for (const auto o : owner_) {
    if (o == none) return false;
  }
  return true;
}

bool slot_map::same_owners(const slot_map& other) const {
  // Master indexes differ between maps: each of ours is matched with other's once, then the
  // slots are compared as indexes.
  constexpr std::uint16_t absent = none - 1;  // a master of ours that other does not have
  std::vector<std::uint16_t> theirs(masters_.size(), absent);
  for (std::size_t i = 0; i < masters_.size(); ++i) {
    for (std::size_t j = 0; j < other.masters_.size(); ++j) {
      if (masters_[i] == other.masters_[j]) theirs[i] = static_cast<std::uint16_t>(j);
    }
  }
  for (std::size_t s = 0; s < slot_count; ++s) {
    const std::uint16_t mine = owner_[s];
    if ((mine == none ? none : theirs[mine]) != other.owner_[s]) return false;
  }
  return true;
}

void slot_map::moved(std::uint16_t slot, const node& n) {
  if (slot >= slot_count) return;
  owner_[slot] = static_cast<std::uint16_t>(index_of(n));
}

std::optional<redirect> parse_redirect(std::string_view e) {
  if (!e.empty() && e.front() == '-') e.remove_prefix(1);
  if (e.size() >= 2 && e.substr(e.size() - 2) == "\r\n") e.remove_suffix(2);
  redirect r;
  if (e.substr(0, 6) == "MOVED ") {
    r.what = redirect::kind::moved;
    e.remove_prefix(6);
  } else if (e.substr(0, 4) == "ASK ") {
    r.what = redirect::kind::ask;
    e.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = e.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  long long slot = 0;
  if (!resp::string_to_ll(e.data(), space, &slot) || slot < 0 || slot >= slot_count) {
    return std::nullopt;
  }
  const std::string_view address = e.substr(space + 1);
  const auto colon = address.rfind(':');
  long long port = 0;
  if (colon == std::string_view::npos || address.find(' ') != std::string_view::npos ||
      !resp::string_to_ll(address.data() + colon + 1, address.size() - colon - 1, &port) ||
      port <= 0 || port > 65535) {
    return std::nullopt;
  }
  r.slot = static_cast<std::uint16_t>(slot);
  r.to.host = std::string(address.substr(0, colon));
  r.to.port = static_cast<std::uint16_t>(port);
  return r;
}

}  // namespace puppy::cluster
