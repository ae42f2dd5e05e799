#pragma once
// Internal to the translation: building blocks shared by translate_*.cpp.
#include <functional>
#include <optional>

#include "puppy/memcached/translate.hpp"

namespace puppy::memcached {

std::string wrong_arity(std::string_view name);
// Every command the memcached upstream serves (lower case), for COMMAND COUNT/LIST.
const std::vector<std::string>& command_names();

// The commands that need a server; nullptr with *reply empty if `name` is not one of them.
std::unique_ptr<command> make_command(const std::string& name,
                                      const std::vector<std::string_view>& args, client_state& st,
                                      const settings& cfg, std::int64_t now_ms, std::string* reply);
std::unique_ptr<command> make_data_command(const std::string& name,
                                           const std::vector<std::string_view>& args,
                                           client_state& st, const settings& cfg,
                                           std::int64_t now_ms, std::string* reply);
std::unique_ptr<command> make_rmw_command(const std::string& name,
                                          const std::vector<std::string_view>& args,
                                          client_state& st, const settings& cfg,
                                          std::int64_t now_ms, std::string* reply);
std::unique_ptr<command> make_pget_command(const std::string& name,
                                           const std::vector<std::string_view>& args,
                                           client_state& st, const settings& cfg,
                                           std::int64_t now_ms, std::string* reply);

// One round of requests, then a reply computed from their responses.
using reducer = std::function<std::string(const std::vector<response>&)>;
std::unique_ptr<command> single(std::vector<request> requests, reducer reduce);

// Read (mg v c t), decide, write with CAS (or add when the key was missing), retry on a race.
struct rmw_action {
  enum class what : std::uint8_t { reply_only, store, erase } kind = what::reply_only;
  std::string value;
  std::int64_t ttl = 0;  // the T flag to store with (0: no expiry)
  std::string reply;
};
// `old` is the current value (nullopt: missing); `old_ttl` its T flag (-1: no expiry).
using rmw_fn =
    std::function<rmw_action(const std::optional<std::string_view>& old, std::int64_t old_ttl)>;
std::unique_ptr<command> rmw(std::string key, rmw_fn decide);

// Parses SET/GETEX-style expiry options at args[i] (EX s, PX ms, EXAT ts, PXAT ms). On success
// returns the T flag value in *ttl and the number of arguments used; 0 if args[i] is not one;
// -1 with *reply set on a bad value.
int parse_expiry(const std::vector<std::string_view>& args, std::size_t i, std::string_view command,
                 std::int64_t now_ms, std::int64_t* ttl, std::string* reply);

// "ms <key> <len> <flags>\r\n<value>\r\n" for an already encoded key.
std::string ms(std::string_view key_token, std::string_view value, std::string_view flags);

}  // namespace puppy::memcached
