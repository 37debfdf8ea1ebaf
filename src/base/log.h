#pragma once
// Logging through spdlog. Init() picks text or JSON lines and the level once at start-up;
// after that, the KLOG_* macros are thread-safe.
#include <string>

#include <spdlog/spdlog.h>

namespace kecs::log {

// level: trace, debug, info, warn, error, off (empty means info).
// format: "text" or "json". Returns false (and logs nothing) on an unknown value.
bool Init(const std::string& level, const std::string& format);

}  // namespace kecs::log

#define KLOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define KLOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define KLOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define KLOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define KLOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
