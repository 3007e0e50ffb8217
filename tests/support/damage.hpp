#pragma once
// Damaged media for the reliability suite, made at test time from good media: cut short, garbled, lying headers.
// Deterministic (seeded), so a failure reproduces.

#include <cstdint>
#include <filesystem>
#include <string>

namespace framepipe::test {

/// Keeps the first `fraction` (0..1) of the file.
void truncate_to(const std::filesystem::path& path, double fraction);
/// Overwrites `count` bytes at random places between `from` and `to` (fractions of the file) with random values.
void garble(const std::filesystem::path& path, double from, double to, int count, std::uint32_t seed = 1);
/// A small, valid PNG whose header claims `width` x `height` pixels (a decompression bomb's header).
void write_png_claiming(const std::filesystem::path& path, std::uint32_t width, std::uint32_t height);

}  // namespace framepipe::test
