// A program outside framepipe's tree that sees only the installed package: a synthetic source, a stage of its own that
// reads each frame's number back from its pixels, a catalogue stage (resize) and a second stage of its own that checks
// every frame arrives in order at the new size. Exits 0 when all frames were delivered that way and the run's
// accounting balances, 1 otherwise.
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/report.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>

namespace {

constexpr std::int64_t kFrames = 60;

/// Rejects a frame whose pixels do not carry its sequence number (the synthetic "counter" pattern).
class ReadNumber final : public framepipe::Stage {
public:
    ReadNumber() : Stage({.name = "read_number", .parallel = true}) {}
    framepipe::Outcome process(framepipe::Frame& frame) override {
        const std::int64_t number = framepipe::SyntheticSource::counter_of(frame.image);
        return number == static_cast<std::int64_t>(frame.sequence) ? framepipe::Outcome::pass
                                                                    : framepipe::Outcome::reject;
    }
};

/// Counts frames that arrive in source order at 80x45; rejects any other.
class CheckOrder final : public framepipe::Stage {
public:
    explicit CheckOrder(std::atomic<std::int64_t>& in_order)
        : Stage({.name = "check_order", .needs_ordered_input = true}), in_order_(in_order) {}
    framepipe::Outcome process(framepipe::Frame& frame) override {
        if (frame.image.cols != 80 || frame.image.rows != 45 || frame.sequence != next_) {
            return framepipe::Outcome::reject;
        }
        ++next_;
        in_order_.fetch_add(1);
        return framepipe::Outcome::pass;
    }

private:
    std::atomic<std::int64_t>& in_order_;
    std::uint64_t next_ = 0;
};

}  // namespace

int main() {
    std::atomic<std::int64_t> in_order{0};
    framepipe::Pipeline pipeline({.worker_threads = 2});
    pipeline
        .add_source(std::make_unique<framepipe::SyntheticSource>(framepipe::SyntheticSource::Options{
            .width = 160, .height = 90, .frames = kFrames, .pattern = framepipe::SyntheticSource::Pattern::counter}))
        .add(std::make_unique<ReadNumber>())
        .add(framepipe::make_stage("resize", {{"width", "80"}}))
        .add(std::make_unique<CheckOrder>(in_order), {.capacity = 4});
    const framepipe::RunReport report = pipeline.run();

    const framepipe::SourceReport& source = report.sources.at(0);
    std::printf("consumer: %lld of %lld frames delivered in order, accounting %s\n",
                static_cast<long long>(in_order.load()), static_cast<long long>(kFrames),
                report.balanced() ? "balanced" : "NOT balanced");
    const bool ok = in_order.load() == kFrames && source.delivered == static_cast<std::uint64_t>(kFrames) &&
                    report.balanced() && report.ok();
    if (!ok) std::fputs(framepipe::format_summary(report).c_str(), stderr);
    return ok ? 0 : 1;
}
