#include "hiredis_oracle.hpp"

extern "C" {
#include <hiredis/sds.h>
}
#include <hiredis/hiredis.h>

#include <memory>

namespace resp_test {
namespace {

// The offset of the first '*' followed by a count above max_oracle_elements (wherever it is: in a
// header or inside a bulk payload), or in.size().
std::size_t first_huge_array(std::string_view in) {
  for (std::size_t star = in.find('*'); star != std::string_view::npos;
       star = in.find('*', star + 1)) {
    std::size_t count = 0;
    for (std::size_t i = star + 1; i < in.size() && in[i] >= '0' && in[i] <= '9'; ++i) {
      count = count * 10 + static_cast<std::size_t>(in[i] - '0');
      if (count > max_oracle_elements) return star;
    }
  }
  return in.size();
}

}  // namespace

bool hiredis_replies(std::string_view in, std::vector<oracle_reply>* out, std::string* error) {
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader(redisReaderCreate(),
                                                              &redisReaderFree);
  const std::size_t stop = first_huge_array(in);
  for (std::size_t i = 0; i < stop; ++i) {
    if (redisReaderFeed(reader.get(), in.data() + i, 1) != REDIS_OK) {
      *error = reader->errstr;
      return false;
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
        *error = reader->errstr;
        return false;
      }
      if (raw == nullptr) break;
      std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                         &freeReplyObject);
      oracle_reply o;
      o.end = i + 1;
      o.type = reply->type;
      if (reply->str != nullptr) o.str.assign(reply->str, reply->len);
      if (reply->type == REDIS_REPLY_ARRAY) {
        o.elements = reply->elements;
        for (std::size_t e = 0; e < reply->elements; ++e) {
          const redisReply* el = reply->element[e];
          o.element_strs.emplace_back(el->str != nullptr ? std::string(el->str, el->len) : "");
        }
      }
      out->push_back(std::move(o));
    }
  }
  if (stop < in.size()) {
    *error = "oracle: not judged past an array count above max_oracle_elements";
    return false;
  }
  return true;
}

std::string hiredis_format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* cmd = nullptr;
  const int n =
      redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
  std::string s(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
  return s;
}

bool hiredis_splitargs(const std::string& line, std::vector<std::string>* out) {
  int argc = 0;
  sds* tokens = sdssplitargs(line.c_str(), &argc);
  if (tokens == nullptr) return false;
  for (int i = 0; i < argc; ++i) out->emplace_back(tokens[i], sdslen(tokens[i]));
  sdsfreesplitres(tokens, argc);
  return true;
}

}  // namespace resp_test
