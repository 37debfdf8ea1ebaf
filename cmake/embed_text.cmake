# cmake -DIN=<file> -DOUT=<file.cc> -DNS=<namespace> -DVAR=<name> -P embed_text.cmake
# Writes OUT, defining `extern const std::string_view NS::VAR` as IN's text, as a list of
# short raw string literals (so no literal approaches a compiler's length limit and no
# delimiter can clash with the text).
file(READ "${IN}" text)
string(LENGTH "${text}" len)
set(body "")
set(pos 0)
set(chunk 2000)
while(pos LESS len)
  string(SUBSTRING "${text}" ${pos} ${chunk} piece)
  string(FIND "${piece}" ")kecs_embed\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${IN} contains the embedding delimiter")
  endif()
  string(APPEND body "R\"kecs_embed(${piece})kecs_embed\"\n")
  math(EXPR pos "${pos} + ${chunk}")
endwhile()
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by cmake/embed_text.cmake; do not edit.\n#include <string_view>\n\nnamespace ${NS} {\n\nstatic constexpr char kText[] =\n${body};\nextern const std::string_view ${VAR};\nconst std::string_view ${VAR}(kText, sizeof kText - 1);\n\n}  // namespace ${NS}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
