#pragma once
// The proxy's logger: to stderr, as text lines or one JSON object per line (--log-format).
// Log lines never carry payloads (keys, values, passwords): only events and their causes.
#include <spdlog/logger.h>
#include <memory>
#include <string>
#include <string_view>

namespace puppy::runtime {

// `format` is "text" or "json"; `level` one of spdlog's level names.
std::shared_ptr<spdlog::logger> make_logger(const std::string& format, const std::string& level);

// Appends `text` as the inside of a JSON string (quotes, backslashes, control characters and
// bytes that are not UTF-8 escaped), so that any message keeps the line valid JSON.
void append_json_escaped(std::string_view text, std::string* out);

}  // namespace puppy::runtime
