#include "base/clock.h"
#include "base/utc_time.h"

#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace kecs {
namespace {

class RealClock : public Clock {
 public:
  double Now() const override {
    auto d = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration<double>(d).count();
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

std::string Iso8601(double epoch_seconds) {
  double whole = std::floor(epoch_seconds);
  auto ms = static_cast<int>(std::lround((epoch_seconds - whole) * 1000.0));
  if (ms == 1000) { whole += 1; ms = 0; }
  std::time_t t = static_cast<std::time_t>(whole);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

std::string FormatUtc(double epoch_seconds, const char* format) {
  std::time_t t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

double EpochMillis(double epoch_seconds) { return std::round(epoch_seconds * 1000.0) / 1000.0; }

}  // namespace kecs
