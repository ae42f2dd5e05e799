#pragma once
// Child processes for integration tests: started with fork/exec, output to a log file, always
// stopped and reaped (a destructor sends SIGKILL to anything still running).
#include <sys/types.h>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace puppy::test {

using namespace std::chrono_literals;

class process {
 public:
  process() = default;
  // Starts argv[0] (looked up in PATH) with stdout and stderr appended to log_path.
  process(const std::vector<std::string>& argv, const std::string& log_path);
  ~process();
  process(process&& other) noexcept;
  process& operator=(process&& other) noexcept;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  // Whether it still runs (reaps it if it has exited).
  bool running();
  void signal(int sig);
  // SIGSTOP, then waits until every thread of the process is stopped (a signal is delivered
  // asynchronously: a thread running on another CPU may otherwise serve one more request).
  void pause();
  // Waits for it to exit; returns its exit code, 128+signal if killed, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // Sends `sig`, waits; escalates to SIGKILL after `timeout`. Returns as wait() does.
  int stop(int sig = 15, std::chrono::milliseconds timeout = 10s);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Polls cond every millisecond or so until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

std::string make_temp_dir(const std::string& prefix);
std::string read_file(const std::string& path);
// Removes a directory tree made by make_temp_dir, unless PUPPY_KEEP_TEST_DIRS is set.
void remove_temp_dir(const std::string& dir);
// A loopback port that was free a moment ago.
std::uint16_t free_port();

}  // namespace puppy::test
