#pragma once
// JPEG encoding with libjpeg-turbo, linked directly: the JPEGs framepipe writes most (thumbnails, live view, snapshots)
// without loading OpenCV's image codecs, which bring about 120 libraries (GDAL and its dependencies) and a tenth of a
// second of start-up to every process that links them. The settings are cv::imencode's (libjpeg's defaults, baseline
// quantisation tables at `quality`, 4:2:0), so the bytes are the same as OpenCV's with the same libjpeg.
//
// Thread-safety: reentrant (each call has its own compressor). Failure mode: returns false, `out` unspecified.

#include <opencv2/core/mat.hpp>

#include <vector>

namespace framepipe::media {

/// Encodes an 8-bit picture of 1 (gray), 3 (BGR) or 4 (BGRA, alpha dropped) channels at `quality` (0-100, clamped) into
/// `out`. Pictures of other depths are converted to 8 bits first, as cv::imencode does.
bool encode_jpeg(const cv::Mat& image, int quality, std::vector<uchar>& out);

}  // namespace framepipe::media
