#include "resp_test_support.hpp"

#include <catch2/catch.hpp>
#include <cstdio>

namespace resp_test {

using puppy::resp::command_kind;
using puppy::resp::frame_error;
using puppy::resp::frame_status;
using puppy::resp::reply_scanner;
using puppy::resp::request_framer;
using puppy::resp::request_limits;
using puppy::resp::scan_status;

std::uint64_t rng::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += c;
        } else {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        }
    }
  }
  return out;
}

// ---- request_framer -------------------------------------------------------------------------

bool operator==(const seen_command& a, const seen_command& b) {
  return a.argc == b.argc && a.name == b.name && a.wire_size == b.wire_size &&
         a.is_inline == b.is_inline && a.kind == b.kind && a.capture_args == b.capture_args &&
         a.args == b.args;
}

std::ostream& operator<<(std::ostream& os, const seen_command& c) {
  os << "{argc=" << c.argc << " name=\"" << escape(c.name) << "\" wire=" << c.wire_size
     << (c.is_inline ? " inline" : " multibulk") << " kind=" << static_cast<int>(c.kind)
     << (c.capture_args ? " capture" : "") << " args=[";
  for (std::size_t i = 0; i < c.args.size(); ++i) {
    os << (i ? ", " : "") << '"' << escape(c.args[i]) << '"';
  }
  return os << "]}";
}

seen_command mb(std::uint64_t argc, std::string name, std::uint64_t wire_size, command_kind kind) {
  seen_command c;
  c.argc = argc;
  c.name = std::move(name);
  c.wire_size = wire_size;
  c.kind = kind;
  return c;
}

seen_command mb_client(std::vector<std::string> args, std::uint64_t wire_size) {
  seen_command c = mb(args.size(), "client", wire_size, command_kind::client);
  c.capture_args = true;
  c.args = std::move(args);
  return c;
}

seen_command il(std::vector<std::string> args, std::string name, std::uint64_t wire_size,
                command_kind kind) {
  seen_command c = mb(args.size(), std::move(name), wire_size, kind);
  c.is_inline = true;
  c.capture_args = kind == command_kind::client;
  c.args = std::move(args);
  return c;
}

seen_command empty_request(std::uint64_t wire_size, bool is_inline) {
  seen_command c = mb(0, "", wire_size);
  c.is_inline = is_inline;
  return c;
}

bool operator==(const framer_run& a, const framer_run& b) {
  return a.commands == b.commands && a.consumed == b.consumed && a.held == b.held &&
         a.error == b.error && a.error_code == b.error_code && a.error_message == b.error_message &&
         a.partial_bytes == b.partial_bytes && a.name_known == b.name_known &&
         a.driver_fault == b.driver_fault;
}

std::ostream& operator<<(std::ostream& os, const framer_run& r) {
  os << "framer_run{commands=[";
  for (std::size_t i = 0; i < r.commands.size(); ++i) os << (i ? ", " : "") << r.commands[i];
  os << "] consumed=" << r.consumed << " held=\"" << escape(r.held.substr(0, 80))
     << (r.held.size() > 80 ? "...\"(" + std::to_string(r.held.size()) + " bytes)" : "\"");
  if (r.error) os << " error=" << static_cast<int>(r.error_code) << " \"" << r.error_message << '"';
  os << " partial=" << r.partial_bytes << " name_known=" << r.name_known;
  if (!r.driver_fault.empty()) os << " FAULT: " << r.driver_fault;
  return os << '}';
}

namespace {

seen_command snapshot(const puppy::resp::framed_command& c) {
  seen_command s;
  s.argc = c.argc;
  s.name = std::string(c.name);
  s.wire_size = c.wire_size;
  s.is_inline = c.is_inline;
  s.kind = c.spec.kind;
  s.capture_args = c.spec.capture_args;
  for (const auto a : c.args) s.args.emplace_back(a);
  return s;
}

}  // namespace

framer_run feed(request_framer& f, const std::vector<std::string_view>& chunks) {
  framer_run run;
  std::string buf;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    buf.append(chunks[i]);
    for (;;) {
      const puppy::resp::frame_result r = f.parse(buf.data(), buf.size());
      if (r.consumed > buf.size()) {
        run.driver_fault = "consumed more than offered";
        return run;
      }
      run.consumed += r.consumed;
      if (r.status == frame_status::command) {
        if (r.consumed == 0) {
          run.driver_fault = "a command of zero bytes";
          return run;
        }
        run.commands.push_back(snapshot(f.command()));
        buf.erase(0, r.consumed);
        continue;
      }
      buf.erase(0, r.consumed);
      if (r.status == frame_status::error) {
        run.error = true;
        run.error_code = f.error();
        run.error_message = f.error_message();
        run.partial_bytes = f.partial_bytes();
        run.name_known = f.name_known();
        // What the caller has not had consumed: the held bytes and the chunks it never offered.
        run.held = buf;
        for (std::size_t j = i + 1; j < chunks.size(); ++j) run.held.append(chunks[j]);
        return run;
      }
      break;  // need_more
    }
  }
  run.held = buf;
  run.partial_bytes = f.partial_bytes();
  run.name_known = f.name_known();
  return run;
}

framer_run run_whole(std::string_view in, request_limits limits) {
  request_framer f(limits);
  return feed(f, {in});
}

