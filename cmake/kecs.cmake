# kecs_library(NAME <name> SRCS <files...> DEPS <targets...>)
# One static library per layer under src/. DEPS names what the layer may depend on, so the
# one-way dependency rule (base <- model <- state <- net <- runtime <- reconcile <- api <-
# daemon) is written down where the target is declared.
set(KECS_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)

function(kecs_library)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${ARG_NAME} STATIC ${ARG_SRCS})
  target_include_directories(${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/gen)
  target_compile_options(${ARG_NAME} PRIVATE ${KECS_WARNINGS})
  target_link_libraries(${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()
