#pragma once
// The read side of a proxy-owned connection that only reads replies to what it sent and pushes
// (the wake hub's subscription, the near cache's tracking connection): reads what the socket
// has, cuts it into whole replies and hands each one over. The owner decides what an ending
// means (wait, yield, lost).
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "puppy/net/stream.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/server/buffer.hpp"

namespace puppy::server::detail {

class reply_reader {
 public:
  // Why read() returned.
  enum class end {
    waiting,  // the socket has nothing more now: wait until it is readable, then read again
    turns,  // detail::max_read_turns reads done: let the thread's other connections run, then again
    failed,   // the read failed or the peer closed (`ec`)
    invalid,  // the bytes are not RESP (error_message())
    stopped,  // on_reply returned false (e.g. it dropped the connection)
  };

  reply_reader(std::size_t buffer_size, std::size_t max_depth)
      : in_(buffer_size), scanner_(max_depth) {}

  // For a new connection: forgets any partial reply.
  void reset() {
    scanner_.reset();
    message_.clear();
  }

  // Calls on_reply(reply, push) for every whole reply, in order, while it returns true.
  end read(net::stream& socket, const std::function<bool(std::string_view, bool)>& on_reply,
           boost::system::error_code* ec);

  const char* error_message() const { return scanner_.error_message(); }

 private:
  buffer in_;
  std::string message_;  // the reply being read
  resp::reply_scanner scanner_;
};

}  // namespace puppy::server::detail
