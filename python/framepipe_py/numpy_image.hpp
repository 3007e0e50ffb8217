#pragma once
// Pictures between cv::Mat and numpy, without copying pixels where the lifetime allows it.
//
// Thread-safety: every function here needs the GIL.

#include <opencv2/core/mat.hpp>
#include <pybind11/numpy.h>

namespace framepipe::python {

/// A numpy array (rows x cols for one channel, rows x cols x channels otherwise, uint8) over `image`'s pixels, not a
/// copy: the array holds a reference to the pixels (a cv::Mat header), so they live as long as the array does.
/// `image` must be 8-bit (CV_8UC1, CV_8UC3 or CV_8UC4).
pybind11::array to_numpy(const cv::Mat& image);

/// A cv::Mat header over a numpy array's pixels (not a copy: valid while `array` lives and is not resized). Takes
/// uint8 arrays of rows x cols or rows x cols x {1,3,4} whose rows may be strided but whose pixels are packed (any
/// array numpy made, and any view that slices rows and columns). Throws pybind11::type_error naming `what` otherwise.
cv::Mat from_numpy(const pybind11::array& array, const char* what);

}  // namespace framepipe::python
