// gamma: brightens or darkens the mid-tones by a power curve, out = 255 * (in / 255) ^ (1 / gamma), through a lookup
// table made once. Black and white stay as they are; gamma > 1 brightens, < 1 darkens.
#include "stage_support.hpp"

#include <opencv2/core.hpp>

#include <cmath>

namespace framepipe::stages {
namespace {

class Gamma final : public Stage {
public:
    Gamma(const std::string& name, const OptionValues& o) : Stage({.name = name, .parallel = true}), table_(1, 256, CV_8U) {
        const double exponent = 1.0 / o.number("gamma");
        for (int i = 0; i < 256; ++i)
            table_.at<uchar>(i) = cv::saturate_cast<uchar>(255.0 * std::pow(i / 255.0, exponent));
    }
    Outcome process(Frame& frame) override {
        require_pixels(frame, "gamma");
        cv::Mat& dst = frame.buffer(frame.image.size(), frame.image.type());
        cv::LUT(frame.image, table_, dst);
        frame.set_image(dst);
        return Outcome::pass;
    }

private:
    cv::Mat table_;
};

const bool declared = declare_stage({
    .type = "gamma",
    .summary = "Gamma correction: brighten (gamma > 1) or darken (< 1) the mid-tones; black and white stay",
    .example = "- { type: gamma, gamma: 1.8 }",
    .traits = {.parallel = true},
    .options = {{"gamma", OptionKind::number, "1.0", "Exponent: out = in ^ (1 / gamma), on 0..1", 0.1, 10}},
    .make = factory_of<Gamma>(),
    .list_order = 100,  // with the filters
});

}  // namespace
}  // namespace framepipe::stages
