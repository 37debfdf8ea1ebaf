#include "base/clock.h"
#include "base/utc_time.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
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

bool ParseIso8601(const std::string& s, double* out) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return false;
  double frac = 0;
  if (*rest == '.') {
    char* e = nullptr;
    frac = std::strtod(rest, &e);
    rest = e;
  }
  double offset = 0;
  if (*rest == '+' || *rest == '-') {
    int h = 0, m = 0, n = 0;
    if (std::sscanf(rest + 1, "%2d:%2d%n", &h, &m, &n) != 2 || rest[1 + n] != '\0') return false;
    offset = (*rest == '+' ? 1 : -1) * (h * 3600 + m * 60);
  } else if (*rest == 'Z') {
    if (rest[1] != '\0') return false;
  } else if (*rest != '\0') {
    return false;
  }
  *out = static_cast<double>(timegm(&tm)) + frac - offset;
  return true;
}

}  // namespace kecs
