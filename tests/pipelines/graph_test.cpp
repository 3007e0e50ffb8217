// Graph pipelines: branches (fan-out) with their own edges, copy on write, accounting per branch, and what a dry run
// shows of them.
#include "support/report_lookup.hpp"
#include "support/test_stages.hpp"

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>
#include <framepipe/sources/synthetic_source.hpp>

#include <doctest/doctest.h>
#include <opencv2/core.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

using namespace framepipe;
using framepipe::test::CountingSource;
using framepipe::test::RecordingSink;
using framepipe::test::ReleaseAfter;
using framepipe::test::SpinStage;
using framepipe::test::stage_named;

namespace {

std::vector<std::uint64_t> zero_to(std::uint64_t n) {
    std::vector<std::uint64_t> v(n);
    std::iota(v.begin(), v.end(), 0);
    return v;
}

const EdgeReport& edge_into(const SourceReport& source, const std::string& name) {
    for (const EdgeReport& edge : source.edges)
        if (edge.to == name) return edge;
    FAIL("no edge into " << name);
    return source.edges.front();
}

// A viewer that never reads: every frame it gets waits until the test releases it. It counts what reached it.
class StalledViewer final : public Stage {
public:
    explicit StalledViewer(std::string name)
        : Stage({.name = std::move(name), .blocking_io = true, .read_only = true}) {}
    Outcome process(Frame&) override {
        entered.fetch_add(1);
        gate_.acquire();
        gate_.release();
        return Outcome::pass;
    }
    void release() { gate_.release(); }
    std::atomic<int> entered{0};

private:
    std::binary_semaphore gate_{0};
};

// Sums the pixels of every frame it sees, by sequence: what a branch saw of the picture.
class ChecksumSink final : public Stage {
public:
    // `slow`: holds each frame 2 ms, so a sibling branch gets frames this one still holds.
    explicit ChecksumSink(std::string name, bool slow = false)
        : Stage({.name = std::move(name), .needs_ordered_input = true, .blocking_io = slow, .read_only = true}),
          slow_(slow) {}
    Outcome process(Frame& frame) override {
        if (slow_) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const std::lock_guard lock(mutex_);
        sums_[frame.sequence] = cv::sum(frame.image)[0] + cv::sum(frame.image)[1] + cv::sum(frame.image)[2];
        return Outcome::pass;
    }
    std::map<std::uint64_t, double> sums() const {
        const std::lock_guard lock(mutex_);
        return sums_;
    }

private:
    bool slow_;
    mutable std::mutex mutex_;
    std::map<std::uint64_t, double> sums_;
};

// Paints the whole picture white, in place: a stage that changes pixels.
class Painter final : public Stage {
public:
    explicit Painter(std::string name) : Stage({.name = std::move(name), .parallel = true}) {}
    Outcome process(Frame& frame) override {
        frame.image.setTo(cv::Scalar(255, 255, 255));
        return Outcome::pass;
    }
};

// Per branch: captured == passed at its end + dropped on the way + still queued.
void check_every_branch_adds_up(const SourceReport& source) {
    CHECK(source.balanced());
    for (const std::size_t end : source.branch_ends()) {
        INFO("branch ending at " << source.stages[end].name);
        CHECK(source.captured ==
              source.stages[end].passed + source.dropped_on_branch(end) + source.queued_on_branch(end));
    }
}

}  // namespace

