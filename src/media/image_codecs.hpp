#pragma once
// Encoding and decoding pictures in every format OpenCV's imgcodecs module knows (PNG, WebP, TIFF, BMP, PNM, HDR, EXR,
// JPEG with its EXIF orientation), without linking it: imgcodecs brings about 120 libraries (GDAL and its dependencies)
// and a tenth of a second of start-up to every process that links it, so it is loaded on first use, through the small
// plugin libframepipe_imgcodecs (src/imgcodecs_plugin/), found beside libframepipe. JPEG encoding does not need it
// (jpeg_encode.hpp).
//
// Thread-safety: reentrant; the first call that needs the plugin loads it, once for the process. Failure mode: a plugin
// that cannot be loaded throws framepipe::Error naming the file, the loader's message and what to install; OpenCV's
// own errors (cv::Exception) pass through as imencode and imdecode throw them, except that JPEG encoding returns false
// where cv::imencode would throw (no pixels, 2 channels).

#include <opencv2/core/mat.hpp>

#include <span>
#include <string>
#include <vector>

namespace framepipe::media {

/// Loads the plugin now, if it is not yet: stages that will need it call this when they open, so that a live run does
/// not stall on its first picture while about 120 libraries load. Throws framepipe::Error as the others would.
void load_image_codecs();

/// Whether encode_image writes this extension (".JPG" and others, in any case) without the plugin.
bool encodes_without_plugin(const std::string& extension);

/// cv::imencode: `extension` such as ".png"; `parameters` as cv::IMWRITE_* pairs. JPEG is encoded by encode_jpeg,
/// which reads cv::IMWRITE_JPEG_QUALITY only.
bool encode_image(const std::string& extension, const cv::Mat& image, const std::vector<int>& parameters,
                  std::vector<uchar>& out);

/// cv::imdecode into `out` with `flags` (cv::IMREAD_*): `out` is empty when the bytes are no picture OpenCV reads.
void decode_image(std::span<const uchar> bytes, int flags, cv::Mat& out);

}  // namespace framepipe::media
