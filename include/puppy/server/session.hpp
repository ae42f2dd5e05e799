#pragma once
// One client connection and the upstream connection pinned to it.
//
// Requests are framed (to count them and to find protocol errors) and forwarded as the bytes the
// client sent; replies are scanned (to know where each ends) and relayed as the bytes the upstream
// sent. Replies the proxy makes itself (errors) are spliced in at their request's place in the
// reply stream. Each direction has one read or one write in flight, never both, so memory per
// session stays at its two buffers and a socket that is not keeping up stops the one feeding it.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "puppy/resp/reply_scanner.hpp"
#include "puppy/resp/request_framer.hpp"
#include "puppy/server/buffer.hpp"

namespace puppy::server {

class worker;

class session : public std::enable_shared_from_this<session> {
 public:
  session(worker& owner, boost::asio::ip::tcp::socket client);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start();
  // Closes both connections at once (shutdown); pending replies are dropped.
  void close();

 private:
  enum class upstream_state : std::uint8_t { connecting, up, down, closed };

  // Client -> upstream.
  void read_client();
  void on_client_read(const boost::system::error_code& ec, std::size_t n);
  void process_requests();
  void on_request(const resp::framed_command& cmd);
  void forward_range(std::size_t begin, std::size_t end);
  void write_upstream();
  void on_upstream_written(const boost::system::error_code& ec);
  void finish_request_round();
  void on_client_eof();

  // Upstream connection.
  void connect_upstream();
  void on_upstream_connected(const boost::system::error_code& ec);
  std::string unavailable_reply() const;

  // Upstream -> client.
  void read_upstream();
  void on_upstream_read(const boost::system::error_code& ec, std::size_t n);
  void relay_replies(std::size_t n);
  void on_counted_reply();
  void on_upstream_gone(const std::string& why);

  // Replies the proxy makes, in request order.
  void reply_local(std::string bytes);
  void queue_local(std::string bytes);
  void queue_client(const char* data, std::size_t len);  // a range of up_in_
  void write_client();
  void on_client_written(const boost::system::error_code& ec);
  void maybe_finish();

  bool counting() const { return !passthrough_at_ || received_ < *passthrough_at_; }
  void enter_passthrough(bool raw);

  worker& owner_;
  boost::asio::ip::tcp::socket client_;
  boost::asio::ip::tcp::socket upstream_;
  boost::asio::steady_timer connect_timer_;
  upstream_state upstream_state_ = upstream_state::connecting;
  std::string upstream_error_;

  // Requests.
  resp::request_framer framer_;
  buffer in_;             // [0, in_.size()): bytes read from the client not yet done with
  std::size_t held_ = 0;  // leading bytes of in_ the framer consumed but that are not forwarded
  std::size_t tail_ = 0;  // after a round: where the bytes to keep start
  std::size_t fwd_begin_ = 0;  // start of the range being collected for forwarding
  std::vector<boost::asio::const_buffer> up_out_;
  bool round_pending_ = false;  // bytes were read and wait for the upstream connection
  bool client_reading_ = false;
  bool upstream_writing_ = false;  // in_ is being forwarded: do not read the client into it
  bool client_eof_ = false;
  bool close_after_replies_ = false;  // a protocol error: close once its reply is out

  // Replies.
  resp::reply_scanner scanner_;
  buffer up_in_;
  std::uint64_t sent_ = 0;                       // counted requests forwarded
  std::uint64_t received_ = 0;                   // counted replies relayed
  std::optional<std::uint64_t> passthrough_at_;  // from this reply on, relay without counting
  bool raw_ = false;                             // replication stream: do not even scan
  bool reset_waiting_ = false;                   // RESET forwarded in passthrough
  std::uint64_t sent_since_reset_ = 0;
  struct pending_local {
    std::uint64_t after;  // emit once this many counted replies were relayed
    std::string bytes;
  };
  std::deque<pending_local> pending_local_;

  struct segment {
    bool local;
    std::size_t offset;
    std::size_t len;
  };
  std::vector<segment> client_queue_;  // waiting to be written, in order
  std::string queue_local_;            // bytes of the local segments in client_queue_
  std::string flight_local_;           // bytes of the local segments being written
  std::vector<boost::asio::const_buffer> client_out_;
  bool client_writing_ = false;
  bool flight_uses_up_in_ = false;
  bool up_in_in_use_ = false;  // segments point into up_in_: do not read the upstream into it
  bool closed_ = false;
};

}  // namespace puppy::server
