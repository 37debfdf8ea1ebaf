#pragma once
namespace kecs::daemon {
inline constexpr const char* kVersion = "0.1.0";
}
