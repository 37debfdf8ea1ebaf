#pragma once
// The topology page, src/api/ui/page.html, as built into the binary (CMake writes it into
// a generated .cc at build time: cmake/embed_text.cmake), so kecs serves it with no file
// beside the binary and nothing to build or fetch.
#include <string_view>

namespace kecs::api::ui {

extern const std::string_view kPageHtml;

}  // namespace kecs::api::ui
