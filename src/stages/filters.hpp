#pragma once
// What the planner may know of the filters whose work it can fold into another stage's (src/media/shrink_convert.*):
// a Gaussian blur's kernel, a resize's target, a conversion to gray. Each returns nothing for a stage of another kind.

#include <framepipe/stage.hpp>

#include <opencv2/core/types.hpp>

#include <optional>

namespace framepipe::stages {

/// cv::GaussianBlur's parameters, as the `blur` stage passes them (BORDER_REFLECT_101 at the edges).
struct BlurParameters {
    int ksize = 1;       // odd
    double sigma = 0;    // 0 derives it from ksize, as OpenCV does
};

/// The `resize` stage's target.
struct ResizeParameters {
    int width = 0;       // 0 follows the height
    int height = 0;      // 0 follows the width
    double scale = 0;    // instead of width and height
    int interpolation = -1;  // a cv::InterpolationFlags value; -1 = area when shrinking, linear when enlarging

    /// The size a picture of size `in` is resized to.
    [[nodiscard]] cv::Size output_for(cv::Size in) const;
    /// The interpolation used for a picture of size `in`.
    [[nodiscard]] int interpolation_for(cv::Size in) const;
};

[[nodiscard]] std::optional<BlurParameters> blur_parameters(const Stage& stage);
[[nodiscard]] std::optional<ResizeParameters> resize_parameters(const Stage& stage);
/// Whether `stage` is a `color` stage converting to gray.
[[nodiscard]] bool converts_to_gray(const Stage& stage);

}  // namespace framepipe::stages
