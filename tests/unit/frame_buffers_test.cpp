// Frame buffers: stages that cannot work in place render into frame-owned buffers that are reused per geometry, so a
// steady stream of frames allocates no pixels after the pool's frames have each been used once.
#include "support/test_stages.hpp"

#include <framepipe/frame.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/sources/synthetic_source.hpp>
#include <framepipe/registry.hpp>

#include <doctest/doctest.h>
#include <opencv2/core/mat.hpp>

#include <atomic>

using namespace framepipe;

namespace {

// Counts the pixel buffers OpenCV allocates (4 KiB and more: small temporaries such as the 5-tap kernel that
// cv::GaussianBlur builds on every call are not frames), then lets the standard allocator do the work.
class CountingAllocator final : public cv::MatAllocator {
public:
    cv::UMatData* allocate(int dims, const int* sizes, int type, void* data, size_t* step, cv::AccessFlag flags,
                           cv::UMatUsageFlags usage) const override {
        std::size_t bytes = CV_ELEM_SIZE(type);
        for (int i = 0; i < dims; ++i) bytes *= static_cast<std::size_t>(sizes[i]);
        if (data == nullptr && bytes >= 4096) allocations.fetch_add(1);
        return inner->allocate(dims, sizes, type, data, step, flags, usage);
    }
    bool allocate(cv::UMatData* data, cv::AccessFlag flags, cv::UMatUsageFlags usage) const override {
        return inner->allocate(data, flags, usage);
    }
    void deallocate(cv::UMatData* data) const override { inner->deallocate(data); }

    cv::MatAllocator* inner = cv::Mat::getStdAllocator();
    mutable std::atomic<std::uint64_t> allocations{0};
};

}  // namespace

TEST_CASE("frame.buffer: the same geometry gets the same buffer back, distinct from the image") {
    Frame frame;
    frame.prepare_image(cv::Size(64, 32), CV_8UC3);
    cv::Mat& a = frame.buffer(cv::Size(64, 32), CV_8UC3);
    CHECK(a.data != frame.image.data);
    const uchar* a_pixels = a.data;
    CHECK(frame.buffer(cv::Size(64, 32), CV_8UC3).data == a_pixels);
    cv::Mat& small = frame.buffer(cv::Size(16, 8), CV_8UC3);
    CHECK(small.data != a_pixels);
    frame.set_image(small);
    CHECK(frame.image.cols == 16);
    // Back to the source's geometry: the 64x32 buffer is found again rather than allocated.
    const uchar* original = frame.buffer(cv::Size(64, 32), CV_8UC3).data;
    frame.prepare_image(cv::Size(64, 32), CV_8UC3);
    CHECK(frame.image.data == original);
}

TEST_CASE("frame_pool: blur and resize over 3000 frames allocate pixels only while the pool's frames are first used") {
    CountingAllocator counter;
    cv::MatAllocator* previous = cv::Mat::getDefaultAllocator();
    cv::Mat::setDefaultAllocator(&counter);
    Pipeline pipeline;
    pipeline.add_source(std::make_unique<SyntheticSource>(SyntheticSource::Options{
                            .width = 320, .height = 180, .frames = 3000, .pattern = SyntheticSource::Pattern::counter}))
        .add(make_stage("blur", {{"ksize", "5"}}))
        .add(make_stage("resize", {{"width", "80"}}))
        .add(make_stage("null"));
    const RunReport report = pipeline.run();
    cv::Mat::setDefaultAllocator(previous);
    REQUIRE(report.ok());
    CHECK(report.sources.at(0).delivered == 3000);
    // Each pooled frame needs at most three buffers here (captured, blurred, resized); OpenCV may add a few of its own.
    const std::uint64_t bound = 3ull * report.sources.at(0).pool_capacity + 16;
    CAPTURE(report.sources.at(0).pool_capacity);
    CHECK(counter.allocations.load() <= bound);
}
