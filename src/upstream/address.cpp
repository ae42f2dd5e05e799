#include "puppy/upstream/address.hpp"

#include <charconv>

namespace puppy::upstream {

std::string address::text() const {
  std::string out = kind == scheme::redis    ? "redis://"
                    : kind == scheme::rediss ? "rediss://"
                                             : "memcached://";
  for (std::size_t i = 0; i < servers.size(); ++i) {
    if (i > 0) out += ',';
    const auto& s = servers[i];
    out += s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host;
    out += ':' + std::to_string(s.port);
  }
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

std::optional<address> parse_address(const std::string& url, std::string* error) {
  address a;
  std::string rest;
  std::uint16_t default_port = 6379;
  if (url.rfind("redis://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("rediss://", 0) == 0) {
    a.kind = scheme::rediss;
    rest = url.substr(9);
  } else if (url.rfind("memcached://", 0) == 0) {
    a.kind = scheme::memcached;
    rest = url.substr(12);
    default_port = 11211;
  } else {
    *error = "upstream '" + url + "' must start with redis://, rediss:// or memcached://";
    return std::nullopt;
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
  if (a.kind != scheme::memcached && a.servers.size() != 1) {
    *error = "upstream '" + url + "': a Redis upstream is exactly one host:port";
    return std::nullopt;
  }
  return a;
}

}  // namespace puppy::upstream
