#pragma once
// A client's link to its worker's shared upstream connection (shared_upstream.hpp): the
// connection takes the client's shareable requests, whole, together with other clients'; their
// replies come back to the session (session::deliver). With no shared connection (turned off),
// a client never uses this link.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "puppy/server/redis_link.hpp"
#include "puppy/server/shared_upstream.hpp"

namespace puppy::server {

class session;
class worker;

class shared_link final : public redis_link {
 public:
  // `conn` may be null: no shared connection.
  shared_link(session& client, worker& owner, shared_upstream* conn)
      : client_(client), owner_(owner), conn_(conn) {}
  ~shared_link() { leave(); }
  shared_link(const shared_link&) = delete;
  shared_link& operator=(const shared_link&) = delete;

  bool present() const { return conn_ != nullptr; }
  // While joined, the client hears of the connection's failure (session::on_shared_gone).
  void join();
  void leave();
  bool connecting() const override {
    return conn_->current() == shared_upstream::state::connecting;
  }
  // The client hears (session::on_shared_ready) once the connection's state changes or its
  // congestion clears.
  void wake_me();

  bool up() const override { return conn_->current() == shared_upstream::state::up; }
  bool scripts_loaded() const override { return conn_->scripts_loaded(); }
  void set_scripts_loaded(bool on) override { conn_->set_scripts_loaded(on); }
  bool takes(const resp::command_spec& spec, std::size_t wire_size) const override;
  bool whole_requests_only() const override { return true; }
  admission admit(const resp::command_spec& spec, std::size_t wire_size) override;
  bool accepting() const override { return !conn_->congested(); }
  void wake_when_accepting() override { wake_me(); }
  bool forward(const char* data, std::size_t len, std::uint32_t count) override;
  void send_copy(std::string_view bytes, std::uint32_t count) override;

 private:
  session& client_;
  worker& owner_;
  shared_upstream* conn_;
  bool joined_ = false;
};

}  // namespace puppy::server
