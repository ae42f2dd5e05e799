#include "puppy/resp/client_state.hpp"

#include <chrono>

#include <cctype>

#include "puppy/resp/ascii.hpp"
#include "puppy/resp/encode.hpp"

namespace puppy::resp {

std::string answer_hello(const std::vector<std::string_view>& args, client_state& st,
                         std::string_view mode, bool resp3_allowed) {
  bool resp3 = st.resp3;
  std::size_t i = 1;
  if (i < args.size()) {
    if (args[i] == "3" && resp3_allowed) {
      resp3 = true;
    } else if (args[i] == "2") {
      resp3 = false;
    } else {
      return encode::error("NOPROTO unsupported protocol version");
    }
    ++i;
  }
  for (; i < args.size(); ++i) {
    const std::string opt = lower(args[i]);
    if (opt == "setname" && i + 1 < args.size()) {
      st.name = std::string(args[++i]);
    } else if (opt == "auth" && i + 2 < args.size()) {
      i += 2;  // the proxy's password (--requirepass), if it has one, was checked before this
    } else {
      return encode::error("ERR Syntax error in HELLO option '" + std::string(args[i]) + "'");
    }
  }
  st.resp3 = resp3;
  std::string out = resp3 ? "%7\r\n" : "*14\r\n";
  out += encode::bulk("server") + encode::bulk("redis");
  out += encode::bulk("version") + encode::bulk("7.0.0");
  out += encode::bulk("proto") + encode::integer(resp3 ? 3 : 2);
  out += encode::bulk("id") + encode::integer(st.id);
  out += encode::bulk("mode") + encode::bulk(mode);
  out += encode::bulk("role") + encode::bulk("master");
  out += encode::bulk("modules") + encode::array_header(0);
  return out;
}

std::optional<std::string> answer_client(const std::vector<std::string_view>& args,
                                         client_state& st) {
  if (args.size() < 2) return std::nullopt;
  const std::string sub = lower(args[1]);
  if (sub == "setname" && args.size() == 3) {
    st.name = std::string(args[2]);
    return encode::simple("OK");
  }
  if (sub == "getname" && args.size() == 2) {
    return st.name.empty() ? encode::nil(st.resp3) : encode::bulk(st.name);
  }
  if (sub == "setinfo" && args.size() == 4) return encode::simple("OK");
  if (sub == "id" && args.size() == 2) return encode::integer(st.id);
  if ((sub == "info" && args.size() == 2) || (sub == "list" && args.size() == 2)) {
    const auto age = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - st.since)
                         .count();
    const std::string line =
        "id=" + std::to_string(st.id) + " addr=" + st.addr + " laddr=" + st.laddr +
        " fd=" + std::to_string(st.fd) + " name=" + st.name + " age=" + std::to_string(age) +
        " idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 "
        "multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=client|" +
        sub + " user=default redir=-1 resp=" + (st.resp3 ? "3" : "2") + "\n";
    if (!st.resp3) return encode::bulk(line);
    // RESP3: a verbatim string.
    return "=" + std::to_string(line.size() + 4) + "\r\ntxt:" + line + "\r\n";
  }
  return std::nullopt;
}

}  // namespace puppy::resp
