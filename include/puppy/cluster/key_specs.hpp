#pragma once
// Where a command's keys are, from the key specifications the server itself reports (COMMAND /
// COMMAND INFO, Redis 7.0+, https://redis.io/docs/reference/key-specs): commands and modules the
// proxy has never heard of are routed by their keys. Evaluated as Redis's getKeysUsingKeySpecs
// evaluates them. No sockets.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace puppy::cluster {

struct key_spec {
  enum class begin : std::uint8_t { index, keyword, unknown };
  enum class find : std::uint8_t { range, keynum, unknown };
  begin begin_kind = begin::unknown;
  int index = 0;        // begin index: the argument where the search starts
  std::string keyword;  // begin keyword: the argument after which the keys start
  int startfrom = 0;    // begin keyword: where to look for it (negative: from the end, backwards)
  find find_kind = find::unknown;
  int lastkey = 0;          // range: the last key, relative to the first (negative: from the end)
  int keystep = 1;          // range and keynum: the distance between keys
  int limit = 0;            // range with lastkey -1: only 1/limit of the remaining arguments
  int keynumidx = 0;        // keynum: where the number of keys is, relative to the first
  int firstkey = 0;         // keynum: where the first key is, relative to the first
  bool not_key = false;     // NOT_KEY: a channel or the like, not a key of the keyspace
  bool incomplete = false;  // INCOMPLETE: the spec may miss keys
};

// name (lower case; a subcommand as "container|sub") -> its key specs.
using key_spec_table = std::unordered_map<std::string, std::vector<key_spec>>;

// The positions in args (args[0] the command name) of the keys the specs describe, in spec order
// (NOT_KEY specs skipped unless with_not_keys). nullopt when the specs cannot say: an unknown
// spec type, an INCOMPLETE spec, a number of keys that is not one, or keys beyond the arguments
// (as Redis, which then asks the command's own key function: ask the server, COMMAND GETKEYS).
std::optional<std::vector<std::size_t>> key_positions(const std::vector<key_spec>& specs,
                                                      const std::vector<std::string_view>& args,
                                                      bool with_not_keys = false);
// The same into *out (its storage reused, no allocation once grown): false when the specs
// cannot say.
bool key_positions(const std::vector<key_spec>& specs, const std::vector<std::string_view>& args,
                   bool with_not_keys, std::vector<std::size_t>* out);

// Reads a COMMAND or COMMAND INFO reply (RESP2 bytes, as the proxy asks on its own connections)
// into `out`, subcommands included (hiredis's reader parses it); the names of the commands
// flagged "blocking" (BLPOP, XREAD, WAIT, ...) into *blocking and of those flagged "readonly"
// (GET, MGET, HGETALL, ...) into *readonly, if given.
// False, with *error set, if the bytes are not such a reply.
bool parse_command_info(std::string_view reply, key_spec_table* out, std::string* error,
                        std::unordered_set<std::string>* blocking = nullptr,
                        std::unordered_set<std::string>* readonly = nullptr);

}  // namespace puppy::cluster
