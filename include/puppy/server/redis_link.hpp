#pragma once
// The Redis connection a client's requests go to: the worker's shared connection (shared_link)
// or a connection of the client's own (own_link). The session frames the requests and knows,
// with its reply_ledger, which reply is whose; a link only carries the bytes. The PGET family
// sends its steps over whichever link the client is on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "puppy/resp/command_table.hpp"

namespace puppy::server {

class redis_link {
 public:
  // Whether the connection is up (requests sent now reach Redis), or being opened (or moved to a
  // new primary: up again soon).
  virtual bool up() const = 0;
  virtual bool connecting() const = 0;
  // Whether the PGET script is known to the connection (loaded with SCRIPT LOAD since it came
  // up): the first step that needs it loads it, in the same write.
  virtual bool scripts_loaded() const = 0;
  virtual void set_scripts_loaded(bool on) = 0;
  // Whether a request of this kind and size may go on this connection. A client with a request
  // it does not take moves to a connection of its own (pinning).
  virtual bool takes(const resp::command_spec& spec, std::size_t wire_size) const = 0;
  // Only whole requests go on this connection: the head of a request still arriving stays with
  // the client until the rest has come.
  virtual bool whole_requests_only() const = 0;
  // What becomes of a request of this kind and size now: `go` on the connection, which is up;
  // `down`: it is not, and the request is answered "upstream unavailable"; `wait`: the link
  // began opening (a request needs it) and the request waits for the attempt (the session hears
  // of its end); `refuse`: the link never takes it (takes()).
  enum class admission : std::uint8_t { go, down, wait, refuse };
  virtual admission admit(const resp::command_spec& spec, std::size_t wire_size) = 0;
  // Whether the connection takes more requests now (else the client is not read meanwhile).
  virtual bool accepting() const = 0;
  // The client is not read because the connection is not accepting: resume it once it is.
  virtual void wake_when_accepting() = 0;
  // `count` requests the client sent (`len` bytes at `data`, in its read buffer; with
  // `count` 0, the head of one still arriving). Returns true if the bytes are lent: they are
  // written from where they are, and must stay as they are until the session hears they were
  // written (session::on_shared_written).
  virtual bool forward(const char* data, std::size_t len, std::uint32_t count) = 0;
  // Requests of the proxy's own (PGET steps): copied; `count` replies will come.
  virtual void send_copy(std::string_view bytes, std::uint32_t count) = 0;

 protected:
  ~redis_link() = default;
};

}  // namespace puppy::server
