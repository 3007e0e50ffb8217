#pragma once
// A stage written in Python: a function of the picture, or an object with process(picture) and, optionally,
// open(info) and close().
//
// process gets the frame's picture as a numpy array over the frame's own pixels (no copy) and returns:
//   None         the frame goes on, with whatever the function changed in the array in place;
//   an array     the frame's picture becomes this one (uint8, 1 or 3 channels; copied into the frame's buffers,
//                since the array is Python's);
//   False        the frame is dropped, counted as filtered.
// A picture the function keeps (in a list, as an attribute) stays valid: the frame then goes on with a copy.
// An exception fails the run like a C++ stage's, with the stage, the frame, the Python exception and where it was
// raised.
//
// Threading: the engine runs process() on its worker threads without the GIL and takes the GIL only around the call
// into Python. Serial, with frames in source order (state across frames works as in a loop over the video), unless
// made parallel: then frames come in any order, several at once, which pays when the Python code spends its time in
// calls that release the GIL, as OpenCV's and numpy's do. Construction and destruction need the GIL.

#include <framepipe/stage.hpp>

#include <pybind11/pybind11.h>

#include <string>

namespace framepipe::python {

class PythonStage final : public Stage {
public:
    /// `target`: a callable or an object with process(); `name` is the stage's name in reports and errors.
    PythonStage(std::string name, pybind11::object target, bool parallel);
    ~PythonStage() override;

    void open(const StageContext& context) override;
    Outcome process(Frame& frame) override;
    void close() override;

private:
    pybind11::object target_;
    pybind11::object process_;
};

/// "TypeError: what it said (at file.py:12, in process)": a Python exception in one line, for an error message.
/// Needs the GIL.
std::string describe_python_error(const pybind11::error_already_set& error);

}  // namespace framepipe::python
