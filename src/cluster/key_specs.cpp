#include "puppy/cluster/key_specs.hpp"

#include <hiredis/hiredis.h>

#include <memory>

#include "puppy/resp/ascii.hpp"
#include "puppy/resp/number.hpp"

namespace puppy::cluster {
namespace {

using resp::iequals;  // (strncasecmp would stop at a NUL byte inside an argument)

// ---- evaluating -----------------------------------------------------------------------------

// The first key's position, or 0 when the begin search finds none (a keyword that is absent).
// -1 when the spec cannot be evaluated.
long begin_of(const key_spec& s, const std::vector<std::string_view>& args) {
  const long argc = static_cast<long>(args.size());
  switch (s.begin_kind) {
    case key_spec::begin::index:
      return s.index;
    case key_spec::begin::keyword: {
      const long start = s.startfrom > 0 ? s.startfrom : argc + s.startfrom;
      const long end = s.startfrom > 0 ? argc - 1 : 1;
      for (long i = start; i != end; i = start <= end ? i + 1 : i - 1) {
        if (i >= argc || i < 1) break;
        if (iequals(args[static_cast<std::size_t>(i)], s.keyword)) return i + 1;
      }
      return 0;
    }
    case key_spec::begin::unknown:
      break;
  }
  return -1;
}

}  // namespace

std::optional<std::vector<std::size_t>> key_positions(const std::vector<key_spec>& specs,
                                                      const std::vector<std::string_view>& args,
                                                      bool with_not_keys) {
  std::vector<std::size_t> keys;
  if (!key_positions(specs, args, with_not_keys, &keys)) return std::nullopt;
  return keys;
}

bool key_positions(const std::vector<key_spec>& specs, const std::vector<std::string_view>& args,
                   bool with_not_keys, std::vector<std::size_t>* out) {
  std::vector<std::size_t>& keys = *out;
  keys.clear();
  const long argc = static_cast<long>(args.size());
  for (const key_spec& s : specs) {
    if (s.not_key && !with_not_keys) continue;
    long first = begin_of(s, args);
    if (first < 0) return false;
    if (first == 0) continue;  // the keyword is not there: no keys of this spec
    long last = 0;
    long step = 1;
    if (s.find_kind == key_spec::find::range) {
      if (s.lastkey >= 0) {
        last = first + s.lastkey;
      } else if (s.limit == 0) {
        last = argc + s.lastkey;
      } else {
        if (s.lastkey != -1) return false;
        last = first + ((argc - first) / s.limit + s.lastkey);
      }
      step = s.keystep;
    } else if (s.find_kind == key_spec::find::keynum) {
      const long at = first + s.keynumidx;
      if (s.keynumidx >= argc || at >= argc) return false;
      long long numkeys = 0;
      const auto text = args[static_cast<std::size_t>(at)];
      if (!resp::string_to_ll(text.data(), text.size(), &numkeys) || numkeys < 0) {
        return false;
      }
      first += s.firstkey;
      last = first + static_cast<long>(numkeys) - 1;
      step = s.keystep;
    } else {
      return false;
    }
    if (last < first) continue;  // no keys (e.g. numkeys 0)
    if (last >= argc || first >= argc || step <= 0) return false;
    for (long i = first; i <= last; i += step) keys.push_back(static_cast<std::size_t>(i));
    if (s.incomplete) return false;
  }
  return true;
}

// ---- reading COMMAND INFO ---------------------------------------------------------------------

namespace {

using reply_ptr = std::unique_ptr<redisReply, void (*)(void*)>;

std::string_view text_of(const redisReply* r) {
  if (r == nullptr) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
    return std::string_view(r->str, r->len);
  }
  return {};
}

bool is_list(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY;
}

// The value of `name` in a flat name/value array (RESP2's form of a map); null if absent.
const redisReply* field(const redisReply* r, std::string_view name) {
  if (!is_list(r)) return nullptr;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    if (text_of(r->element[i]) == name) return r->element[i + 1];
  }
  return nullptr;
}

int int_field(const redisReply* r, std::string_view name, int fallback) {
  const redisReply* v = field(r, name);
  if (v != nullptr && v->type == REDIS_REPLY_INTEGER) return static_cast<int>(v->integer);
  return fallback;
}

