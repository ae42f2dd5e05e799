#include "puppy/runtime/fd_limit.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace puppy::runtime {

fd_budget fit_open_files(std::size_t max_clients) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return {max_clients, 0, ""};
  const rlim_t want = max_clients == 0 ? lim.rlim_max : max_clients + reserved_fds;
  std::string note;
  if (lim.rlim_cur < want && lim.rlim_cur != RLIM_INFINITY) {
    const rlim_t before = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max == RLIM_INFINITY ? want : std::min<rlim_t>(want, lim.rlim_max);
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) lim.rlim_cur = before;
    if (lim.rlim_cur != before) {
      note = "open-file limit raised from " + std::to_string(before) + " to " +
             std::to_string(lim.rlim_cur);
    }
  }
  if (max_clients > 0 && lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
    const std::size_t fit = lim.rlim_cur > reserved_fds + 1 ? lim.rlim_cur - reserved_fds : 1;
    note = "open-file limit is " + std::to_string(lim.rlim_cur) + ": max-clients lowered from " +
           std::to_string(max_clients) + " to " + std::to_string(fit) +
           " (raise ulimit -n to keep it)";
    max_clients = fit;
  }
  return {max_clients, static_cast<std::size_t>(lim.rlim_cur), note};
}

}  // namespace puppy::runtime
