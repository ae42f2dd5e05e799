#pragma once
// Where a client's requests go when each is answered on its own, in any order, into a reply slot
// the client side reserved for it (reply_order releases the answers in request order): a
// memcached pool (memcached_backend.hpp), a Redis Cluster (cluster_backend.hpp). One backend per
// client; it knows the client only as a reply_sink.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "puppy/resp/client_state.hpp"
#include "puppy/resp/request_framer.hpp"

namespace puppy::server {

// What a backend needs from the client side it serves.
class reply_sink {
 public:
  // The answer of the request that reserved `slot`.
  virtual void answer(std::uint64_t slot, std::string_view reply) = 0;
  // Answers were handed over from a batch of upstream responses: flush them once the batch is
  // dispatched (one write per batch, not per answer).
  virtual void answers_ready() = 0;
  // The client is gone: answers arriving now are dropped, no further step is taken.
  virtual bool gone() const = 0;
  // Bytes no request asked for (a subscription's message): after every answer of the requests
  // already answered or reserved. Flushed with answers_ready().
  virtual void push(std::string_view bytes) = 0;
  // The client's connection is to be closed once the answers of its requests so far are out,
  // reading nothing more (the upstream state it relied on is gone, as when a Redis restarts).
  virtual void end() = 0;

 protected:
  ~reply_sink() = default;
};

class routed_backend {
 public:
  virtual ~routed_backend() = default;
  // Starts `cmd` (its arguments captured; `bytes` the whole request as the client sent it, valid
  // during the call) for the reply slot `slot`. `sink` is the client side; the backend's
  // callbacks and timers hold it, and with it the backend, until they ran.
  virtual void submit(const resp::framed_command& cmd, std::string_view bytes, std::uint64_t slot,
                      const std::shared_ptr<reply_sink>& sink) = 0;
  // QUIT was answered: the client side reads nothing more and closes after the replies.
  bool quit() const { return state_.quit; }
  // Who the client is, for CLIENT INFO: its address, the proxy's (ip:port), its socket.
  void describe_client(std::string addr, std::string laddr, int fd) {
    state_.addr = std::move(addr);
    state_.laddr = std::move(laddr);
    state_.fd = fd;
  }
  // Whether submit() needs the request's bytes (else only its captured arguments are used, and
  // the client side need not keep a request's bytes until it is whole).
  virtual bool needs_bytes() const = 0;
  // Whether a request in flight waits for something other than its answer being computed (a
  // blocking command, PGET ... WAIT): a client that goes away then is let go at once, as Redis
  // frees a blocked client, instead of after the answer.
  virtual bool blocked() const = 0;
  // The client has gone (or is being closed): what waits on its behalf ends now. Answers that
  // still arrive go to a sink that is gone().
  virtual void abandon() = 0;

 protected:
  // The connection state the client keeps with "its Redis" (HELLO, CLIENT, QUIT), kept here:
  // no upstream connection is the client's own.
  resp::client_state state_;
};

}  // namespace puppy::server
