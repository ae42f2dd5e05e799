#pragma once
// Between a TCP connect and a usable upstream connection: socket options, the TLS handshake
// when the upstream is TLS, and logging in with the proxy's credentials (AUTH [user] password)
// when it has some. Every kind of upstream connection (a client's own, a shared one, the wake
// hub's subscription) goes through it, so each is TLS and logged in alike.
#include <boost/system/error_code.hpp>
#include <functional>
#include <string>

namespace puppy::net {
class stream;
}

namespace puppy::server {

struct settings;

// Where a Redis upstream's connections go now, "host:port": config.upstream, or the primary
// Redis Sentinel named last; "no primary known" before the sentinels named one.
std::string upstream_text(const settings& config);

// Connects `s` to where a Redis upstream's connections go now (upstream_text): a host name is
// resolved again each time, and the address reached is noted (upstream::primary::reached). With
// no primary known, done(host_not_found) runs at once (posted). `s` must live until done has
// run.
void async_connect_upstream(const settings& config, net::stream& s,
                            std::function<void(const boost::system::error_code&)> done);

// The AUTH request for these credentials, RESP-encoded (user may be empty).
std::string login_request(const std::string& user, const std::string& password);

// Makes the freshly connected `s` usable, in order: socket options (non-blocking, no Nagle,
// dead-peer detection), the TLS handshake if config.upstream_tls, the login if
// config.upstream_login is set (else, over TLS, a PING: with TLS 1.3 the server's
// refusal of the proxy's certificate only comes with the first reply, and must be reported as
// a handshake failure, not as a dropped connection later); then, with config.require_primary,
// ROLE, whose whole reply is read and must say master. Then done(ec, why): no error once
// ready; else `why`
// says which step failed and how ("TLS handshake failed: certificate verify failed (hostname
// mismatch)", "authentication failed: WRONGPASS ...", "closed during login"). The caller's
// connect timeout covers every step: closing `s` aborts the one in progress (done then gets
// operation_aborted). Nothing beyond the login's (and ROLE's) reply is read, and a wrong password's
// reply is never logged with the password. `s` must live until done has run; `config` is read at
// once.
void async_start_upstream(
    const settings& config, net::stream& s,
    std::function<void(const boost::system::error_code&, const std::string&)> done);

}  // namespace puppy::server
