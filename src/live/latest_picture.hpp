#pragma once
// LatestPicture: the newest encoded picture of one live-view stream, handed from the pipeline (its stage, and the
// server's status pictures while the stream has no live one) to any number of viewers. publish() never waits for a viewer: it replaces the picture, so a viewer that falls behind skips
// to the newest one. The publisher asks wanted() before encoding, so nothing is encoded while nobody watches.
//
// Thread-safe: publish() from the stage, everything else from viewer threads. Counters are for the metrics page.
// `on_change` (optional, given at construction) is called after every publish() and close(), on the caller's thread,
// without the lock held: it must be cheap and must not block (the live view's server writes to an eventfd).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace framepipe::live {

class LatestPicture {
public:
    struct Picture {
        std::shared_ptr<const std::string> jpeg;  // null: none yet (or none newer before the timeout)
        std::uint64_t number = 0;                 // 1, 2, 3 ... in publishing order
        bool status = false;                      // a status picture (signal lost ...), not a frame
    };

    explicit LatestPicture(std::string name, std::function<void()> on_change = {})
        : name_(std::move(name)), on_change_(std::move(on_change)) {}

    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    /// Replaces the picture and wakes every waiting viewer. Never blocks on a viewer. `status`: a picture saying why
    /// there is no frame (status_picture.hpp), not counted as published.
    void publish(std::string jpeg, bool status = false);
    /// The newest picture (jpeg null when there is none yet).
    [[nodiscard]] Picture latest() const;
    /// Waits until a picture numbered above `after` exists, the stream closes, or `timeout` passes; returns it, or a
    /// null picture on timeout or close.
    [[nodiscard]] Picture wait_newer(std::uint64_t after, std::chrono::milliseconds timeout) const;
    /// The stream ended (its stage closed): waiting viewers wake and finish.
    void close();
    [[nodiscard]] bool closed() const;

    /// Someone wants pictures: a connected viewer, or a snapshot request waiting for the next picture.
    [[nodiscard]] bool wanted() const noexcept { return viewers_.load() + waiting_.load() > 0; }
    void viewer_joined() noexcept { viewers_.fetch_add(1); }
    void viewer_left(bool dropped) noexcept {
        viewers_.fetch_sub(1);
        if (dropped) viewers_dropped_.fetch_add(1);
    }
    void snapshot_waiting(int delta) noexcept { waiting_.fetch_add(delta); }
    void parts_sent(std::uint64_t sent, std::uint64_t skipped) noexcept {
        sent_.fetch_add(sent);
        skipped_.fetch_add(skipped);
    }

    struct Counters {
        std::uint64_t published = 0;       // pictures encoded (frames; status pictures not counted)
        std::uint64_t sent = 0;            // pictures written to viewers, all viewers together
        std::uint64_t skipped = 0;         // pictures a viewer missed because it was not ready for them
        std::uint64_t viewers_dropped = 0; // viewers disconnected for not reading (write timeout) or gone
        int viewers = 0;                   // connected now
    };
    [[nodiscard]] Counters counters() const;

private:
    const std::string name_;
    const std::function<void()> on_change_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    Picture latest_;
    bool closed_ = false;
    std::atomic<int> viewers_{0};
    std::atomic<int> waiting_{0};
    std::atomic<std::uint64_t> sent_{0};
    std::atomic<std::uint64_t> skipped_{0};
    std::atomic<std::uint64_t> viewers_dropped_{0};
    std::atomic<std::uint64_t> status_pictures_{0};
};

}  // namespace framepipe::live
