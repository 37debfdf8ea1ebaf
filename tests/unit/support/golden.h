#pragma once
// Golden-file comparison for text a builder emits (haproxy.cfg, ...): the test fails at
// the first differing line; KECS_UPDATE_GOLDEN=1 rewrites the golden instead (review the
// diff by hand before committing: a golden is a claim about behaviour).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace kecs::testing {

inline void ExpectGoldenText(const std::filesystem::path& path, const std::string& actual) {
  const char* update = std::getenv("KECS_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream out(path, std::ios::trunc);
    out << actual;
    ASSERT_TRUE(out.good()) << "cannot write " << path;
    std::cout << "[ golden ] rewrote " << path << ": review it by hand before committing\n";
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing; create it with KECS_UPDATE_GOLDEN=1 "
                                             << "and check it by hand";
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string expected = buf.str();
  if (expected == actual) return;
  std::istringstream e(expected), a(actual);
  std::string el, al;
  for (int line = 1;; ++line) {
    bool more_e = static_cast<bool>(std::getline(e, el));
    bool more_a = static_cast<bool>(std::getline(a, al));
    if (!more_e && !more_a) break;
    if (!more_e || !more_a || el != al) {
      ADD_FAILURE() << "output differs from " << path << " at line " << line << "\n  golden: "
                    << (more_e ? el : "<end of file>") << "\n  actual: " << (more_a ? al : "<end of output>")
                    << "\nfull output:\n"
                    << actual;
      return;
    }
  }
}

}  // namespace kecs::testing
