#pragma once
// Whether the upstream is alive although a connection of the proxy's waits long for a reply. A
// slow reply is not a dead upstream: a client's long script (EVAL, FCALL) keeps its connection
// waiting as long as it runs, and failing that connection would close every other client on it.
// The probe opens a fresh connection (TLS as configured, no login) and sends PING: any reply
// line (+PONG, or -BUSY while a script runs, -NOAUTH, -LOADING) within the deadline means the
// server is there and answering; no connection or no reply in time means it is not.
// One-shot; owned through a shared_ptr so that its handlers may outlive the owner's interest.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "puppy/net/stream.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

class liveness_probe : public std::enable_shared_from_this<liveness_probe> {
 public:
  // `config`: the upstream's address, TLS and connect timeout (the deadline of the whole probe).
  liveness_probe(boost::asio::io_context& ioc, const settings& config);
  liveness_probe(const liveness_probe&) = delete;
  liveness_probe& operator=(const liveness_probe&) = delete;

  // Probes once; `done(alive, why)` runs exactly once on this io_context, unless cancel() was
  // called first. `why` says what failed when not alive.
  void start(std::function<void(bool alive, const std::string& why)> done);
  // Closes the probe's connection; done is not called.
  void cancel();

 private:
  void on_started();
  void write();
  void read();
  void again(bool writing, void (liveness_probe::*step)());
  void finish(bool alive, const std::string& why);

  net::stream socket_;
  boost::asio::steady_timer deadline_;
  settings start_;  // what async_start_upstream needs: TLS, no login
  std::chrono::milliseconds limit_;
  std::function<void(bool, const std::string&)> done_;
  std::size_t written_ = 0;
  std::string reply_;
  char buf_[256];
  bool finished_ = false;
};

}  // namespace puppy::server
