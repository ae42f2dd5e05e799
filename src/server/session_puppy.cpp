// PUPPY: commands about the proxy itself, answered here whatever the upstream.
#include "puppy/resp/encode.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

namespace {

bool equals_lower(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

using resp::encode::bulk;

}  // namespace

std::string session::proxy_command(const std::vector<std::string_view>& args) const {
  if (ledger_.passthrough()) {
    return "-ERR PUPPY is not allowed while subscribed, in MONITOR or with CLIENT REPLY "
           "OFF|SKIP\r\n";
  }
  if (in_multi_) return "-ERR PUPPY is not allowed inside MULTI\r\n";
  if (args.size() < 2) return "-ERR wrong number of arguments for 'puppy' command\r\n";
  const std::string_view sub = args[1];
  const bool known = equals_lower(sub, "stats") || equals_lower(sub, "help");
  if (known && args.size() != 2) {
    std::string name(sub);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return "-ERR wrong number of arguments for 'puppy|" + name + "' command\r\n";
  }
  if (equals_lower(sub, "stats")) {
    // The figures /metrics shows, in the same Prometheus text (docs/operations.md).
    return bulk(owner_.stats_text ? owner_.stats_text() : std::string());
  }
  if (equals_lower(sub, "help")) {
    // As Redis answers its HELP subcommands: an array of status lines.
    static const char* const lines[] = {
        "PUPPY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "STATS",
        "    The proxy's metrics, in the Prometheus text format /metrics serves.",
        "HELP",
        "    Print this help.",
    };
    std::string out = resp::encode::array_header(std::size(lines));
    for (const char* line : lines) out += resp::encode::simple(line);
    return out;
  }
  return resp::encode::error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) +
                             "'. Try PUPPY HELP.");
}

}  // namespace puppy::server
