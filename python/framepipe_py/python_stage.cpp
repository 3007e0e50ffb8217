#include "python_stage.hpp"

#include "numpy_image.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

namespace py = pybind11;

namespace framepipe::python {

std::string describe_python_error(const py::error_already_set& error) {
    std::string text = py::str(error.type().attr("__name__")).cast<std::string>();
    const std::string message = py::str(error.value()).cast<std::string>();
    if (!message.empty()) text += ": " + message;
    if (error.trace()) {
        try {
            const py::list frames = py::module_::import("traceback").attr("extract_tb")(error.trace());
            if (!frames.empty()) {
                const py::object innermost = frames[frames.size() - 1];
                text += fmt::format(" (at {}:{}, in {})", py::str(innermost.attr("filename")).cast<std::string>(),
                                    innermost.attr("lineno").cast<long>(),
                                    py::str(innermost.attr("name")).cast<std::string>());
            }
        } catch (const py::error_already_set&) {  // no traceback module: the message alone
        }
    }
    return text;
}

PythonStage::PythonStage(std::string name, py::object target, bool parallel)
    : Stage({.name = std::move(name), .parallel = parallel, .needs_ordered_input = !parallel}),
      target_(std::move(target)) {
    process_ = py::hasattr(target_, "process") ? target_.attr("process") : target_;
    if (!PyCallable_Check(process_.ptr()))
        throw py::type_error(fmt::format("stage '{}': give a function of the picture, or an object with a "
                                         "process(picture) method",
                                         traits().name));
}

PythonStage::~PythonStage() {
    const py::gil_scoped_acquire gil;
    process_ = py::object();
    target_ = py::object();
}

void PythonStage::open(const StageContext& context) {
    const py::gil_scoped_acquire gil;
    if (!py::hasattr(target_, "open") || py::isinstance<py::function>(target_)) return;
    py::dict info;
    info["source"] = context.source.name;
    info["input"] = context.source_index;
    info["live"] = context.source.live;
    info["fps"] = context.source.fps;
    info["width"] = context.source.size.width;
    info["height"] = context.source.size.height;
    info["path"] = context.source.path;
    try {
        target_.attr("open")(info);
    } catch (const py::error_already_set& e) {
        throw Error(fmt::format("stage '{}' failed to open: {}", traits().name, describe_python_error(e)));
    }
}

Outcome PythonStage::process(Frame& frame) {
    if (frame.format != PixelFormat::bgr && frame.format != PixelFormat::gray)
        throw Error(fmt::format("stage '{}' takes pictures; put it after the source's decoding (not on 'packets')",
                                traits().name));
    const py::gil_scoped_acquire gil;
    try {
        const py::array picture = to_numpy(frame.image);
        py::object result = process_(picture);
        Outcome outcome = Outcome::pass;
        cv::Mat returned;
        if (result.is_none() || result.is(picture)) {
        } else if (py::isinstance<py::bool_>(result)) {
            if (!result.cast<bool>()) outcome = Outcome::drop;
        } else if (py::isinstance<py::array>(result)) {
            returned = from_numpy(result.cast<py::array>(), fmt::format("what stage '{}' returned", traits().name).c_str());
            if (returned.channels() == 4)
                throw Error(fmt::format("stage '{}' returned 4 channels; frames carry BGR (3) or gray (1)",
                                        traits().name));
        } else {
            throw Error(fmt::format("stage '{}' returned a {}; return None (the picture, changed in place), a "
                                    "picture (a uint8 numpy array) or False (drop the frame)",
                                    traits().name, py::str(py::type::of(result).attr("__name__")).cast<std::string>()));
        }
        // The array is ours and about to go; if Python kept it (or a view of it), its pixels are Python's now.
        const bool kept = picture.ref_count() > 1;
        if (!returned.empty()) {
            if (kept) frame.image.release();  // not shelved for reuse: Python holds these pixels
            cv::Mat& out = frame.buffer(returned.size(), returned.type());
            returned.copyTo(out);
            frame.set_image(out);
            frame.format = out.channels() == 1 ? PixelFormat::gray : PixelFormat::bgr;
        } else if (kept) {
            frame.image = frame.image.clone();
        }
        return outcome;
    } catch (const py::error_already_set& e) {
        throw Error(describe_python_error(e));
    } catch (const py::type_error& e) {
        throw Error(e.what());
    }
}

void PythonStage::close() {
    const py::gil_scoped_acquire gil;
    if (!py::hasattr(target_, "close") || py::isinstance<py::function>(target_)) return;
    try {
        target_.attr("close")();
    } catch (const py::error_already_set& e) {
        throw Error(fmt::format("stage '{}' failed to close: {}", traits().name, describe_python_error(e)));
    }
}

}  // namespace framepipe::python
