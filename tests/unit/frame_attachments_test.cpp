// Frame attachments: typed data stages hang on a frame, made once per pooled frame, reset when it is recycled.
#include "engine/frame_pool.hpp"

#include <framepipe/attachments/motion.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace framepipe;
using framepipe::detail::FramePool;
using framepipe::detail::FrameRef;

namespace {

struct Note final : FrameAttachment {
    std::string text;
    void reset() noexcept override { text.clear(); }
};

}  // namespace

TEST_CASE("frame attachments: nothing is attached until a stage attaches it, and each type is attached once") {
    FramePool pool(1);
    FrameRef frame = pool.try_acquire();
    CHECK(frame->find<MotionAttachment>() == nullptr);
    CHECK(frame->find<Note>() == nullptr);

    frame->attach<Note>().text = "hello";
    MotionAttachment& motion = frame->attach<MotionAttachment>();
    motion.event = 3;
    CHECK(&frame->attach<MotionAttachment>() == &motion);  // the same object, not a second one
    REQUIRE(frame->find<Note>() != nullptr);
    CHECK(frame->find<Note>()->text == "hello");
    CHECK(frame->find<MotionAttachment>()->event == 3);
}

TEST_CASE("frame attachments: a recycled frame keeps its attachments' storage, reset to 'nothing attached'") {
    FramePool pool(1);
    const MotionAttachment* first = nullptr;
    {
        FrameRef frame = pool.try_acquire();
        MotionAttachment& motion = frame->attach<MotionAttachment>();
        motion.share = 0.5F;
        motion.regions.assign(4, cv::Rect(1, 2, 3, 4));
        motion.event = 7;
        first = &motion;
    }
    FrameRef again = pool.try_acquire();
    const MotionAttachment* reused = again->find<MotionAttachment>();
    REQUIRE(reused == first);  // no allocation for the next frame
    CHECK(reused->share == 0);
    CHECK(reused->regions.empty());
    CHECK(reused->regions.capacity() >= 4);
    CHECK(reused->event == 0);
}
