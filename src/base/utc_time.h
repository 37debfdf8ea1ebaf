#pragma once
// Formatting a time in UTC with strftime, and reading ISO 8601 (base/clock.cc).
#include <string>

namespace kecs {

// `epoch_seconds` (whole seconds) in UTC through strftime's `format` (at most 63 characters
// of output), e.g. "%Y%m%dT%H%M%SZ" for SigV4's X-Amz-Date.
std::string FormatUtc(double epoch_seconds, const char* format);

// "YYYY-MM-DDTHH:MM:SS", an optional fraction, then "Z", a "+hh:mm"/"-hh:mm" offset, or
// nothing (UTC), into epoch seconds. False for anything else.
bool ParseIso8601(const std::string& s, double* epoch_seconds);

}  // namespace kecs
