// memcached::translate under fuzzing, driven by bytes as a memcached session drives it: a Redis
// request is framed from the input (inline or multibulk), translated, and each memcached request
// it sends gets the response parsed from the bytes that follow (or code::unavailable when they are
// not a complete response). Every command must finish within a bounded number of steps with
// exactly one RESP reply, and every memcached request must be one CRLF-terminated command.
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "entries.hpp"
#include "puppy/memcached/translate.hpp"
#include "puppy/resp/reply_scanner.hpp"
#include "puppy/resp/request_framer.hpp"
#include "support.hpp"

namespace puppy_fuzz {
namespace {

namespace mc = puppy::memcached;
using puppy::resp::frame_status;

constexpr std::size_t servers = 2;
constexpr std::int64_t now_ms = 1700000000000;  // a fixed clock: the same input, the same run
constexpr int max_steps = 64;                   // a PGET WAIT polls; stop it after this many
constexpr std::size_t max_value = std::size_t{1} << 20;

void check_reply(const std::string& reply, std::string_view command) {
  puppy::resp::reply_scanner s;
  const auto r = s.scan(reply.data(), reply.size());
  FUZZ_CHECK(r.status == puppy::resp::scan_status::reply && r.consumed == reply.size(),
             "not one RESP reply: \"" << printable(reply) << "\" for " << printable(command));
}

// Responses for `count` requests, taken from the input at *pos.
std::vector<mc::response> responses(std::string_view in, std::size_t* pos, std::size_t count) {
  std::vector<mc::response> out(count);
  for (auto& r : out) {
    const auto res = mc::parse_response(in.data() + *pos, in.size() - *pos, max_value, &r);
    if (res.status == mc::parse_status::complete) {
      *pos += res.consumed;
    } else {
      r = mc::response{};
      r.what = mc::code::unavailable;
      r.flags = "fuzz: no response";
    }
  }
  return out;
}

void run_command(const std::vector<std::string_view>& args, mc::client_state& state,
                 std::string_view in, std::size_t* pos) {
  mc::settings cfg;
  cfg.servers = servers;
  std::string reply;
  const std::string_view name = args.empty() ? std::string_view() : args[0];
  auto cmd = mc::translate(args, state, cfg, now_ms, &reply);
  if (!cmd) {
    check_reply(reply, name);
    return;
  }
  mc::step s = cmd->begin();
  for (int step = 0; !s.done; ++step) {
    if (step == max_steps) return;  // a WAIT that nothing wakes
    std::size_t count = 0;
    for (const auto& r : s.requests) {
      FUZZ_CHECK(r.bytes.size() >= 2 && r.bytes.compare(r.bytes.size() - 2, 2, "\r\n") == 0,
                 "request \"" << printable(r.bytes) << "\" for " << printable(name));
      count += r.broadcast ? servers : 1;
    }
    FUZZ_CHECK(count > 0 || s.wake_after_ms >= 0, "a step with nothing to do");
    s = cmd->next(responses(in, pos, count));
  }
  check_reply(s.reply, name);
}

}  // namespace

void memcached_translate_entry(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  puppy::resp::request_framer framer;
  framer.set_capture_all(true);
  mc::client_state state;
  std::size_t pos = 0;
  while (pos < in.size() && !state.quit) {
    const auto r = framer.parse(in.data() + pos, in.size() - pos);
    pos += r.consumed;
    if (r.status != frame_status::command) return;
    const auto& c = framer.command();
    if (c.argc == 0) continue;
    // The arguments are views into the framer: copy them before it parses again.
    std::vector<std::string> owned(c.args.begin(), c.args.end());
    const std::vector<std::string_view> args(owned.begin(), owned.end());
    run_command(args, state, in, &pos);
  }
}

}  // namespace puppy_fuzz
