#pragma once
// What a PGET-family request answers from the reply to each of its steps: the rules every engine
// shares (the session's, on one Redis connection, and the Redis Cluster backend's), apart from
// how the steps travel. Pure: bytes in (RESP2 or RESP3, one whole reply), the client's reply out.
//
//   step                          function         then
//   MGET key status (every PGET)  answer_read      answered, or heal / lease step / script
//   SET status NX GET + GET key   answer_lease     answered (+ heal)
//   the script's get              answer_get       answered, or (PGET ... WAIT) wait
//   PSET / PRELEASE / PINVALIDATE answer_write     answered
//
// Errors are answered as Redis gave them ("-<text>\r\n"); a reply of the wrong shape as
// "-ERR unexpected reply ..."; -NOSCRIPT as "-ERR the PGET script was flushed ...", with
// `noscript` set so that the engine loads the script again.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "puppy/pget/decision.hpp"

namespace puppy::pget {

// What comes after a PGET's read.
enum class after_read : std::uint8_t {
  answered,    // the reply is in *out
  heal,        // a miss is in *out; drop the status, whose value was evicted (encode_heal)
  take_lease,  // no status: take the lease (SET status NX GET + GET key, or the script)
  script       // the script decides (BETA's early refresh, an unknown deadline, a WAIT's miss)
};
struct read_answer {
  after_read next = after_read::answered;
  std::optional<state> given;  // what was answered (nullopt: an error, or not answered yet)
};
// The read's reply `bytes` at `now_ms`; `xfetch` is BETA's factor (0 without BETA); `wait`:
// PGET ... WAIT, which is never answered a miss from the read (it waits, through the script).
// Appends the reply to *out when next is answered or heal.
read_answer answer_read(std::string_view bytes, std::int64_t now_ms, double xfetch, bool wait,
                        std::string* out);

// The lease step's two replies: SET status NX GET (`status_bytes`) and GET key
// (`value_bytes`), sent at `now_ms` with `token`.
struct lease_answer {
  std::optional<state> given;  // what was answered (nullopt: an error)
  bool heal = false;           // a status without its value was found: drop it (encode_heal)
  bool no_set_get = false;     // SET ... GET was refused (Redis < 7.0): use the script from now
};
// Appends the reply to *out.
lease_answer answer_lease(std::string_view status_bytes, std::string_view value_bytes,
                          std::string_view token, std::int64_t now_ms, std::string* out);

// What comes after the script's get.
struct get_answer {
  bool wait = false;              // PGET ... WAIT found no value: nothing is in *out
  std::int64_t retry_after = -1;  // then: when the lease or back-off ends (ms; -1: unknown)
  std::optional<state> given;     // what was answered (nullopt: an error, or waiting)
  bool noscript = false;
};
// `wait`: the get of a PGET ... WAIT. Appends the reply to *out unless it waits.
get_answer answer_get(std::string_view bytes, bool wait, std::string* out);

// A PSET, PRELEASE or PINVALIDATE's integer.
struct write_answer {
  std::optional<std::int64_t> value;  // nullopt: an error
  bool noscript = false;
};
// Appends the reply to *out.
write_answer answer_write(std::string_view bytes, std::string* out);

}  // namespace puppy::pget
