#pragma once
// SyntheticSource: a test pattern that needs no camera and no file. Every frame carries its number in its first pixels
// (both patterns; exact, but lost to lossy compression) and, in pattern "moving", also as text and as a strip of
// black and white blocks along the bottom edge that survives JPEG and H.264 (burned_number_of reads it back).
// Pattern "counter" draws nothing else (nearly free, for engine benchmarks).
//
// As a file-like source (live = false) it produces frames as fast as the pipeline takes them. As a live source
// (live = true) it produces them at `fps` on its own clock, like a camera, and never waits for the pipeline; its clock is
// Source::clock() (the pipeline's), so on a simulated clock it paces in simulated time.

#include <framepipe/source.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace framepipe {

class SyntheticSource final : public Source {
public:
    enum class Pattern { moving, counter };

    struct Options {
        int width = 640;
        int height = 360;
        std::int64_t frames = 300;  // 0 = until stopped
        double fps = 30;            // media rate; with live, also the real rate
        bool live = false;
        Pattern pattern = Pattern::moving;
        std::string name = "synthetic";
    };

    explicit SyntheticSource(Options options);
    SourceInfo open(std::stop_token stop) override;
    ReadResult read(Frame& frame, std::stop_token stop) override;

    /// The frame number a "counter" or "moving" frame carries, read back from its pixels (-1 if unreadable).
    [[nodiscard]] static std::int64_t counter_of(const cv::Mat& image);
    /// The number burned into a "moving" frame as blocks, read back after lossy compression and scaling (-1 if
    /// unreadable). Needs frames at least 48 pixels wide.
    [[nodiscard]] static std::int64_t burned_number_of(const cv::Mat& image);

private:
    Options options_;
    std::int64_t produced_ = 0;
    TimePoint live_start_{};
};

}  // namespace framepipe
