#pragma once
// Client load whose every reply is unique to its request: `clients` threads, each writing keys
// of its own (SET, then GET; every 8th round MSET and MGET of two keys in two slots) and checking
// each reply. A reply that is neither the expected one nor an error is *wrong* (a reply given to
// another request); errors are kept for the test to judge. Runs until stop() or destruction.
//
// Across a primary failover, writes the old primary acknowledged may never reach the new one
// (Redis replicates asynchronously): with `writes_may_be_lost`, a GET that finds an older value
// of this client's for the key, or none, is a lost write (counted apart), not a wrong reply, and
// the MSET/MGET rounds are left out.
//
// A `shape` with a pipeline writes each round's requests at once: `pipeline` SETs of keys of its
// own (values of `value_bytes`, large ones making the proxy lend the client's buffer to a shared
// connection), then their GETs, every reply checked in order.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace puppy::test {

class checked_load {
 public:
  struct shape {
    int pipeline = 1;
    std::size_t value_bytes = 0;  // values padded to this size
  };
  checked_load(std::uint16_t port, int clients, bool writes_may_be_lost = false);
  checked_load(std::uint16_t port, int clients, bool writes_may_be_lost, shape s);
  ~checked_load();
  checked_load(const checked_load&) = delete;
  checked_load& operator=(const checked_load&) = delete;

  // Requests answered as expected so far.
  std::uint64_t ok() const { return ok_.load(); }
  // Waits until `more` requests beyond the current count were answered as expected (false
  // after `timeout`).
  bool wait_for_more(std::uint64_t more, std::chrono::milliseconds timeout);
  void stop();

  std::uint64_t wrong() const { return wrong_.load(); }
  std::uint64_t lost_writes() const { return lost_.load(); }
  std::vector<std::string> errors() const;  // error replies, and clients that lost their link
  std::string wrong_sample() const;

 private:
  void run(int id);
  void run_pipelined(int id);
  // Judges a reply: true if it is `want`; else an error is kept, anything else counted wrong.
  bool judge(const std::string& got, const std::string& want, const char* what);

  std::uint16_t port_;
  bool lossy_;
  shape shape_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> wrong_{0};
  std::atomic<std::uint64_t> lost_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> errors_;
  std::string wrong_sample_;
  std::vector<std::thread> threads_;
};

// The load of the failover tests: 20 checked clients whose writes may be lost, 16 sending one
// request at a time and 4 pipelining 16 SETs of 8 KiB values and their GETs (written to a shared
// connection from the clients' own buffers, lent), judged as one.
class failover_load {
 public:
  explicit failover_load(std::uint16_t port);
  // Waits until each part answered `more` requests beyond its current count as expected.
  bool wait_for_more(std::uint64_t more, std::chrono::milliseconds timeout);
  void stop();

  std::uint64_t ok() const { return single_.ok() + pipelined_.ok(); }
  std::uint64_t wrong() const { return single_.wrong() + pipelined_.wrong(); }
  std::uint64_t lost_writes() const { return single_.lost_writes() + pipelined_.lost_writes(); }
  std::string wrong_sample() const { return single_.wrong_sample() + pipelined_.wrong_sample(); }
  std::vector<std::string> errors() const;
  std::string error_sample() const;  // the first 20 errors, one per line
  // The errors that are not ones a client may see while the primary moves (upstream
  // unavailable, upstream connection lost, -READONLY from the demoted primary, its connection
  // closed), one per line; empty if there are none.
  std::string unclear_errors() const;
  // How many errors were connections closed under a client (by the proxy, or the proxy's
  // upstream connection lost).
  std::size_t dropped() const;

 private:
  checked_load single_;
  checked_load pipelined_;
};

}  // namespace puppy::test
