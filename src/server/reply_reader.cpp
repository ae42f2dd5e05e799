#include "puppy/server/reply_reader.hpp"

#include <boost/asio/buffer.hpp>

#include "puppy/server/io_util.hpp"

namespace puppy::server::detail {

reply_reader::end reply_reader::read(net::stream& socket,
                                     const std::function<bool(std::string_view, bool)>& on_reply,
                                     boost::system::error_code* ec) {
  for (int turn = 0; turn < max_read_turns; ++turn) {
    const std::size_t n = socket.read_some(boost::asio::buffer(in_.data(), in_.capacity()), *ec);
    if (would_block(*ec)) return end::waiting;
    if (*ec) return end::failed;
    std::size_t pos = 0;
    while (pos < n) {
      const auto r = scanner_.scan(in_.data() + pos, n - pos);
      message_.append(in_.data() + pos, r.consumed);
      pos += r.consumed;
      if (r.status == resp::scan_status::error) return end::invalid;
      if (r.status == resp::scan_status::reply) {
        if (!on_reply(std::string_view(message_), scanner_.is_push())) return end::stopped;
        message_.clear();
      }
    }
  }
  return end::turns;
}

}  // namespace puppy::server::detail
