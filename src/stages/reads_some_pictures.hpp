#pragma once
// ReadsSomePictures: a stage that reads the pixels of only some of the frames it is given, and can tell which before
// it is given one (a thumbnail every 30 frames, or every 10 s). Where nothing after such a stage reads pictures, the
// planner leaves the pictures it will not read unmade (media/shrink_convert.cpp).
// Thread-safety: as the stage's process(); the stage is serial and takes its frames in order.

#include <framepipe/frame.hpp>

namespace framepipe::stages {

class ReadsSomePictures {
public:
    /// Fixed for the run: false when the stage reads every frame's picture after all (its options say so).
    [[nodiscard]] virtual bool reads_some_pictures() const = 0;
    /// Whether process() would read the picture of `frame`, the next frame in order. Changes nothing.
    [[nodiscard]] virtual bool reads_picture_of(const Frame& frame) const = 0;
    /// Instead of process() for a frame whose picture it would not read (reads_picture_of() false), which was not
    /// made: the stage moves on as process() would, without looking at the frame's pixels.
    virtual void pass_unread(const Frame& frame) = 0;

protected:
    ~ReadsSomePictures() = default;
};

}  // namespace framepipe::stages
