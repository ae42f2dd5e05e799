#pragma once
// Running corpus files: each line is sent to two servers (two connections), and the replies are
// compared. See differential_test.cpp for the syntax.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client.hpp"

namespace puppy::test {

// Sends every line of corpus files to two servers in lockstep (`first_port` is the reference)
// and requires equal replies (after the normalisation a line asks for).
class corpus_runner {
 public:
  corpus_runner(std::uint16_t first_port, std::uint16_t second_port);
  ~corpus_runner();
  void run_file(const std::string& path);
  // The Redis servers behind the two sides, for `@blocked N` (wait until both have N clients
  // blocked, so that a blocking request sent with @send is in place before the next line).
  void set_redis_ports(std::uint16_t first_redis, std::uint16_t second_redis);
  // ... when the second side is a cluster: the sum over its nodes.
  void set_redis_ports(std::uint16_t first_redis, const std::vector<std::uint16_t>& second_redis);
  // The second side is a cluster (behind the proxy): keys that commands other than MGET, MSET,
  // DEL, UNLINK, EXISTS and TOUCH use together across slots get a common hash tag, on both
  // sides, so that the file runs without -CROSSSLOT.
  void set_cluster_keys(bool on);
  // How to connect to the second side and to its Redis (TLS, say); plain by default.
  void set_second_options(const client_options& side, const client_options& redis);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// The *.redis files of a folder, sorted.
std::vector<std::string> corpus_files(const std::string& dir);

}  // namespace puppy::test
