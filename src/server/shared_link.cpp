// A client's link to its worker's shared upstream connection.
#include "puppy/server/shared_link.hpp"

#include "puppy/server/session.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

void shared_link::join() {
  conn_->attach(&client_);
  joined_ = true;
}

void shared_link::leave() {
  if (!joined_) return;
  conn_->detach(&client_);
  joined_ = false;
}

void shared_link::wake_me() {
  conn_->wake_me(client_.shared_from_this());
}

bool shared_link::takes(const resp::command_spec& spec, std::size_t wire_size) const {
  return spec.shareable && wire_size <= owner_.config().max_shared_request;
}

redis_link::admission shared_link::admit(const resp::command_spec& spec, std::size_t wire_size) {
  if (!takes(spec, wire_size)) return admission::refuse;
  if (conn_->current() == shared_upstream::state::up) return admission::go;
  switch (conn_->ensure()) {  // opens it, unless it is down and the back-off says to wait
    case shared_upstream::state::up:
      return admission::go;
    case shared_upstream::state::connecting:
      wake_me();
      return admission::wait;
    case shared_upstream::state::idle:
    case shared_upstream::state::down:
      break;
  }
  return admission::down;
}

bool shared_link::forward(const char* data, std::size_t len, std::uint32_t count) {
  // (The head of a request still arriving never comes here: whole_requests_only.)
  if (count == 0) return false;
  return conn_->send(client_.shared_from_this(), data, len, count, true);
}

void shared_link::send_copy(std::string_view bytes, std::uint32_t count) {
  conn_->send(client_.shared_from_this(), bytes.data(), bytes.size(), count);
}

}  // namespace puppy::server
