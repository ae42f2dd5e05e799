#pragma once
// Bytes waiting to be written to one socket, in order, as a list of pieces: views of memory its
// owner lends (a client's input buffer, so a request goes out without being copied), or bytes
// copied into the queue. A write gathers the pieces into one writev (write_pieces). Lent memory
// must stay as it is until the queue has written it or own_rest() has copied what is left.
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <string>
#include <vector>

#include "puppy/server/io_util.hpp"

namespace puppy::server {

class gather_queue {
 public:
  // Queues a view of `len` bytes at `data` (not copied).
  void lend(const char* data, std::size_t len) {
    if (len == 0) return;
    if (pieces_.empty() && off_ < owned_.size()) {
      pieces_.push_back({nullptr, off_, owned_.size() - off_});  // what was copied goes first
      off_ = 0;
    }
    if (!pieces_.empty() && pieces_.back().data != nullptr &&
        pieces_.back().data + pieces_.back().len == data) {
      pieces_.back().len += len;  // the lender's next bytes: one piece
    } else {
      pieces_.push_back({data, 0, len});
    }
    queued_ += len;
  }
  // Queues a copy of `len` bytes at `data`.
  void copy(const char* data, std::size_t len) {
    if (len == 0) return;
    queued_ += len;
    if (!pieces_.empty()) {  // else owned_ from off_ on is the whole queue (nothing lent)
      if (pieces_.back().data == nullptr &&
          pieces_.back().offset + pieces_.back().len == owned_.size()) {
        pieces_.back().len += len;
      } else {
        pieces_.push_back({nullptr, owned_.size(), len});
      }
    }
    owned_.append(data, len);
  }

  bool empty() const { return queued_ == 0; }
  std::size_t size() const { return queued_; }  // bytes not written yet
  // Whether any queued byte is lent.
  bool lends() const {
    for (std::size_t i = index_; i < pieces_.size(); ++i) {
      if (pieces_[i].data != nullptr) return true;
    }
    return false;
  }

  // Writes to a non-blocking socket as far as it takes the bytes. Returns success when the queue
  // is empty, else the error that stopped it (would_block included). `iov`: room for the write.
  template <class Socket>
  boost::system::error_code write_to(Socket& socket, detail::iov_scratch& iov) {
    boost::system::error_code ec;
    if (pieces_.empty()) {  // only copies: one buffer
      while (off_ < owned_.size()) {
        const std::size_t n =
            socket.write_some(boost::asio::buffer(owned_.data() + off_, owned_.size() - off_), ec);
        if (ec) return ec;
        off_ += n;
        queued_ -= n;
      }
    } else {
      const std::size_t index = index_;
      const std::size_t off = off_;
      ec = detail::write_pieces(socket, pieces_, owned_.data(), &index_, &off_, iov);
      queued_ -= written_since(index, off);
      if (ec) return ec;
    }
    clear();
    return ec;
  }

  // Copies every lent byte still queued into the queue's own storage: the lenders may change or
  // free their memory from now on.
  void own_rest() {
    if (!lends()) return;
    std::string rest;
    rest.reserve(queued_);
    for (std::size_t i = index_; i < pieces_.size(); ++i) {
      const piece& p = pieces_[i];
      const char* bytes = p.data != nullptr ? p.data : owned_.data() + p.offset;
      const std::size_t skip = i == index_ ? off_ : 0;
      rest.append(bytes + skip, p.len - skip);
    }
    owned_ = std::move(rest);
    pieces_.clear();  // back to copies only
    index_ = off_ = 0;
  }

  void clear() {
    pieces_.clear();
    owned_.clear();
    index_ = off_ = 0;
    queued_ = 0;
  }

 private:
  struct piece {
    const char* data;  // null: `len` bytes at `offset` of owned_
    std::size_t offset;
    std::size_t len;
  };

  // Bytes written from the position (index, off) of pieces_ to the current one.
  std::size_t written_since(std::size_t index, std::size_t off) const {
    std::size_t n = 0;
    for (std::size_t i = index; i < index_; ++i) n += pieces_[i].len;
    return n - off + off_;
  }

  // Nothing lent: pieces_ is empty and the queue is owned_ from off_ on. Else the queue is
  // pieces_ from index_ on, the first of them written up to off_.
  std::vector<piece> pieces_;
  std::string owned_;
  std::size_t index_ = 0;
  std::size_t off_ = 0;
  std::size_t queued_ = 0;
};

}  // namespace puppy::server
