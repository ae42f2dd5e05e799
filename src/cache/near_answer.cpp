#include "puppy/cache/near_answer.hpp"

#include <chrono>

#include "puppy/resp/encode.hpp"

namespace puppy::cache {

std::optional<near_cache::copy> pget_copy(near_cache& cache, std::string_view key, double xfetch,
                                          near_cache::clock::time_point now) {
  auto copy = cache.find(space::pget, key, now);
  if (!copy || xfetch <= 0) return copy;
  // BETA: refresh early once compute_ms * xfetch reaches the time left, as decide_read() does.
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(copy->fresh_until - now);
  if (static_cast<double>(copy->compute_ms) * xfetch >= static_cast<double>(left.count())) {
    return std::nullopt;
  }
  return copy;
}

bool under_prefix(std::string_view key, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (key.size() >= p.size() && key.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

bool get_eligible(const std::vector<std::string_view>& args, bool mget, bool resp3,
                  const std::vector<std::string>& prefixes) {
  if (prefixes.empty() || resp3 || args.size() < 2 || (!mget && args.size() != 2)) return false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (!under_prefix(args[i], prefixes)) return false;
  }
  return true;
}

bool get_reply(near_cache& cache, const std::vector<std::string_view>& args, bool mget,
               near_cache::clock::time_point now, std::string* reply,
               std::vector<std::string_view>* missing) {
  missing->clear();
  const std::size_t at = reply->size();
  if (mget) reply->append(resp::encode::array_header(args.size() - 1));
  for (std::size_t i = 1; i < args.size(); ++i) {
    const auto key = args[i];
    const auto copy = cache.find(space::get, key, now);
    if (!copy) {
      missing->push_back(key);
    } else if (missing->empty()) {
      if (copy->nil) {
        reply->append("$-1\r\n");
      } else {
        resp::encode::append_bulk(reply, copy->value);
      }
    }
  }
  if (missing->empty()) return true;
  reply->resize(at);
  return false;
}

void write_note::add(const write_note& other) {
  slots.insert(slots.end(), other.slots.begin(), other.slots.end());
  all = all || other.all;
}

void write_note::bump(write_gens& gens) const {
  if (all) gens.bump_epoch();
  for (const std::size_t slot : slots) gens.bump(slot);
}

write_note writes_of(const resp::command_spec& spec, const std::vector<std::string_view>& args,
                     bool have_args) {
  write_note note;
  if (spec.read_only) return note;
  if (spec.writes_all || !have_args) {
    note.all = true;
    return note;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i].size() > near_cache::max_key_size) continue;
    note.slots.push_back(write_gens::slot_of(args[i]));
  }
  return note;
}

write_note pget_writes(std::string_view key, std::string_view status_key) {
  write_note note;
  note.slots = {write_gens::slot_of(key), write_gens::slot_of(status_key)};
  return note;
}

}  // namespace puppy::cache
