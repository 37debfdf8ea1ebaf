#pragma once
// AWS's spelling of a model enum: one table per enum, in the enum's order (its values are
// 0..N-1); Get indexes it, Parse searches it (nullopt for a word AWS does not use).
// constexpr data; thread-safe.
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace kecs::model {

template <typename E, size_t N>
struct EnumWords {
  std::array<std::string_view, N> words;
  // A value outside the enum (a cast from a corrupt integer) reads as "", never out of bounds.
  constexpr std::string_view Get(E e) const {
    auto i = static_cast<size_t>(e);
    return i < N ? words[i] : std::string_view();
  }
  constexpr std::optional<E> Parse(std::string_view s) const {
    for (size_t i = 0; i < N; ++i) {
      if (words[i] == s) return static_cast<E>(i);
    }
    return std::nullopt;
  }
};

}  // namespace kecs::model
