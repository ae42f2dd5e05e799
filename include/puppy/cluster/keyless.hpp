#pragma once
// What a cluster does with a command that has no key (docs/cluster.md, "Keyless commands"):
// answered by any one master, or sent to every master and the replies merged into the reply one
// Redis holding all the keys would give; and SCAN across the masters, the master's place in
// the cursor. No sockets.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puppy::cluster {

enum class keyless : std::uint8_t {
  any_node,     // PING, ECHO, TIME, INFO, EVAL with no keys, ...: one master
  first,        // PUBLISH: the first master of the scan order, where SUBSCRIBE goes too
  sum,          // DBSIZE, PUBSUB NUMPAT: the masters' counts added
  concat,       // KEYS: every master's array, one after the other
  all_ok,       // FLUSHALL, FLUSHDB, SCRIPT FLUSH, FUNCTION FLUSH/DELETE/RESTORE: +OK from all
  same,         // SCRIPT LOAD, FUNCTION LOAD: the first master's reply, once all said the same
  all_and,      // SCRIPT EXISTS: 1 where every master has the script
  any_non_nil,  // RANDOMKEY: a key from a master that has one (nil if none has)
  scan,         // SCAN: master by master (scan_* below)
  unique,       // PUBSUB CHANNELS/SHARDCHANNELS: every master's names, each once
  sum_pairs     // PUBSUB NUMSUB/SHARDNUMSUB: [name, count, ...], the counts added
};

// The policy for a keyless command: `name` and `sub` (its subcommand, if it has any) in lower
// case.
keyless keyless_policy(std::string_view name, std::string_view sub);

// The client's reply from every master's (in scan order). The first error among them is the
// reply, as a single Redis reports one error. `start` picks where any_non_nil begins looking.
std::string merge_keyless(keyless how, const std::vector<std::string_view>& replies,
                          std::size_t start = 0);

// A cluster SCAN cursor: the master's place in the scan order in the low bits, the master's
// own cursor above them. 0 is the start and the end, as with one Redis.
struct scan_cursor {
  static constexpr unsigned node_bits = 10;  // at most 1024 masters
  std::size_t node = 0;
  std::uint64_t cursor = 0;
};
// nullopt: not a cursor this proxy made ("-ERR invalid cursor", as Redis answers).
std::optional<scan_cursor> decode_scan_cursor(std::string_view text, std::size_t masters);
// The SCAN request for one master: the client's arguments with the master's cursor.
std::string scan_request(const std::vector<std::string_view>& args, std::uint64_t cursor);
// One master's SCAN reply: its cursor, and its elements (`count` of them, their bytes).
struct scan_page {
  std::uint64_t cursor = 0;
  std::size_t count = 0;
  std::string_view elements;
};
// nullopt: not a SCAN reply (an error is passed on as it is).
std::optional<scan_page> parse_scan_page(std::string_view reply);
// The client's cursor after master `node` answered `node_cursor`: after the last master's last
// page 0, after another's the next master's start. nullopt if the master's cursor does not fit.
std::optional<std::uint64_t> next_scan_cursor(std::uint64_t node_cursor, std::size_t node,
                                              std::size_t masters);
// The client's SCAN reply.
std::string scan_reply(std::uint64_t cursor, std::size_t count, std::string_view elements);
// The COUNT a SCAN asks for (10, Redis's default, if none).
std::size_t scan_count(const std::vector<std::string_view>& args);

}  // namespace puppy::cluster
