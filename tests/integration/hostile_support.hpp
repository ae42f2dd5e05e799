#pragma once
// Hostile clients for the hardening tests: many raw connections driven at once from one thread
// with poll(), each sending a scripted byte string (all at once, or a few bytes at a time with a
// pause between, like a slowloris client) and recording every byte it gets back until the peer
// closes.
#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace puppy::test {

// What one hostile connection sends.
struct hostile_script {
  std::string name;
  std::string bytes;                  // everything it sends, in order
  std::size_t chunk = 0;              // bytes per send; 0: as much as the socket takes
  std::chrono::milliseconds pace{0};  // pause after each chunk (slowloris)
  bool half_close = false;            // shutdown(SHUT_WR) once everything is sent
};

// What happened to one hostile connection.
struct hostile_outcome {
  std::string received;  // every byte the peer sent
  bool closed = false;   // the peer closed the connection (FIN or RST) before the deadline
  std::size_t sent = 0;  // bytes of the script the peer accepted before closing
};

// Connects one socket per entry of `scripts` (pointers into caller-owned scripts, which must
// outlive the call) to 127.0.0.1:port and drives them all concurrently until every peer has closed
// or `timeout` has passed. Outcomes are in the order of `scripts`.
std::vector<hostile_outcome> run_hostile(std::uint16_t port,
                                         const std::vector<const hostile_script*>& scripts,
                                         std::chrono::milliseconds timeout);

// Resident set size (VmRSS) and its peak (VmHWM) of process `pid` in KiB, from /proc/PID/status;
// 0 if unreadable.
std::size_t vm_rss_kib(pid_t pid);
std::size_t vm_hwm_kib(pid_t pid);

// `bytes` with control and non-ASCII bytes written as \xHH, cut to `max` characters, for messages.
std::string printable(const std::string& bytes, std::size_t max = 200);

}  // namespace puppy::test
