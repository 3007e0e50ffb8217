// Frame pool: bounded, recycles frames and their pixel buffers, safe under concurrent acquire/release.
#include "engine/frame_pool.hpp"
#include "support/stress.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

using framepipe::detail::FramePool;
using framepipe::detail::FrameRef;

TEST_CASE("frame_pool: hands out at most its capacity, then nothing until a frame comes back") {
    FramePool pool(3);
    std::vector<FrameRef> held;
    for (int i = 0; i < 3; ++i) {
        held.push_back(pool.try_acquire());
        REQUIRE(held.back());
    }
    CHECK_FALSE(pool.try_acquire());
    CHECK(pool.in_use() == 3);
    held.pop_back();
    CHECK(pool.in_use() == 2);
    CHECK(pool.try_acquire());
    CHECK(pool.peak_in_use() == 3);
}

TEST_CASE("frame_pool: a recycled frame keeps its picture; its spare buffers go on the shelf for any frame to take") {
    FramePool pool(2);
    const uchar* first_pixels = nullptr;
    const uchar* first_spare = nullptr;
    {
        FrameRef frame = pool.try_acquire();
        first_pixels = frame->prepare_image(cv::Size(1280, 720), CV_8UC3).data;
        first_spare = frame->buffer(cv::Size(320, 180), CV_8UC3).data;
        frame->sequence = 41;
    }
    CHECK(pool.shelved_buffers() == 1);  // the spare; the picture stays with its frame
    FrameRef again = pool.try_acquire();  // the same frame: the free list is last in, first out
    REQUIRE(again);
    CHECK(again->prepare_image(cv::Size(1280, 720), CV_8UC3).data == first_pixels);  // no allocation
    CHECK(again->sequence == 0);  // metadata is cleared
    // Another frame of the pool takes the spare: the shelf is the source's, not the frame's.
    FrameRef other = pool.try_acquire();
    REQUIRE(other);
    cv::Mat& small = other->buffer(cv::Size(320, 180), CV_8UC3);
    CHECK(small.data == first_spare);
    other->set_image(small);
    CHECK(pool.shelved_buffers() == 0);
    // set_image gives the image it replaces back at once: a frame that shrank holds no full-size picture.
    cv::Mat& shrunk = again->buffer(cv::Size(320, 180), CV_8UC3);
    again->set_image(shrunk);
    CHECK(pool.shelved_buffers() == 1);
    CHECK(again->image.cols == 320);
    // ... and the next frame the source fills at full size takes it from there.
    other.reset();
    FrameRef next = pool.try_acquire();
    REQUIRE(next);
    CHECK(next->prepare_image(cv::Size(1280, 720), CV_8UC3).data == first_pixels);
}

TEST_CASE("frame_pool: a recycled frame comes back with the timings of every stage of its chain cleared") {
    constexpr std::size_t kChainStages = 3;
    FramePool pool(1);
    pool.use_spans(kChainStages);
    {
        FrameRef frame = pool.try_acquire();
        REQUIRE(frame);
        for (std::size_t i = 0; i < kChainStages; ++i) {
            framepipe::StageSpan& span = frame->spans[i];
            span.queued = framepipe::TimePoint{std::chrono::nanoseconds(100 + i)};
            span.started = framepipe::TimePoint{std::chrono::nanoseconds(200 + i)};
            span.finished = framepipe::TimePoint{std::chrono::nanoseconds(300 + i)};
            span.worker = static_cast<std::uint32_t>(7 + i);
        }
    }
    FrameRef again = pool.try_acquire();  // the same frame: the pool has one
    REQUIRE(again);
    for (std::size_t i = 0; i < kChainStages; ++i) {
        CAPTURE(i);
        const framepipe::StageSpan& span = again->spans[i];
        CHECK(span.queued == framepipe::TimePoint{});
        CHECK(span.started == framepipe::TimePoint{});
        CHECK(span.finished == framepipe::TimePoint{});
        CHECK(span.worker == 0);
    }
}

TEST_CASE("frame_pool: preallocated frames already have their pixels") {
    FramePool pool(2, cv::Size(64, 32));
    FrameRef frame = pool.try_acquire();
    CHECK(frame->image.cols == 64);
    CHECK(frame->image.rows == 32);
    CHECK(frame->image.type() == CV_8UC3);
}

TEST_CASE("frame_pool: copies of a FrameRef share the frame; it returns to the pool with the last copy") {
    FramePool pool(1);
    FrameRef a = pool.try_acquire();
    FrameRef b = a;
    CHECK(b.get() == a.get());
    a.reset();
    CHECK(pool.in_use() == 1);
    b.reset();
    CHECK(pool.in_use() == 0);
}

TEST_CASE("frame_pool: acquire() waits for a frame and returns empty when stopped") {
    FramePool pool(1);
    FrameRef held = pool.try_acquire();
    std::stop_source stop;
    std::thread waiter([&] { CHECK_FALSE(pool.acquire(stop.get_token())); });
    stop.request_stop();
    waiter.join();

    std::thread getter([&] { CHECK(pool.acquire(std::stop_token{})); });
    held.reset();
    getter.join();
}

TEST_CASE("frame_pool.stress: concurrent acquire and release never hand one frame to two owners") {
    FramePool pool(8);
    std::atomic<bool> shared_frame{false};
    const std::uint64_t rounds = framepipe::test::stress_items(300'000);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::uint64_t i = 0; i < rounds; ++i) {
                FrameRef frame = pool.acquire(std::stop_token{});
                // Each owner writes its id and reads it back: a second owner would overwrite it.
                frame->sequence = static_cast<std::uint64_t>(t);
                std::atomic_signal_fence(std::memory_order_seq_cst);
                if (frame->sequence != static_cast<std::uint64_t>(t)) shared_frame.store(true);
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK_FALSE(shared_frame.load());
    CHECK(pool.in_use() == 0);
    CHECK(pool.peak_in_use() <= 8);
}
