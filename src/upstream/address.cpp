#include "puppy/upstream/address.hpp"

#include <charconv>

namespace puppy::upstream {

std::string address::text() const {
  const char* variant = cluster ? "-cluster" : sentinel ? "-sentinel" : "";
  std::string out = kind == scheme::redis    ? std::string("redis") + variant + "://"
                    : kind == scheme::rediss ? std::string("rediss") + variant + "://"
                                             : "memcached://";
  if (!user.empty() || !password.empty()) out += user + (password.empty() ? "@" : ":***@");
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (i > 0) out += ',';
    const auto& s = servers[i];
    out += s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host;
    out += ':' + std::to_string(s.port);
  }
  if (sentinel) out += '/' + master_name;
  return out;
}

std::optional<host_port> parse_host_port(const std::string& text, std::uint16_t default_port,
                                         std::string* error) {
  host_port hp;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) {
      *error = "'" + text + "': missing ']' after an IPv6 address";
      return std::nullopt;
    }
    hp.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') {
        *error = "'" + text + "': expected ':' after ']'";
        return std::nullopt;
      }
      port_text = text.substr(close + 2);
    }
  } else {
    const auto colon = text.rfind(':');
    hp.host = text.substr(0, colon);
    if (colon != std::string::npos) port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) {
    *error = "'" + text + "': missing host";
    return std::nullopt;
  }
  hp.port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value > 65535) {
      *error = "'" + text + "': port must be a number from 0 to 65535";
      return std::nullopt;
    }
    hp.port = static_cast<std::uint16_t>(value);
  }
  return hp;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false on a malformed one.
bool percent_decode(const std::string& in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0) {
      return false;
    }
    *out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
    i += 2;
  }
  return true;
}

// Splits "user:password@" off the front of `rest` (after the scheme). The URL in error messages
// has the password masked.
bool take_userinfo(std::string* rest, address* a, std::string* masked_url,
                   const std::string& scheme_text, std::string* error) {
  const auto at = rest->rfind('@');
  if (at == std::string::npos) {
    *masked_url = scheme_text + *rest;
    return true;
  }
  const std::string info = rest->substr(0, at);
  *rest = rest->substr(at + 1);
  const auto colon = info.find(':');
  const std::string user_text = info.substr(0, colon);
  *masked_url = scheme_text + user_text + (colon == std::string::npos ? "@" : ":***@") + *rest;
  if (!percent_decode(user_text, &a->user) ||
      (colon != std::string::npos && !percent_decode(info.substr(colon + 1), &a->password))) {
    *error = "upstream '" + *masked_url + "': malformed %-escape in the user or password";
    return false;
  }
  if (colon == std::string::npos) {  // redis://password@host, as redis-cli -u reads it
    a->password = a->user;
    a->user.clear();
    *masked_url = scheme_text + "***@" + *rest;
  }
  return true;
}

}  // namespace

std::optional<address> parse_address(const std::string& url, std::string* error) {
  address a;
  std::string rest;
  std::uint16_t default_port = 6379;
  if (url.rfind("redis://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("redis-cluster://", 0) == 0) {
    a.cluster = true;
    rest = url.substr(16);
  } else if (url.rfind("rediss-cluster://", 0) == 0) {
    a.kind = scheme::rediss;
    a.cluster = true;
    rest = url.substr(17);
  } else if (url.rfind("redis-sentinel://", 0) == 0) {
    a.sentinel = true;
    rest = url.substr(17);
    default_port = 26379;
  } else if (url.rfind("rediss-sentinel://", 0) == 0) {
    a.kind = scheme::rediss;
    a.sentinel = true;
    rest = url.substr(18);
    default_port = 26379;
  } else if (url.rfind("rediss://", 0) == 0) {
    a.kind = scheme::rediss;
    rest = url.substr(9);
  } else if (url.rfind("memcached://", 0) == 0) {
    a.kind = scheme::memcached;
    rest = url.substr(12);
    default_port = 11211;
  } else {
    const auto at = url.rfind('@');
    *error = "upstream '" + (at == std::string::npos ? url : "***" + url.substr(at)) +
             "' must start with redis://, rediss://, redis-cluster://, rediss-cluster://, "
             "redis-sentinel://, rediss-sentinel:// or memcached://";
    return std::nullopt;
  }
  std::string masked_url;
  const std::string scheme_text = url.substr(0, url.find("://") + 3);
  if (!take_userinfo(&rest, &a, &masked_url, scheme_text, error)) return std::nullopt;
  if (a.kind == scheme::memcached && (!a.user.empty() || !a.password.empty())) {
    *error = "upstream '" + masked_url + "': memcached has no password authentication";
    return std::nullopt;
  }
  if (a.sentinel) {
    // The master's name follows the sentinels: redis-sentinel://host:port,.../NAME
    const auto slash = rest.find('/');
    if (slash != std::string::npos) a.master_name = rest.substr(slash + 1);
    if (!a.master_name.empty() && a.master_name.back() == '/') a.master_name.pop_back();
    if (a.master_name.empty() || a.master_name.find('/') != std::string::npos) {
      *error = "upstream '" + masked_url +
               "': name the primary after the sentinels: "
               "redis-sentinel://host:port[,host:port...]/MASTER_NAME";
      return std::nullopt;
    }
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::size_t start = 0;
  while (start <= rest.size()) {
    const auto comma = rest.find(',', start);
    const std::string part =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto hp = parse_host_port(part, default_port, error);
    if (!hp) {
      *error = "upstream " + *error;
      return std::nullopt;
    }
    a.servers.push_back(*hp);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (a.kind != scheme::memcached && !a.cluster && !a.sentinel && a.servers.size() != 1) {
    *error = "upstream '" + masked_url +
             "': a Redis upstream is exactly one host:port (a cluster's seed nodes: "
             "redis-cluster://host:port,host:port...)";
    return std::nullopt;
  }
  return a;
}

}  // namespace puppy::upstream
