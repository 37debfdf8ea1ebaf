#pragma once
// Where the awslogs driver delivers container output (issue 14): CloudWatch Logs as the API
// layer stores it. The daemon wires the logs service in; the awslogs shipper appends each
// container's events through this interface.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace kecs::reconcile {

struct LogEventIn {
  int64_t timestamp_ms = 0;  // epoch milliseconds
  std::string message;
};

class LogSink {
 public:
  virtual ~LogSink() = default;
  // Appends `events` (in chronological order) to `stream` of `group` in `region`/`account`,
  // making the stream when it is missing and, with `create_group`, the group too. NotFound
  // when the group is missing and !create_group; the events are then not stored. Events
  // the group's rules reject (too old for its retention, too large) are dropped and counted
  // in the returned number of events stored.
  virtual Result<size_t> Append(std::string_view region, std::string_view account, std::string_view group,
                                std::string_view stream, bool create_group,
                                std::span<const LogEventIn> events) = 0;
};

}  // namespace kecs::reconcile
