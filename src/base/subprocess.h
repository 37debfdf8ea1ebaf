#pragma once
// Running helper programs (skopeo, umoci, runc) and collecting their output.
#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace kecs {

struct ProcessResult {
  int exit_code = -1;   // 128+signal when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null, capturing stdout and stderr.
// Kills the process after `timeout`. Fails only when the program cannot be started.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(10));

// The last non-empty line of `text`, trimmed: the useful part of most tools' errors.
std::string LastLine(const std::string& text);

}  // namespace kecs
