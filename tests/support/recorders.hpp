#pragma once
// Sinks for media tests: they read back what numbered frames carry.

#include "media.hpp"

#include <framepipe/stage.hpp>

#include <mutex>
#include <vector>

namespace framepipe::test {

/// Records, per frame, the number drawn into it, its size, its media time and its label. Serial and in order.
class NumberRecorder final : public Stage {
public:
    struct Seen {
        int number;
        cv::Size size;
        Duration media_time;
        std::string label;
        std::uint64_t sequence;
    };
    explicit NumberRecorder(std::string name = "record") : Stage({.name = std::move(name), .needs_ordered_input = true}) {}
    Outcome process(Frame& frame) override {
        std::lock_guard lock(mutex_);
        seen_.push_back({read_number(frame.image), frame.image.size(), frame.media_time, frame.label, frame.sequence});
        return Outcome::pass;
    }
    [[nodiscard]] std::vector<Seen> seen() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    [[nodiscard]] std::vector<int> numbers() const {
        std::vector<int> out;
        for (const Seen& s : seen()) out.push_back(s.number);
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<Seen> seen_;
};

inline std::vector<int> count_up(int n, int from = 0) {
    std::vector<int> v;
    for (int i = from; i < from + n; ++i) v.push_back(i);
    return v;
}

}  // namespace framepipe::test
