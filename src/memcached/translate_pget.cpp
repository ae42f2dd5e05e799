// The PGET family over memcached: not yet served (a later step of this issue).
#include "translate_commands.hpp"

namespace puppy::memcached {

std::unique_ptr<command> make_pget_command(const std::string& name,
                                           const std::vector<std::string_view>&, client_state&,
                                           const settings&, std::int64_t, std::string*) {
  (void)name;
  return nullptr;
}

}  // namespace puppy::memcached
