#pragma once
// Formatting a time in UTC with strftime (base/clock.cc).
#include <string>

namespace kecs {

// `epoch_seconds` (whole seconds) in UTC through strftime's `format` (at most 63 characters
// of output), e.g. "%Y%m%dT%H%M%SZ" for SigV4's X-Amz-Date.
std::string FormatUtc(double epoch_seconds, const char* format);

}  // namespace kecs
