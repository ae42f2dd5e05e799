#include "puppy/resp/command_table.hpp"

#include <array>

namespace puppy::resp {
namespace {

struct entry {
  std::string_view name;
  command_spec spec;
};

constexpr std::array<entry, 12> table{{
    {"subscribe", {command_kind::pubsub, false}},
    {"psubscribe", {command_kind::pubsub, false}},
    {"ssubscribe", {command_kind::pubsub, false}},
    {"unsubscribe", {command_kind::pubsub, false}},
    {"punsubscribe", {command_kind::pubsub, false}},
    {"sunsubscribe", {command_kind::pubsub, false}},
    {"monitor", {command_kind::monitor, false}},
    {"client", {command_kind::client, true}},
    {"reset", {command_kind::reset, false}},
    {"sync", {command_kind::replication, false}},
    {"psync", {command_kind::replication, false}},
    {"replconf", {command_kind::plain, false}},
}};

}  // namespace

command_spec lookup_command(std::string_view lower_name) {
  // Names that matter are 4..12 bytes; everything else is plain at the cost of one compare.
  if (lower_name.size() < 4 || lower_name.size() > 12) return {};
  for (const auto& e : table) {
    if (e.name == lower_name) return e.spec;
  }
  return {};
}

}  // namespace puppy::resp