TEST_CASE("graph: a viewer that never reads costs the recording branch no frame (file input)") {
    Pipeline pipeline;
    auto recording = std::make_unique<RecordingSink>(RecordingSink::Options{.name = "recording"});
    auto viewer = std::make_unique<StalledViewer>("viewer");
    RecordingSink* recording_ptr = recording.get();
    StalledViewer* viewer_ptr = viewer.get();
    pipeline.add_source(std::make_unique<CountingSource>(300))
        .add(std::move(recording))
        .add(std::move(viewer), {.capacity = 2, .overflow = Overflow::drop_oldest}, std::string(kFromSource));
    // Release the viewer once the recording has every frame: it stalled for the whole input.
    std::thread releaser([&] {
        while (recording_ptr->count() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        viewer_ptr->release();
    });
    const RunReport report = pipeline.run();
    releaser.join();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    CHECK(recording_ptr->sequences() == zero_to(300));  // every frame, in order
    CHECK(source.delivered == 300);                       // the main branch is the first one declared
    CHECK(edge_into(source, "recording").dropped() == 0);
    // The viewer took its first frame and then stalled: nearly everything else was evicted from its edge, counted.
    const EdgeReport& to_viewer = edge_into(source, "viewer");
    CHECK(to_viewer.dropped_oldest >= 290);
    CHECK(to_viewer.pushed == 300);
    CHECK(stage_named(source, "viewer").passed + to_viewer.dropped() == 300);
    CHECK(edge_into(source, "viewer").from_stage == std::nullopt);
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: a stage 10x too slow on one branch costs the recording branch no frame (live input)") {
    Pipeline pipeline;
    auto recording = std::make_unique<RecordingSink>(RecordingSink::Options{.name = "recording"});
    RecordingSink* recording_ptr = recording.get();
    auto slow = std::make_unique<RecordingSink>(RecordingSink::Options{.name = "analysis", .stall_until_released = true});
    RecordingSink& analysis = *slow;
    // A live source of 400 frames as fast as it can read. The analysis branch holds its first frame until the
    // recording branch has started its 10th: by then at least 9 were pushed at the analysis edge of 2 while it held one.
    pipeline.add_source(std::make_unique<CountingSource>(400, /*live=*/true))
        .add(std::make_unique<ReleaseAfter>("tap", 10, analysis), {.capacity = 400})  // room for what it must not lose
        .add(std::move(recording), {.capacity = 400})
        .add(std::move(slow), {.capacity = 2, .overflow = Overflow::drop_oldest}, std::string(kFromSource));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    CHECK(source.dropped_at_capture == 0);
    CHECK(recording_ptr->sequences() == zero_to(400));
    CHECK(edge_into(source, "recording").dropped() == 0);
    CHECK(edge_into(source, "analysis").dropped_oldest >= 6);  // the slow branch dropped, on its own edge
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: copy on write copies only for the branch that changes pixels; the other sees the source's") {
    // Reference: what the frames hold, from a line with nothing that changes them.
    Pipeline reference;
    auto reference_sink = std::make_unique<ChecksumSink>("sums");
    ChecksumSink* reference_ptr = reference_sink.get();
    reference.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{.width = 64, .height = 36, .frames = 120}))
        .add(std::move(reference_sink));
    REQUIRE(reference.run().ok());

    Pipeline pipeline;
    auto untouched = std::make_unique<ChecksumSink>("untouched", /*slow=*/true);
    auto painted = std::make_unique<ChecksumSink>("painted");
    ChecksumSink* untouched_ptr = untouched.get();
    ChecksumSink* painted_ptr = painted.get();
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{.width = 64, .height = 36, .frames = 120}))
        .add(std::move(untouched))
        .add(std::make_unique<Painter>("paint"), {}, std::string(kFromSource))
        .add(std::move(painted));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    CHECK(untouched_ptr->sums() == reference_ptr->sums());  // the painter never touched the shared frames
    const double white = 64.0 * 36 * 3 * 255;
    for (const auto& [sequence, sum] : painted_ptr->sums()) CHECK(sum == white);
    CHECK(painted_ptr->sums().size() == 120);
    CHECK(stage_named(source, "untouched").copied == 0);  // read-only: shares
    CHECK(stage_named(source, "painted").copied == 0);    // gets the painter's own copy, unshared
    // The untouched branch holds each frame for a while, so the painter gets most of them still shared.
    const std::uint64_t copies = stage_named(source, "paint").copied;
    CHECK(copies > 0);
    CHECK(copies <= 120);
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: a filter that renders a new image borrows the shared pixels: no copy, and the same pictures") {
    const auto source = [] {
        return std::make_unique<SyntheticSource>(SyntheticSource::Options{.width = 96, .height = 54, .frames = 90});
    };
    Pipeline reference;
    auto reference_sums = std::make_unique<ChecksumSink>("sums");
    ChecksumSink* reference_ptr = reference_sums.get();
    auto reference_blurred = std::make_unique<ChecksumSink>("blurred");
    ChecksumSink* reference_blurred_ptr = reference_blurred.get();
    reference.add_source(source()).add(std::move(reference_sums));
    REQUIRE(reference.run().ok());
    Pipeline blurred_line;
    blurred_line.add_source(source()).add(make_stage("blur", {{"ksize", "5"}})).add(std::move(reference_blurred));
    REQUIRE(blurred_line.run().ok());

    Pipeline pipeline;
    auto untouched = std::make_unique<ChecksumSink>("untouched", /*slow=*/true);
    auto blurred = std::make_unique<ChecksumSink>("blurred");
    ChecksumSink* untouched_ptr = untouched.get();
    ChecksumSink* blurred_ptr = blurred.get();
    pipeline.add_source(source())
        .add(std::move(untouched))
        .add(make_stage("blur", {{"ksize", "5"}}), {}, std::string(kFromSource))
        .add(std::move(blurred));
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    CHECK(stage_named(report.sources.at(0), "blur").copied == 0);
    CHECK(untouched_ptr->sums() == reference_ptr->sums());
    CHECK(blurred_ptr->sums() == reference_blurred_ptr->sums());
    check_every_branch_adds_up(report.sources.at(0));
}

