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

function(kecs_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${ARG_NAME} PRIVATE ${KECS_WARNINGS})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()
