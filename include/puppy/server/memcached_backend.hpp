#pragma once
// Where a client's requests go when the upstream is a memcached pool: each request is translated
// (memcached/translate.hpp) into memcached requests on the servers its keys map to, possibly in
// several steps (a PGET that waits), and its RESP answer is handed to the client side in the
// reply slot reserved for it (routed_backend.hpp).
#include <cstdint>
#include <memory>
#include <string_view>

#include "puppy/memcached/translate.hpp"
#include "puppy/server/routed_backend.hpp"

namespace puppy::server {

class worker;

class memcached_backend final : public routed_backend {
 public:
  explicit memcached_backend(worker& owner);

  // Translates the captured arguments (the bytes are not used).
  void submit(const resp::framed_command& cmd, std::string_view bytes, std::uint64_t slot,
              const std::shared_ptr<reply_sink>& sink) override;
  bool needs_bytes() const override { return false; }
  bool blocked() const override { return false; }  // memcached has no blocking command
  void abandon() override {}

 private:
  struct job;
  void run(const std::shared_ptr<job>& j, memcached::step s);

  worker& owner_;
};

}  // namespace puppy::server
