#pragma once
// The multi-key commands a Redis Cluster refuses across slots but the proxy serves anyway: MGET,
// MSET, DEL, UNLINK, EXISTS and TOUCH are split into one command per hash slot (a cluster refuses
// keys of two slots in one command even on one node), sent on, and their replies merged into the
// one reply a single Redis would give, keys in the client's order. No sockets: the plan says what
// to send, merge() turns the parts' replies into the client's.
//
// Atomicity is what is lost: the parts run independently (another client may see some of an
// MSET's keys set and not others), as with any cluster-aware client's split.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace puppy::cluster {

struct split_plan {
  enum class merge : std::uint8_t {
    values_in_order,  // MGET: an array, each key's value where the client asked for it
    integer_sum,      // DEL, UNLINK, EXISTS, TOUCH: the parts' counts added
    all_ok            // MSET: +OK once every part said +OK
  };
  struct part {
    std::uint16_t slot = 0;
    std::string request;                 // the part's RESP request
    std::vector<std::size_t> positions;  // MGET: where its keys' values go in the reply
  };
  merge how = merge::all_ok;
  std::vector<part> parts;  // one per slot, in the order of the slots' first keys
  std::size_t keys = 0;
};

// The plan for `args` (args[0] the command name, any case), or nullopt if it is not one of the
// split commands or is malformed (wrong arity: left for a node to refuse as Redis would).
std::optional<split_plan> plan_split(const std::vector<std::string_view>& args);

// The client's reply from the parts' replies (each a whole RESP reply, in the plan's part order).
// The first error among them, if any, is the reply (as a single Redis reports one error).
std::string merge_replies(const split_plan& plan, const std::vector<std::string_view>& replies);

}  // namespace puppy::cluster
