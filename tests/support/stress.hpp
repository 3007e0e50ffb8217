#pragma once
#include <cstdint>

namespace framepipe::test {
/// Stress tests run millions of items in a normal build and a tenth of that in the sanitizer builds (5-20x slower),
/// which tests/CMakeLists.txt marks with FRAMEPIPE_TESTS_SANITIZED.
#ifdef FRAMEPIPE_TESTS_SANITIZED
inline constexpr std::uint64_t kStressDivisor = 10;
#else
inline constexpr std::uint64_t kStressDivisor = 1;
#endif
inline constexpr std::uint64_t stress_items(std::uint64_t full) { return full / kStressDivisor; }
}  // namespace framepipe::test
