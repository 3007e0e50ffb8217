// LatestPicture: the hand-over from the live_view stage to its viewers. The publisher never waits for a viewer; each
// viewer sees pictures in publishing order, skips what it was too slow for, and always ends with the newest one.
#include "live/latest_picture.hpp"

#include <doctest/doctest.h>

#include <random>
#include <thread>
#include <vector>

using framepipe::live::LatestPicture;
using namespace std::chrono_literals;

TEST_CASE("latest picture: a viewer waiting for a newer picture gets the newest one, not the ones it missed") {
    LatestPicture stream("cam");
    CHECK(stream.latest().jpeg == nullptr);
    stream.publish("one");
    stream.publish("two");
    const LatestPicture::Picture picture = stream.wait_newer(0, 10ms);
    REQUIRE(picture.jpeg != nullptr);
    CHECK(*picture.jpeg == "two");
    CHECK(picture.number == 2);
    CHECK(stream.wait_newer(2, 1ms).jpeg == nullptr);  // nothing newer: times out
}

TEST_CASE("latest picture: closing wakes waiting viewers with no picture") {
    LatestPicture stream("cam");
    std::thread viewer([&] { CHECK(stream.wait_newer(0, 60s).jpeg == nullptr); });
    std::this_thread::sleep_for(5ms);
    stream.close();
    viewer.join();
    CHECK(stream.closed());
}

TEST_CASE("latest picture: demand is counted from viewers and waiting snapshots") {
    LatestPicture stream("cam");
    CHECK_FALSE(stream.wanted());
    stream.viewer_joined();
    CHECK(stream.wanted());
    stream.viewer_left(/*dropped=*/true);
    CHECK_FALSE(stream.wanted());
    stream.snapshot_waiting(+1);
    CHECK(stream.wanted());
    stream.snapshot_waiting(-1);
    CHECK(stream.counters().viewers_dropped == 1);
}

TEST_CASE("latest picture stress: one publisher, viewers of every speed and one that never reads; the publisher "
          "finishes, every viewer sees increasing numbers and ends on the last picture") {
    constexpr std::uint64_t kPictures = 20000;
    LatestPicture stream("cam");
    constexpr int kViewers = 4;
    std::vector<std::uint64_t> seen_last(kViewers, 0);
    std::vector<bool> in_order(kViewers, true);
    std::vector<std::thread> viewers;
    for (int v = 0; v < kViewers; ++v) {
        stream.viewer_joined();
        viewers.emplace_back([&, v] {
            std::mt19937 random(static_cast<unsigned>(v));
            std::uint64_t last = 0;
            for (;;) {
                const LatestPicture::Picture p = stream.wait_newer(last, 100ms);
                if (!p.jpeg) {
                    if (stream.closed()) break;
                    continue;
                }
                // The content matches its number: the pointer and the number were taken together.
                if (p.number <= last || *p.jpeg != std::to_string(p.number)) in_order[v] = false;
                last = p.number;
                if (v > 0 && random() % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50 * v));
            }
            seen_last[v] = last;
            stream.viewer_left(false);
        });
    }
    stream.viewer_joined();  // the one that never reads
    for (std::uint64_t n = 1; n <= kPictures; ++n) stream.publish(std::to_string(n));
    stream.close();
    for (auto& viewer : viewers) viewer.join();
    for (int v = 0; v < kViewers; ++v) {
        CAPTURE(v);
        CHECK(in_order[v]);
        CHECK(seen_last[v] == kPictures);
    }
    CHECK(stream.counters().published == kPictures);
    CHECK(stream.counters().viewers == 1);
}
