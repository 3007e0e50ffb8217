#include "numpy_image.hpp"

#include <fmt/format.h>

namespace py = pybind11;

namespace framepipe::python {

py::array to_numpy(const cv::Mat& image) {
    if (image.depth() != CV_8U || image.dims != 2)
        throw py::type_error(fmt::format("framepipe gives pictures of 8 bits per channel, this one has type {}",
                                         image.type()));
    auto* owner = new cv::Mat(image);  // a header: one more reference to the pixels, no copy
    py::capsule keep(owner, [](void* mat) { delete static_cast<cv::Mat*>(mat); });
    const auto rows = static_cast<py::ssize_t>(image.rows);
    const auto cols = static_cast<py::ssize_t>(image.cols);
    const auto channels = static_cast<py::ssize_t>(image.channels());
    const auto row_step = static_cast<py::ssize_t>(image.step[0]);
    if (channels == 1) return py::array(py::dtype::of<std::uint8_t>(), {rows, cols}, {row_step, py::ssize_t{1}},
                                        owner->data, keep);
    return py::array(py::dtype::of<std::uint8_t>(), {rows, cols, channels}, {row_step, channels, py::ssize_t{1}},
                     owner->data, keep);
}

cv::Mat from_numpy(const py::array& array, const char* what) {
    if (!array.dtype().is(py::dtype::of<std::uint8_t>()))
        throw py::type_error(fmt::format("{} must be a uint8 array (a picture), got dtype {}", what,
                                         std::string(py::str(array.dtype()))));
    const py::ssize_t ndim = array.ndim();
    const py::ssize_t channels = ndim == 3 ? array.shape(2) : 1;
    if ((ndim != 2 && ndim != 3) || (channels != 1 && channels != 3 && channels != 4) || array.shape(0) == 0 ||
        array.shape(1) == 0)
        throw py::type_error(fmt::format("{} must be a picture: rows x cols or rows x cols x 1, 3 or 4 channels, "
                                         "not empty",
                                         what));
    const bool packed = array.strides(1) == channels && (ndim == 2 || array.strides(2) == 1);
    if (!packed || array.strides(0) < array.shape(1) * channels)
        throw py::type_error(fmt::format("{} has its pixels spread out (a strided view such as [:, ::2] or a "
                                         "channel slice): pass numpy.ascontiguousarray(...) of it",
                                         what));
    return {static_cast<int>(array.shape(0)), static_cast<int>(array.shape(1)),
            CV_8UC(static_cast<int>(channels)), const_cast<void*>(array.data()),
            static_cast<std::size_t>(array.strides(0))};
}

}  // namespace framepipe::python
