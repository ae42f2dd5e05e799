#pragma once
// Open-file limit for max_clients, as Redis's adjustOpenFilesLimit: raise the soft limit as far
// as needed (up to the hard limit) and, if even that is too low, lower max_clients to fit.
#include <cstddef>
#include <string>

namespace puppy::runtime {

// Descriptors kept aside for listeners, upstream pools, logs and the embedded redis-server.
inline constexpr std::size_t reserved_fds = 64;

struct fd_budget {
  std::size_t max_clients;  // what fits (unchanged when the limit was high enough)
  std::size_t limit;        // the soft RLIMIT_NOFILE in force afterwards
  std::string note;         // non-empty when max_clients had to be lowered or the limit raised
};

// One descriptor per client, as Redis counts (a client pinned to its own upstream connection
// holds a second one; when descriptors run out, accept() is retried and upstream connects get
// an error reply). 0 means no limit on clients: the soft limit is just raised to the hard one.
fd_budget fit_open_files(std::size_t max_clients);

}  // namespace puppy::runtime
