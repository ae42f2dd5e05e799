// Differential test: every line of the corpus files is sent to one Redis directly and, through
// puppy-proxy, to an identically configured second Redis, in lockstep; the replies must be the
// same bytes. Only replies that legitimately differ between two servers (client ids, ports, run
// ids, times) are normalised, and only where a corpus line asks for it.
//
// Corpus syntax (tests/integration/corpus/*.redis), one request per line, arguments as redis-cli
// takes them (quotes and \x escapes):
//   CMD ARGS...           send on the current connection, read one reply, compare
//   @conn N               switch to connection N (each is a pair: direct and proxied)
//   @send CMD ARGS...     send without reading (for blocking commands)
//   @blocked N            wait until both Redis servers have N clients blocked (after @send)
//   @recv                 read one reply on the current connection and compare
//   @replies N CMD...     send, then read and compare N replies
//   @inline TEXT          send TEXT + CRLF as an inline command, read one reply
//   @mask CMD...          compare with every run of digits replaced by 0
//   @sorted CMD...        compare the elements of an array/set reply as sorted lists
//   @type CMD...          compare only the reply's type byte
#include <catch2/catch.hpp>

#include "corpus.hpp"
#include "servers.hpp"

using namespace puppy::test;

TEST_CASE("differential: every corpus reply through the proxy equals Redis's own") {
  redis_server direct;
  redis_server behind;
  proxy_server proxy(behind.url());
  corpus_runner r(direct.port(), proxy.port());
  r.set_redis_ports(direct.port(), behind.port());
  const auto files = corpus_files(PUPPY_CORPUS_DIR);
  REQUIRE(files.size() >= 15);
  for (const auto& f : files) {
    SECTION(f.substr(f.rfind('/') + 1)) {
      r.run_file(f);
    }
  }
}
