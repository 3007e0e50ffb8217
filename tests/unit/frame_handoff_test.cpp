// FrameHandoff (python/framepipe_py/frame_handoff.hpp), the rendezvous between a pipeline's sinks and a Python loop:
// a frame counts as delivered exactly when the loop took it, also while several sinks offer at once and when the loop
// leaves or the run is aborted midway. Under ThreadSanitizer in the test command.
#include "framepipe_py/frame_handoff.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

using framepipe::python::DeliveredFrame;
using framepipe::python::FrameHandoff;
using namespace std::chrono_literals;

TEST_CASE("frame handoff: with 4 sinks offering at once, every frame an offer says was taken is taken exactly once") {
    FrameHandoff handoff;
    constexpr int kSinks = 4;
    constexpr int kFrames = 500;
    std::atomic<int> accepted{0};
    std::vector<std::jthread> sinks;
    for (int s = 0; s < kSinks; ++s)
        sinks.emplace_back([&, s] {
            for (int i = 0; i < kFrames; ++i)
                if (handoff.offer(DeliveredFrame{.input = static_cast<std::uint32_t>(s), .index = static_cast<std::uint64_t>(i)},
                                  std::stop_token{}))
                    accepted.fetch_add(1);
        });
    std::set<std::pair<std::uint32_t, std::uint64_t>> taken;
    std::vector<std::uint64_t> last(kSinks, 0);
    bool in_order = true;
    while (taken.size() < static_cast<std::size_t>(kSinks * kFrames)) {
        DeliveredFrame frame;
        if (handoff.take(frame, 1s) != FrameHandoff::Taken::frame) break;
        in_order = in_order && (frame.index == 0 || frame.index == last[frame.input] + 1);
        last[frame.input] = frame.index;
        CHECK(taken.insert({frame.input, frame.index}).second);
    }
    sinks.clear();  // joined: every offer has returned
    CHECK(taken.size() == kSinks * kFrames);
    CHECK(accepted.load() == kSinks * kFrames);
    CHECK(in_order);  // each sink's frames in the order it offered them
}

TEST_CASE("frame handoff: when the loop leaves midway, offers not taken return false and none is lost unaccounted") {
    FrameHandoff handoff;
    constexpr int kSinks = 3;
    constexpr int kFrames = 300;
    std::atomic<int> accepted{0}, refused{0};
    std::vector<std::jthread> sinks;
    for (int s = 0; s < kSinks; ++s)
        sinks.emplace_back([&] {
            for (int i = 0; i < kFrames; ++i)
                (handoff.offer(DeliveredFrame{}, std::stop_token{}) ? accepted : refused).fetch_add(1);
        });
    int taken = 0;
    for (; taken < 100; ++taken) {
        DeliveredFrame frame;
        REQUIRE(handoff.take(frame, 10s) == FrameHandoff::Taken::frame);
    }
    handoff.close();
    sinks.clear();
    CHECK(accepted.load() == taken);  // delivered means the loop took it
    CHECK(accepted.load() + refused.load() == kSinks * kFrames);
    DeliveredFrame frame;
    handoff.finish();
    CHECK(handoff.take(frame, 0ms) == FrameHandoff::Taken::finished);  // what was waiting was let go
}

TEST_CASE("frame handoff: an abort releases a sink waiting for a loop that does not come") {
    FrameHandoff handoff;
    std::stop_source abort;
    std::atomic<bool> result{true};
    std::jthread sink([&] { result = handoff.offer(DeliveredFrame{}, abort.get_token()); });
    abort.request_stop();
    sink.join();
    CHECK_FALSE(result.load());
}
