#pragma once
// What the imgcodecs plugin (src/imgcodecs_plugin/plugin.cpp) exports and image_codecs.cpp looks up: C names, C++
// arguments (both sides are built together, with one compiler and one libstdc++). Exceptions pass through.

#include <opencv2/core/mat.hpp>

#include <cstddef>
#include <vector>

extern "C" {
using FramepipeEncodeImage = bool (*)(const char* extension, const cv::Mat& image, const std::vector<int>& parameters,
                                      std::vector<uchar>& out);
using FramepipeDecodeImage = void (*)(const uchar* bytes, std::size_t size, int flags, cv::Mat& out);
}

namespace framepipe::media {
inline constexpr const char* kEncodeImageSymbol = "framepipe_encode_image";
inline constexpr const char* kDecodeImageSymbol = "framepipe_decode_image";
}  // namespace framepipe::media
