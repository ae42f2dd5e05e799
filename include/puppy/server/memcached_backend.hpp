#pragma once
// Where a client's requests go when the upstream is a memcached pool: each request is translated
// (memcached/translate.hpp) into memcached requests on the servers its keys map to, possibly in
// several steps (a PGET that waits), and its RESP answer is handed to the client side in the
// reply slot reserved for it. Answers complete in any order; the client side (reply_order)
// releases them in request order. One per client; it knows the client only as a reply_sink.
#include <cstdint>
#include <memory>
#include <string_view>

#include "puppy/memcached/translate.hpp"
#include "puppy/resp/request_framer.hpp"

namespace puppy::server {

class worker;

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

 protected:
  ~reply_sink() = default;
};

class memcached_backend {
 public:
  explicit memcached_backend(worker& owner);

  // Starts `cmd` (its arguments captured) for the reply slot `slot`. `sink` is the client side;
  // the pool's callbacks and timers hold it, and with it this backend, until they ran.
  void submit(const resp::framed_command& cmd, std::uint64_t slot,
              const std::shared_ptr<reply_sink>& sink);
  // QUIT was answered: the client side reads nothing more and closes after the replies.
  bool quit() const { return state_.quit; }

 private:
  struct job;
  void run(const std::shared_ptr<job>& j, memcached::step s);

  worker& owner_;
  memcached::client_state state_;  // HELLO, CLIENT SETNAME/ID, QUIT: the client's own state
};

}  // namespace puppy::server
