#include "puppy/app/reload.hpp"

#include <spdlog/spdlog.h>
#include <map>
#include <sstream>

#include "puppy/runtime/fd_limit.hpp"

namespace puppy::app {

namespace {

constexpr std::string_view reloadable_options[] = {
    "log-level",           "max-args",    "max-bulk-len", "max-inline-len",   "max-shared-request",
    "client-output-limit", "max-clients", "timeout",      "drain-timeout-ms", "pget-timeout",
    "pget-update-time",
};

std::map<std::string, std::string> key_values(const std::string& text,
                                              std::vector<std::string>* order) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq == std::string::npos || line.empty() || line[0] == '#' || line[0] == '[') continue;
    std::string key = line.substr(0, eq);
    key.erase(key.find_last_not_of(' ') + 1);
    if (order != nullptr) order->push_back(key);
    out[key] = line.substr(eq + 1);
  }
  return out;
}

}  // namespace

void apply_reloadable(const config::options& opt, server::settings* s, spdlog::logger& log) {
  s->limits.max_args = opt.max_args;
  s->limits.max_bulk_len = opt.max_bulk_len;
  s->limits.max_inline_len = opt.max_inline_len;
  s->max_shared_request = opt.max_shared_request;
  s->client_output_limit = opt.client_output_limit;
  s->idle_timeout = std::chrono::seconds(opt.timeout);
  s->drain_timeout = std::chrono::milliseconds(opt.drain_timeout_ms);
  s->pget_defaults.timeout = opt.pget_timeout;
  s->pget_defaults.update_time = opt.pget_update_time;
  const auto budget = runtime::fit_open_files(opt.max_clients);
  if (budget.max_clients != opt.max_clients) {
    log.warn("{}", budget.note);
  } else if (!budget.note.empty()) {
    log.info("{}", budget.note);
  }
  s->max_clients = budget.max_clients;
}

bool reloadable(std::string_view name) {
  for (const auto r : reloadable_options) {
    if (r == name) return true;
  }
  return false;
}

std::vector<std::string> changed_keys(const std::string& before, const std::string& after) {
  std::vector<std::string> order;
  const auto old_values = key_values(before, nullptr);
  const auto new_values = key_values(after, &order);
  std::vector<std::string> out;
  for (const auto& key : order) {
    const auto it = old_values.find(key);
    if (it == old_values.end() || it->second != new_values.at(key)) out.push_back(key);
  }
  for (const auto& [key, value] : old_values) {
    if (new_values.count(key) == 0) out.push_back(key);
  }
  return out;
}

reloader::reloader(int argc, char** argv, std::string effective, server::settings current,
                   server::server& srv, std::shared_ptr<spdlog::logger> log)
    : argc_(argc),
      argv_(argv),
      effective_(std::move(effective)),
      current_(std::move(current)),
      srv_(srv),
      log_(std::move(log)) {}

void reloader::operator()() {
  config::options fresh;
  std::string effective;
  if (config::parse_options(argc_, argv_, &fresh, &effective)) {
    log_->error("reload failed: the configuration is invalid (see above); nothing changed");
    return;
  }
  const auto changed = changed_keys(effective_, effective);
  std::vector<std::string> applied;
  for (const auto& key : changed) {
    if (reloadable(key)) {
      applied.push_back(key);
    } else {
      log_->warn("reload: '{}' changed but takes effect only after a restart", key);
    }
  }
  log_->set_level(spdlog::level::from_str(fresh.log_level));
  apply_reloadable(fresh, &current_, *log_);
  srv_.reload(current_);
  // effective_ stays the start-up configuration: an option that needs a restart is reported
  // again at every reload until it has had one.
  std::string names;
  for (const auto& key : applied) names += (names.empty() ? "" : ", ") + key;
  log_->info("configuration reloaded (differing from start-up: {})",
             names.empty() ? "nothing" : names);
}

}  // namespace puppy::app
