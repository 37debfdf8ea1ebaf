#include "base/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace kecs::log {
namespace {

// "%*" in a pattern: the message, escaped for a JSON string.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            int n = std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(buf, buf + n);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

bool Init(const std::string& level, const std::string& format) {
  spdlog::level::level_enum lvl = spdlog::level::info;
  if (!level.empty()) {
    lvl = spdlog::level::from_str(level);
    // from_str maps unknown names to "off"; only accept "off" when asked for by name.
    if (lvl == spdlog::level::off && level != "off") return false;
  }
  std::unique_ptr<spdlog::pattern_formatter> formatter;
  if (format.empty() || format == "text") {
    formatter = std::make_unique<spdlog::pattern_formatter>(
        "%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  } else if (format == "json") {
    formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
  } else {
    return false;
  }
  auto logger = spdlog::get("kecs");
  if (!logger) logger = spdlog::stderr_logger_mt("kecs");
  logger->set_formatter(std::move(formatter));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace kecs::log
