# kecs_library(NAME <name> SRCS <files...> DEPS <targets...>)
# One static library per layer under src/. DEPS names what the layer may depend on, so the
# one-way dependency rule (base <- model <- state <- net <- runtime <- reconcile <- api <-
# daemon) is written down where the target is declared.

# -Werror is for the project's own builds and CI (scripts/build.sh turns it on): a packager
# building with another compiler or other flags must not fail on a new warning.
option(KECS_WERROR "Treat compiler warnings as errors" OFF)
set(KECS_WARNINGS -Wall -Wextra -Wno-missing-field-initializers)
if(KECS_WERROR)
  list(APPEND KECS_WARNINGS -Werror)
endif()

# Precompiled headers: every translation unit parses the same ~150,000 lines of the standard
# library, fmt, spdlog and nlohmann-json before its own code; precompiling them once per
# target saves about a fifth of the compile time of a cold build (docs/design.md section 8).
# Only these third-party headers are precompiled, never kecs's own, so editing a kecs header
# rebuilds what it did before. -DKECS_PCH=OFF builds without them (it also checks that
# every file includes what it uses).
option(KECS_PCH "Precompile the standard library, fmt, spdlog and nlohmann-json headers" ON)
set(KECS_PCH_HEADERS
  <algorithm> <chrono> <functional> <map> <memory> <mutex> <optional> <regex> <set>
  <string> <string_view> <vector> <fmt/format.h> <nlohmann/json.hpp> <spdlog/spdlog.h>)

# kecs_precompile(<target> [extra headers...])
function(kecs_precompile target)
  if(KECS_PCH)
    target_precompile_headers(${target} PRIVATE ${KECS_PCH_HEADERS} ${ARGN})
  endif()
endfunction()

# The test binaries, precompiled with gtest and gmock. GCC 12 inlines std::string's
# operator+ differently there and then reports false -Warray-bounds and -Wstringop-overflow
# errors on lines such as `std::string(KECS_TESTDATA_DIR) + "/x"` (GCC 12's known false
# positives in libstdc++'s char_traits::copy, like -Wrestrict's GCC bug 105329); these
# warnings stay on for the libraries and the daemon.
function(kecs_precompile_tests target)
  kecs_precompile(${target} ${ARGN})
  if(KECS_PCH AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow -Wno-restrict)
  endif()
endfunction()

function(kecs_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${ARG_NAME} PRIVATE ${KECS_WARNINGS})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
  kecs_precompile(${ARG_NAME})
endfunction()