TEST_CASE("graph: a frame held by no other branch is not copied, and a line never copies") {
    Pipeline line;
    line.add_source(std::make_unique<CountingSource>(200))
        .add(std::make_unique<SpinStage>("a", true))
        .add(std::make_unique<SpinStage>("b", false))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{}));
    const RunReport report = line.run();
    REQUIRE(report.ok());
    for (const StageReport& stage : report.sources.at(0).stages) CHECK(stage.copied == 0);

    // Two branches that both change pixels: a stage that gets a frame while the other still holds it copies it (both
    // may, when they take it at the same moment), at most once per frame each.
    Pipeline graph;
    graph.add_source(std::make_unique<CountingSource>(200))
        .add(std::make_unique<SpinStage>("left", false))
        .add(std::make_unique<SpinStage>("right", false), {}, std::string(kFromSource));
    const RunReport graph_report = graph.run();
    REQUIRE(graph_report.ok());
    const SourceReport& source = graph_report.sources.at(0);
    CHECK(stage_named(source, "left").copied <= 200);
    CHECK(stage_named(source, "right").copied <= 200);
    CHECK(stage_named(source, "left").passed == 200);
    CHECK(stage_named(source, "right").passed == 200);
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: branches several levels deep each add up, and order-restoring follows every branch") {
    Pipeline pipeline;
    auto ordered = std::make_unique<RecordingSink>(RecordingSink::Options{.name = "ordered"});
    RecordingSink* ordered_ptr = ordered.get();
    auto dropping = std::make_unique<RecordingSink>(
        RecordingSink::Options{.name = "dropping", .sleep = std::chrono::microseconds(200)});
    pipeline.add_source(std::make_unique<CountingSource>(500))
        .add(std::make_unique<SpinStage>("work", true, std::chrono::microseconds(50)))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "main"}))
        .add(std::make_unique<SpinStage>("more", true, std::chrono::microseconds(50)), {}, "work")
        .add(std::move(ordered))
        .add(std::move(dropping), {.capacity = 1, .overflow = Overflow::drop_newest}, "more");
    const RunReport report = pipeline.run();
    REQUIRE(report.ok());
    const SourceReport& source = report.sources.at(0);
    // A parallel stage restores order when a stage on any branch after it needs it.
    CHECK(stage_named(source, "work").restores_order);
    CHECK(stage_named(source, "more").restores_order);
    CHECK(ordered_ptr->sequences() == zero_to(500));
    CHECK(source.branch_ends().size() == 3);
    CHECK(source.stages[source.main_branch_end()].name == "main");
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: a stop drains every branch of a live input, and each branch still adds up") {
    Pipeline pipeline;
    auto recording = std::make_unique<RecordingSink>(RecordingSink::Options{.name = "recording"});
    RecordingSink* recording_ptr = recording.get();
    pipeline.add_source(std::make_unique<CountingSource>(0, /*live=*/true))  // endless
        .add(std::move(recording), {.capacity = 64})
        .add(std::make_unique<SpinStage>("analysis", true, std::chrono::microseconds(200)),
             {.capacity = 2, .overflow = Overflow::drop_oldest}, std::string(kFromSource))
        .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "analysed"}));
    std::thread stopper([&] {
        while (recording_ptr->count() < 500) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        pipeline.request_stop();
    });
    const RunReport report = pipeline.run();
    stopper.join();
    REQUIRE(report.ok());
    CHECK(report.stopped);
    const SourceReport& source = report.sources.at(0);
    CHECK(source.captured >= 500);
    // The source reads as fast as it can: the recording's edge may have dropped (counted); what it got is in order,
    // and after the stop nothing waits anywhere.
    const std::vector<std::uint64_t> recorded = recording_ptr->sequences();
    CHECK(std::is_sorted(recorded.begin(), recorded.end()));
    CHECK(recorded.size() + edge_into(source, "recording").dropped() == source.captured);
    CHECK(source.queued() == 0);
    for (const std::size_t end : source.branch_ends()) CHECK(source.queued_on_branch(end) == 0);
    check_every_branch_adds_up(source);
}

