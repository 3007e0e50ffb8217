#pragma once
// Runs one stage by hand, the way the engine would (open, process per frame, flush, close), without a pipeline:
// for tests of a single stage's behaviour on frames they build.

#include <framepipe/registry.hpp>
#include <framepipe/stage.hpp>

#include <opencv2/core.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace framepipe::test {

class StageHarness {
public:
    /// `clock`: the run's clock the stage sees (StageContext::clock); nullptr, as a stage used alone, the real one.
    /// `live`: the input is live (SourceInfo::live).
    StageHarness(const std::string& type, std::map<std::string, std::string> options = {}, std::string input = "clip.mp4",
                 double fps = 25, const Clock* clock = nullptr, bool live = false)
        : stage_(make_stage(type, options)) {
        context_.source.name = std::move(input);
        context_.source.fps = fps;
        context_.source.live = live;
        context_.clock = clock;
        context_.health = &health_;
        stage_->open(context_);
    }
    ~StageHarness() {
        if (!closed_) stage_->close();
    }

    /// A BGR frame holding `image`, numbered `sequence`, at media time sequence / fps.
    Frame& frame(const cv::Mat& image, std::uint64_t sequence = 0) {
        frame_.image = image.clone();
        frame_.format = image.channels() == 1 ? PixelFormat::gray : PixelFormat::bgr;
        frame_.sequence = sequence;
        frame_.media_time = std::chrono::duration_cast<Duration>(
            std::chrono::duration<double>(static_cast<double>(sequence) / context_.source.fps));
        return frame_;
    }
    /// process() on a frame holding `image`.
    Outcome apply(const cv::Mat& image, std::uint64_t sequence = 0) { return stage_->process(frame(image, sequence)); }
    [[nodiscard]] const cv::Mat& image() const { return frame_.image; }
    [[nodiscard]] Frame& current() { return frame_; }
    void close() {
        closed_ = true;
        stage_->close();
    }
    Stage& stage() { return *stage_; }
    /// What the stage reported through StageContext::health.
    [[nodiscard]] const StageHealth& health() const { return health_; }

private:
    std::unique_ptr<Stage> stage_;
    StageHealth health_;
    StageContext context_;
    Frame frame_;
    bool closed_ = false;
};

}  // namespace framepipe::test
