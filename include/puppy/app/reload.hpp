#pragma once
// SIGHUP: the configuration is read again (flags, environment and config file, with the same
// precedence as at start-up) and what can change at run time is applied without dropping a
// connection: the log level, the limits, the PGET defaults, the idle and drain timeouts. Any
// other option that changed is reported as needing a restart and keeps its running value. An
// invalid configuration is reported and changes nothing.
#include <spdlog/logger.h>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "puppy/config/options.hpp"
#include "puppy/server/server.hpp"

namespace puppy::app {

// Sets the fields of *s that a reload may change from `opt`. Logs what max clients became if
// the open-file limit does not allow the value asked for.
void apply_reloadable(const config::options& opt, server::settings* s, spdlog::logger& log);

// Whether a reload applies the option named `name` (as in the config file).
bool reloadable(std::string_view name);

// The keys whose values differ between two configurations in config-file form (key=value
// lines), in the order they appear in `after`, then those only in `before`.
std::vector<std::string> changed_keys(const std::string& before, const std::string& after);

class reloader {
 public:
  // `effective` and `current` are the running configuration (as parse_options gave it, and as
  // applied); argv must outlive the reloader.
  reloader(int argc, char** argv, std::string effective, server::settings current,
           server::server& srv, std::shared_ptr<spdlog::logger> log);
  void operator()();

 private:
  int argc_;
  char** argv_;
  std::string effective_;
  server::settings current_;
  server::server& srv_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace puppy::app
