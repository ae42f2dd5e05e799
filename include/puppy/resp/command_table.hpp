#pragma once
#include <cstdint>
#include <string_view>

namespace puppy::resp {

// What the proxy has to know about a command to forward it and keep replies in order.
enum class command_kind : std::uint8_t {
  plain,        // forwarded; exactly one reply
  pubsub,       // (un)subscribe family: replies are not one per command; relay without counting
  monitor,      // MONITOR: an endless stream of replies follows
  client,       // CLIENT: arguments are captured so CLIENT REPLY OFF|SKIP can be seen
  reset,        // RESET: leaves pub/sub, MONITOR and CLIENT REPLY modes
  quit,         // QUIT: +OK, then the connection closes
  replication,  // SYNC/PSYNC: the reply is not RESP; relay raw bytes from then on
  multi,        // MULTI: later commands are queued until EXEC or DISCARD
  multi_end,    // EXEC, DISCARD
  pget,         // PGET, PSET, PRELEASE, PINVALIDATE: answered by the proxy (via a script)
  proxy         // PUPPY: about the proxy itself (PUPPY STATS), answered by the proxy
};

struct command_spec {
  command_kind kind = command_kind::plain;
  bool capture_args = false;  // the framer copies every argument so the session can read them
  // The command neither reads nor changes any connection state and never blocks, so it may run
  // on an upstream connection shared by many clients (one reply, same result on any connection).
  bool shareable = false;
  // The command changes no key (GET, HGETALL, PING, SELECT, ...). Any other may write the keys
  // among its arguments, as far as the near cache is concerned (unknown commands included).
  bool read_only = false;
  // FLUSHALL, FLUSHDB, SWAPDB, DEBUG: may change every key.
  bool writes_all = false;
  // GET, MGET: may be answered from the near cache (--near-cache-prefix).
  bool near_read = false;
};

// Looks up a command by its lower-case name. Unknown names are plain, not shareable.
command_spec lookup_command(std::string_view lower_name);

}  // namespace puppy::resp