key_spec spec_of(const redisReply* r) {
  key_spec s;
  if (const redisReply* flags = field(r, "flags"); is_list(flags)) {
    for (std::size_t i = 0; i < flags->elements; ++i) {
      const auto f = text_of(flags->element[i]);
      if (iequals(f, "not_key")) s.not_key = true;
      if (iequals(f, "incomplete")) s.incomplete = true;
    }
  }
  const redisReply* bs = field(r, "begin_search");
  const auto bs_type = text_of(field(bs, "type"));
  const redisReply* bs_spec = field(bs, "spec");
  if (bs_type == "index") {
    s.begin_kind = key_spec::begin::index;
    s.index = int_field(bs_spec, "index", 0);
  } else if (bs_type == "keyword") {
    s.begin_kind = key_spec::begin::keyword;
    s.keyword = std::string(text_of(field(bs_spec, "keyword")));
    s.startfrom = int_field(bs_spec, "startfrom", 0);
  }
  const redisReply* fk = field(r, "find_keys");
  const auto fk_type = text_of(field(fk, "type"));
  const redisReply* fk_spec = field(fk, "spec");
  if (fk_type == "range") {
    s.find_kind = key_spec::find::range;
    s.lastkey = int_field(fk_spec, "lastkey", 0);
    s.keystep = int_field(fk_spec, "keystep", 1);
    s.limit = int_field(fk_spec, "limit", 0);
  } else if (fk_type == "keynum") {
    s.find_kind = key_spec::find::keynum;
    s.keynumidx = int_field(fk_spec, "keynumidx", 0);
    s.firstkey = int_field(fk_spec, "firstkey", 0);
    s.keystep = int_field(fk_spec, "keystep", 1);
  }
  return s;
}

// One command's entry: [name, arity, flags, first, last, step, acl, tips, key specs, subcommands].
bool read_command(const redisReply* r, key_spec_table* out, std::string* error,
                  std::unordered_set<std::string>* blocking,
                  std::unordered_set<std::string>* readonly) {
  if (r->type == REDIS_REPLY_NIL) return true;  // COMMAND INFO of an unknown name
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 10 || text_of(r->element[0]).empty()) {
    *error = "a COMMAND entry is not the 10-element array of Redis 7";
    return false;
  }
  const std::string name = resp::lower(text_of(r->element[0]));
  std::vector<key_spec> specs;
  const redisReply* list = r->element[8];
  for (std::size_t i = 0; is_list(list) && i < list->elements; ++i) {
    specs.push_back(spec_of(list->element[i]));
  }
  if (is_list(r->element[2])) {
    for (std::size_t i = 0; i < r->element[2]->elements; ++i) {
      const auto flag = text_of(r->element[2]->element[i]);
      if (blocking != nullptr && iequals(flag, "blocking")) blocking->insert(name);
      if (readonly != nullptr && iequals(flag, "readonly")) readonly->insert(name);
    }
  }
  (*out)[name] = std::move(specs);
  const redisReply* subs = r->element[9];
  for (std::size_t i = 0; is_list(subs) && i < subs->elements; ++i) {
    if (!read_command(subs->element[i], out, error, blocking, readonly)) return false;
  }
  return true;
}

}  // namespace

bool parse_command_info(std::string_view reply, key_spec_table* out, std::string* error,
                        std::unordered_set<std::string>* blocking,
                        std::unordered_set<std::string>* readonly) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(), redisReaderFree);
  if (!reader) {
    *error = "out of memory";
    return false;
  }
  reader->maxbuf = 0;
  if (redisReaderFeed(reader.get(), reply.data(), reply.size()) != REDIS_OK) {
    *error = reader->errstr;
    return false;
  }
  void* raw = nullptr;
  if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK || raw == nullptr) {
    *error = raw == nullptr && reader->err == 0 ? "an incomplete reply" : reader->errstr;
    if (raw != nullptr) freeReplyObject(raw);
    return false;
  }
  const reply_ptr r(static_cast<redisReply*>(raw), freeReplyObject);
  if (r->type == REDIS_REPLY_ERROR) {
    *error = std::string(r->str, r->len);
    return false;
  }
  if (!is_list(r.get())) {
    *error = "not an array of commands";
    return false;
  }
  for (std::size_t i = 0; i < r->elements; ++i) {
    if (!read_command(r->element[i], out, error, blocking, readonly)) return false;
  }
  return true;
}

}  // namespace puppy::cluster
