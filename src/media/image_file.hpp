#pragma once
// Reading image files without trusting them: one bounded read that tolerates the file changing underneath, and the
// dimensions a header states, from small pieces at the offsets the format gives. Internal to framepipe: ImageSource
// and `framepipe probe` use them; tests call them directly. Defined in image_source.cpp. No shared state: thread-safe.

#include <framepipe/sources/image_source.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace framepipe::media {

/// Reads the file at `path` into `out` with one bounded read: the size is taken from the open descriptor, a file
/// larger than `max_bytes` is refused before anything is read or allocated, and a file that shrinks or grows while it
/// is read is reported rather than half-trusted. Returns "" on success (`out` holds exactly the file), else the reason,
/// phrased to follow the file's name (`out` is then empty): "vanished after it was listed", "is larger than ...". A
/// FIFO, socket or device is refused without blocking. `between_stat_and_read`, when set, runs after the size was
/// taken and before the first byte is read (tests change the file there). Throws only std::bad_alloc.
std::string read_file_bounded(const std::string& path, std::uint64_t max_bytes, std::vector<std::uint8_t>& out,
                              const std::function<void()>& between_stat_and_read = {});

/// Reads up to `n` bytes at `offset` into `out`; returns how many it read (fewer at the end of the data).
using ReadAt = std::function<std::size_t(std::uint64_t offset, std::uint8_t* out, std::size_t n)>;

/// The dimensions a PNG, JPEG, BMP, WebP, TIFF, PNM (P1 to P6), Sun raster, Radiance HDR or OpenEXR header states, read
/// through `read_at` (a few kilobytes at most, in small pieces; for JPEG only the 4-byte segment headers up to the
/// frame header, for OpenEXR the attribute headers up to dataWindow). nullopt for other formats, or a header that
/// cannot be followed: the decode stage then refuses the file (see ImageSource).
std::optional<ImageSource::Dimensions> header_dimensions(const ReadAt& read_at);

}  // namespace framepipe::media
