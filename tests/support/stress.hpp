#pragma once
#include <cstdint>

namespace framepipe::test {
/// Stress tests run millions of items in a normal build and fewer under the sanitizers, which are 5-20x slower.
/// GCC says so with __SANITIZE_*__; clang 14 only through __has_feature.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr std::uint64_t kStressDivisor = 10;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr std::uint64_t kStressDivisor = 10;
#else
inline constexpr std::uint64_t kStressDivisor = 1;
#endif
#else
inline constexpr std::uint64_t kStressDivisor = 1;
#endif
inline constexpr std::uint64_t stress_items(std::uint64_t full) { return full / kStressDivisor; }
}  // namespace framepipe::test
