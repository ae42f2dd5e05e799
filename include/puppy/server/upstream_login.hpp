#pragma once
// Logging in on a new upstream connection: the proxy's credentials (AUTH [user] password) are
// sent before anything else, and the connection is only used once the upstream said +OK.
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace puppy::server {

// The AUTH request for these credentials, RESP-encoded (user may be empty).
std::string login_request(const std::string& user, const std::string& password);

// Writes `request` (kept alive by the caller until `done`) on a connected socket and reads the
// one-line reply. done(ec, why): no error on +OK; on an error reply ec is access_denied and
// `why` says "authentication failed: <the upstream's error>"; on an I/O error, ec is that error.
// Nothing beyond the reply is read. The reply of a wrong password is never logged with it.
void async_login(boost::asio::ip::tcp::socket& socket, const std::string& request,
                 std::function<void(const boost::system::error_code&, const std::string&)> done);

}  // namespace puppy::server
