#pragma once
// Running helper programs (skopeo, umoci, runc) and collecting their output. Code that can
// be unit-tested runs programs through Env (env.h) rather than calling these directly.
#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"

namespace kecs {

struct ProcessOptions {
  std::vector<std::string> argv;   // argv[0] is looked up in PATH
  // "NAME=value" entries set in the child's environment on top of (replacing) the
  // inherited ones.
  std::vector<std::string> env;
  std::string stdin_data;          // written to the child's stdin (empty: /dev/null)
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
};

struct ProcessResult {
  int exit_code = -1;   // 128+signal when killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs opts.argv, capturing stdout and stderr. Kills the process after opts.timeout. Fails
// only when the program cannot be started.
Result<ProcessResult> RunProcess(const ProcessOptions& opts);
// The same with stdin from /dev/null and the inherited environment.
Result<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(10));

// The last non-empty line of `text`, trimmed: the useful part of most tools' errors.
std::string LastLine(const std::string& text);

}  // namespace kecs
