#pragma once
// Wall-clock time behind an interface, so tests can control it (LevelDB Env style), and the
// two wire formats AWS uses for timestamps.
#include <chrono>
#include <string>

namespace kecs {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch, with sub-second precision.
  virtual double Now() const = 0;
  // The process-wide real clock.
  static Clock& Real();
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(double now) : now_(now) {}
  double Now() const override { return now_; }
  void Advance(double seconds) { now_ += seconds; }

 private:
  double now_;
};

// ISO 8601 in UTC with milliseconds, as EC2 and Query responses carry it:
// "2026-11-23T18:46:16.123Z".
std::string Iso8601(double epoch_seconds);
// Epoch seconds rounded to milliseconds, as JSON 1.1 responses carry it.
double EpochMillis(double epoch_seconds);

}  // namespace kecs