TEST_CASE("graph: `from` must name a stage declared before it, and packets only where a source has them") {
    SUBCASE("unknown name") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(10))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "a"}))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "b"}), {}, "nope");
        CHECK_THROWS_WITH_AS(pipeline.validate(), doctest::Contains("takes frames from 'nope', but no stage has that name"),
                             ConfigError);
    }
    SUBCASE("a later stage") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(10))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "a"}), {}, "b")
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "b"}));
        CHECK_THROWS_WITH_AS(pipeline.validate(), doctest::Contains("which comes after it"), ConfigError);
    }
    SUBCASE("packets from a source of pictures") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(10))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "a"}), {}, std::string(kFromPackets));
        CHECK_THROWS_WITH_AS(pipeline.validate(), doctest::Contains("delivers pictures, not compressed packets"),
                             ConfigError);
    }
    SUBCASE("a stage named like a keyword") {
        Pipeline pipeline;
        pipeline.add_source(std::make_unique<CountingSource>(10))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "packets"}));
        CHECK_THROWS_WITH_AS(pipeline.validate(), doctest::Contains("reserves"), ConfigError);
    }
}

TEST_CASE("graph: a dry run shows where each branch starts and ends; DOT has one arrow per edge") {
    const auto build = [](Pipeline& pipeline) {
        pipeline.add_source(std::make_unique<CountingSource>(10))
            .add(std::make_unique<SpinStage>("blur", true))
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "thumbs"}))
            .add(std::make_unique<SpinStage>("canny", false), {.overflow = Overflow::drop_oldest}, "blur")
            .add(std::make_unique<RecordingSink>(RecordingSink::Options{.name = "edges"}));
    };
    Pipeline text_pipeline;
    build(text_pipeline);
    const std::string text = text_pipeline.describe();
    CHECK(text.find("blur --[") != std::string::npos);  // canny takes blur's frames, not the line above's
    CHECK(text.find("thumbs") != std::string::npos);
    CHECK(text.find("[end of the main branch]") != std::string::npos);
    CHECK(text.find("[end of a branch]") != std::string::npos);
    CHECK(text.find("copies shared frames") != std::string::npos);  // canny may change a frame thumbs still holds

    Pipeline dot_pipeline;
    build(dot_pipeline);
    const std::string dot = dot_pipeline.describe(DescribeFormat::dot);
    CHECK(dot.find("digraph framepipe {") != std::string::npos);
    std::size_t arrows = 0;
    for (std::size_t at = dot.find(" -> "); at != std::string::npos; at = dot.find(" -> ", at + 1)) ++arrows;
    CHECK(arrows == 4);
    CHECK(dot.find("c0_0 -> c0_2") != std::string::npos);  // blur (stage 0) feeds canny (stage 2)
}
