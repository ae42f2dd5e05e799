// The proxy's own password (requirepass): AUTH and HELLO AUTH answered or rewritten here, NOAUTH
// for everything else until the client has authenticated, Redis's pre-auth limits meanwhile.
#include "puppy/auth/gate.hpp"
#include "puppy/server/session.hpp"
#include "puppy/server/shared_upstream.hpp"
#include "puppy/server/worker.hpp"

namespace puppy::server {

void session::set_authenticated(bool on) {
  authenticated_ = on;
  framer_.set_pre_auth(!on);
}

bool session::gate_holds_partial() const {
  // Before AUTH nothing may reach the upstream, not even the head of a request; AUTH and HELLO
  // (whose arguments are captured) are decided here whole.
  return !owner_.config().requirepass.empty() &&
         (!authenticated_ || framer_.partial_spec().capture_args);
}

void session::answer_here(std::size_t start, std::size_t pos, std::string reply) {
  if (routed()) {
    answer(out_.reserve(), reply);
    return;
  }
  flush_to(start);
  fwd_begin_ = pos;
  reply_local(std::move(reply));
}

bool session::gate_request(const resp::framed_command& cmd, std::size_t start, std::size_t pos,
                           bool* go_on) {
  const std::string& password = owner_.config().requirepass;
  if (password.empty()) return false;
  if (authenticated_ && !auth::needs_arguments(cmd.name) && cmd.name != "reset") return false;
  const auto d = auth::check(cmd.name, cmd.args, authenticated_, password);
  *go_on = true;
  switch (d.act) {
    case auth::action::reply:
      if (d.reply.rfind("-WRONGPASS", 0) == 0) owner_.stats().error(metrics::error_kind::auth);
      answer_here(start, pos, d.reply);
      set_authenticated(d.authenticated);
      return true;
    case auth::action::forward:
      set_authenticated(d.authenticated);
      return false;
    case auth::action::rewritten:
      break;
  }
  // HELLO ... AUTH with the right password: the upstream gets the HELLO without the login.
  if (!link_->takes(cmd.spec, cmd.wire_size)) {
    begin_pin(start);  // decided again, and applied, once the client has its own connection
    recounted_ = true;
    *go_on = false;
    return true;
  }
  set_authenticated(true);
  if (routed()) return false;  // HELLO is answered by the translation
  if (!own_.up() || dropping_) {
    dropping_ = false;
    answer_here(start, pos, unavailable_reply());
    return true;
  }
  flush_to(start);
  fwd_begin_ = pos;
  send_owned(d.request);
  ledger_.sent_one();
  return true;
}

}  // namespace puppy::server