framer_run run_bytewise(std::string_view in, request_limits limits) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < in.size(); ++i) chunks.push_back(in.substr(i, 1));
  request_framer f(limits);
  return feed(f, chunks);
}

framer_run run_split(std::string_view in, std::size_t at, request_limits limits) {
  request_framer f(limits);
  return feed(f, {in.substr(0, at), in.substr(at)});
}

void check_framing(std::string_view in, const framer_run& expected, request_limits limits) {
  INFO("input: \"" << escape(in) << '"');
  {
    INFO("fed whole");
    CHECK(run_whole(in, limits) == expected);
  }
  {
    INFO("fed one byte at a time");
    CHECK(run_bytewise(in, limits) == expected);
  }
  for (std::size_t at = 0; at <= in.size(); ++at) {
    INFO("split at " << at);
    CHECK(run_split(in, at, limits) == expected);
  }
}

framer_run complete_run(std::vector<seen_command> commands) {
  framer_run r;
  for (const auto& c : commands) r.consumed += c.wire_size;
  r.commands = std::move(commands);
  return r;
}

framer_run error_run(std::vector<seen_command> commands, std::uint64_t consumed, frame_error code,
                     std::string message, std::uint64_t partial_bytes, std::string held,
                     bool name_known) {
  framer_run r;
  r.commands = std::move(commands);
  r.consumed = consumed;
  r.error = true;
  r.error_code = code;
  r.error_message = std::move(message);
  r.partial_bytes = partial_bytes;
  r.name_known = name_known;
  r.held = std::move(held);
  return r;
}

// ---- reply_scanner --------------------------------------------------------------------------

bool operator==(const seen_reply& a, const seen_reply& b) {
  return a.end == b.end && a.type == b.type && a.push == b.push && a.head == b.head;
}

std::ostream& operator<<(std::ostream& os, const seen_reply& r) {
  return os << "{end=" << r.end << " type='" << escape(std::string(1, r.type)) << '\''
            << (r.push ? " push" : "") << " head=\"" << escape(r.head) << "\"}";
}

bool operator==(const scanner_run& a, const scanner_run& b) {
  return a.replies == b.replies && a.consumed == b.consumed && a.error == b.error &&
         a.error_message == b.error_message && a.at_boundary == b.at_boundary &&
         a.driver_fault == b.driver_fault;
}

std::ostream& operator<<(std::ostream& os, const scanner_run& r) {
  os << "scanner_run{replies=[";
  for (std::size_t i = 0; i < r.replies.size(); ++i) os << (i ? ", " : "") << r.replies[i];
  os << "] consumed=" << r.consumed;
  if (r.error) os << " error=\"" << r.error_message << '"';
  os << " at_boundary=" << r.at_boundary;
  if (!r.driver_fault.empty()) os << " FAULT: " << r.driver_fault;
  return os << '}';
}

scanner_run scan_chunks(reply_scanner& s, const std::vector<std::string_view>& chunks) {
  scanner_run run;
  for (const std::string_view chunk : chunks) {
    std::size_t pos = 0;
    do {
      const puppy::resp::scan_result r = s.scan(chunk.data() + pos, chunk.size() - pos);
      if (r.consumed > chunk.size() - pos) {
        run.driver_fault = "consumed more than offered";
        return run;
      }
      pos += r.consumed;
      run.consumed += r.consumed;
      if (r.status == scan_status::error) {
        run.error = true;
        run.error_message = s.error_message();
        run.at_boundary = false;  // meaningless after an error; reset() comes next
        return run;
      }
      if (r.status == scan_status::need_more) {
        if (pos != chunk.size()) run.driver_fault = "need_more without consuming everything";
        break;
      }
      if (r.consumed == 0) {
        run.driver_fault = "a reply of zero bytes";
        return run;
      }
      run.replies.push_back({run.consumed, s.type(), s.is_push(), std::string(s.head())});
    } while (pos < chunk.size());
    if (!run.driver_fault.empty()) return run;
  }
  run.at_boundary = s.at_boundary();
  return run;
}

scanner_run scan_whole(std::string_view in, std::size_t max_depth) {
  reply_scanner s(max_depth);
  return scan_chunks(s, {in});
}

void check_scanning(std::string_view in, const scanner_run& expected, std::size_t max_depth) {
  INFO("input: \"" << escape(in) << '"');
  {
    INFO("scanned whole");
    CHECK(scan_whole(in, max_depth) == expected);
  }
  {
    INFO("scanned one byte at a time");
    std::vector<std::string_view> chunks;
    for (std::size_t i = 0; i < in.size(); ++i) chunks.push_back(in.substr(i, 1));
    reply_scanner s(max_depth);
    CHECK(scan_chunks(s, chunks) == expected);
  }
  for (std::size_t at = 0; at <= in.size(); ++at) {
    INFO("split at " << at);
    reply_scanner s(max_depth);
    CHECK(scan_chunks(s, {in.substr(0, at), in.substr(at)}) == expected);
  }
}

std::vector<std::string_view> random_chunks(std::string_view in, rng& r, std::size_t max_chunk) {
  std::vector<std::string_view> chunks;
  std::size_t pos = 0;
  while (pos < in.size()) {
    const std::size_t n = 1 + r.below(max_chunk);
    chunks.push_back(in.substr(pos, n));
    pos += chunks.back().size();
  }
  return chunks;
}

}  // namespace resp_test
