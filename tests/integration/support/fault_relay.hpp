#pragma once
// A fault-injecting TCP relay for tests: listens on a free loopback port, forwards every
// connection to a target loopback port, and can be switched at run time between faults (slow,
// refusing, closing at random, cutting everything, blackholed). It runs in a thread of its own
// over plain POSIX sockets and poll(); the control functions may be called from any thread and
// take effect on the relay's next loop turn (within a millisecond or so).
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace puppy::test {

class fault_relay {
 public:
  // What the relay has done so far (all counters only grow).
  struct counters {
    std::uint64_t accepted = 0;       // connections accepted from clients
    std::uint64_t target_failed = 0;  // accepted, but the target refused: closed with RST
    std::uint64_t refused_reset = 0;  // accepted while refusing in `reset` style: closed with RST
    std::uint64_t random_closes = 0;  // connections closed by close_randomly()
    std::uint64_t cut = 0;            // connections closed by cut_all()
    std::uint64_t peer_closed = 0;    // connections that ended because one side closed
    std::uint64_t chunks = 0;         // chunks read and forwarded (either direction)
    std::uint64_t bytes = 0;          // bytes read (either direction)
    std::size_t open = 0;             // connection pairs open now
  };

  // How new connections are refused.
  enum class refuse_style {
    refused,  // the listener is closed (the port stays reserved): connect() gets ECONNREFUSED
    reset,    // connections are accepted and closed at once with an RST
  };

  // Starts relaying 127.0.0.1:<port()> to 127.0.0.1:<target_port>, passing everything through.
  // `seed` drives every random choice (close_randomly, delays), so a run is repeatable up to
  // timing.
  explicit fault_relay(std::uint16_t target_port, std::uint64_t seed = 1);
  // Stops the thread and closes every socket.
  ~fault_relay();
  fault_relay(const fault_relay&) = delete;
  fault_relay& operator=(const fault_relay&) = delete;

  std::uint16_t port() const;

  // Back to plain forwarding: no delay, no refusal, no random closes, no blackhole, nothing
  // held. Connections that are open stay open; data held back by a delay, a blackhole or hold()
  // is forwarded.
  void pass_through();
  // Holds every chunk read (either direction) for a random time in [min, max] before forwarding
  // it; order within a direction is kept. Zero and zero: no delay.
  void delay(std::chrono::milliseconds min, std::chrono::milliseconds max);
  // Refuses new connections (on) or accepts them again (off). Open connections are not touched.
  void refuse(bool on, refuse_style style = refuse_style::refused);
  // Each chunk read closes its connection pair with probability p (0: never): a random prefix of
  // the chunk is forwarded first, and both sides are closed, at random with an RST or a FIN.
  void close_randomly(double p);
  // Closes every open connection pair now, with an RST on both sides.
  void cut_all();
  // New connections go to 127.0.0.1:<target_port> from now on (as a DNS name moved to another
  // address); open ones stay with their target.
  void retarget(std::uint16_t target_port);
  // Stops forwarding (on): nothing is read or written, connections stay open, new ones are
  // accepted and held. Off: forwarding resumes, nothing is lost (like a network that dropped
  // packets for a while, TCP retransmitting afterwards).
  void blackhole(bool on);
  // Holds back the bytes of the chosen connections: those whose client has sent `marker` (a
  // substring of the first 64 KiB it sent, e.g. "TRACKING" for the near cache's connection),
  // going to the client (`to_client`) and/or to the target (`to_target`). They are still read
  // and queued, in order; switching a direction off sends what it holds. Other connections are
  // not touched. An empty marker holds nothing.
  void hold(const std::string& marker, bool to_client, bool to_target);
  // The bytes held back now by hold(), to the clients and to the targets, concatenated.
  std::string held() const;

  counters stats() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace puppy::test
