#include "join.hpp"

#include <framepipe/attachments/joined.hpp>
#include <framepipe/error.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

namespace framepipe::detail {

namespace {

struct Picture {
    cv::Mat image;  // the hub's own copy, never written after it was made: joined frames share it
    Duration media_time{};
    TimePoint capture_time{};
    std::uint64_t sequence = 0;
};

// The joined frame `tick`'s time, to the nanosecond nearest tick/fps seconds.
Duration at_tick(std::int64_t tick, double fps) {
    return std::chrono::nanoseconds(std::llround(static_cast<double>(tick) * 1e9 / fps));
}

// Media times closer than this are the same moment: a timestamp converted from a container's time base is not exact.
constexpr Duration kSameMoment = std::chrono::microseconds(1);

}  // namespace

// Thread-safety: every member under mutex_; inputs call put()/end_input() from their chains' threads, the join's source
// reads from its own.
class JoinHub {
public:
    static constexpr std::size_t kWaiting = 4;  // timestamp: an input's pictures the join has not matched yet, at most

    JoinHub(const JoinOptions& options, std::size_t inputs) : options(options), inputs_(inputs) {}

    const JoinOptions options;

    void name_input(std::size_t index, const std::string& name, StageHealth* health) {
        const std::lock_guard lock(mutex_);
        inputs_[index].name = name;
        inputs_[index].health = health;
    }

    // False when the join has ended (or the run aborted) before it took the picture.
    bool put(std::size_t index, const Frame& frame, std::stop_token abort) {
        Picture picture{frame.image.clone(), frame.media_time, frame.capture_time, frame.sequence};
        std::unique_lock lock(mutex_);
        Input& input = inputs_[index];
        if (options.policy == JoinPolicy::latest) {
            if (closed_) {  // a stop's last pictures: the join shows the newest, it has shown its last
                ++input.superseded;
                return true;
            }
            if (!input.waiting.empty()) ++input.superseded;  // the join never took it
            input.waiting.clear();
        } else {
            changed_.wait(lock, abort, [&] { return closed_ || input.waiting.size() < kWaiting; });
            if (closed_ || abort.stop_requested()) return false;
        }
        input.waiting.push_back(std::move(picture));
        ++input.received;
        changed_.notify_all();
        return true;
    }

    void end_input(std::size_t index) {
        const std::lock_guard lock(mutex_);
        inputs_[index].ended = true;
        changed_.notify_all();
    }

    // Pictures handed over and never joined (timestamp: the run was aborted, or stopped past the frames a source may
    // give after a stop) count as unwritten on their input's branch.
    void close() {
        std::vector<std::string> lines;
        {
            const std::lock_guard lock(mutex_);
            if (closed_) return;
            closed_ = true;
            changed_.notify_all();
            for (const Input& input : inputs_) {
                const bool lost = options.policy == JoinPolicy::timestamp && !input.waiting.empty();
                if (lost && input.health != nullptr) input.health->count_unwritten(input.waiting.size());
                lines.push_back(fmt::format("{}: input '{}': {} picture(s) received, {} joined, {} superseded by a "
                                            "newer one{}",
                                            options.name, input.name, input.received, input.shown, input.superseded,
                                            lost ? fmt::format(", {} not joined (the join ended first)",
                                                               input.waiting.size())
                                                 : std::string()));
            }
        }
        for (const std::string& line : lines) spdlog::info("{}", line);
    }

    // latest: the newest picture of each input. False when every input has ended and nothing is left to show.
    bool take_latest(JoinedPictures& out) {
        const std::lock_guard lock(mutex_);
        if (all_done()) return false;
        for (Input& input : inputs_) {
            if (!input.waiting.empty()) adopt(input, std::move(input.waiting.back()));
            input.waiting.clear();
        }
        fill(out);
        return true;
    }

    // timestamp: for each input the last picture at or before `t`, once every input has a later one or has ended.
    // False when every input has ended and everything was joined. Waits for the inputs (they end on a stop or an
    // abort, so the wait does too).
    bool take_at(Duration t, JoinedPictures& out) {
        std::unique_lock lock(mutex_);
        for (;;) {
            if (all_done()) return false;
            bool decided = true;
            for (Input& input : inputs_) {
                while (!input.waiting.empty() && input.waiting.front().media_time <= t + kSameMoment) {
                    adopt(input, std::move(input.waiting.front()));
                    input.waiting.pop_front();
                }
                decided = decided && (input.ended || !input.waiting.empty());
            }
            changed_.notify_all();  // room for the inputs
            if (decided) break;
            changed_.wait(lock);
        }
        fill(out);
        return true;
    }

private:
    struct Input {
        std::string name;
        StageHealth* health = nullptr;  // of the input's stage: where pictures never joined are counted
        std::deque<Picture> waiting;  // handed over, not taken by the join yet
        std::optional<Picture> current;  // the picture the joined frames show
        bool current_shown = false;
        bool ended = false;
        std::uint64_t received = 0, shown = 0, superseded = 0;
    };

    void adopt(Input& input, Picture picture) {
        if (input.current && !input.current_shown) ++input.superseded;
        input.current = std::move(picture);
        input.current_shown = false;
    }

    [[nodiscard]] bool all_done() const {
        return std::all_of(inputs_.begin(), inputs_.end(), [](const Input& input) {
            return input.ended && input.waiting.empty() && (!input.current || input.current_shown);
        });
    }

    void fill(JoinedPictures& out) {
        out.inputs.resize(inputs_.size());
        for (std::size_t i = 0; i < inputs_.size(); ++i) {
            Input& input = inputs_[i];
            JoinedPicture& picture = out.inputs[i];
            picture = JoinedPicture{};
            picture.name = input.name;
            picture.ended = input.ended && input.waiting.empty();
            if (!input.current) continue;
            picture.image = input.current->image;
            picture.media_time = input.current->media_time;
            picture.capture_time = input.current->capture_time;
            picture.sequence = input.current->sequence;
            picture.fresh = !input.current_shown;
            if (picture.fresh) ++input.shown;
            input.current_shown = true;
        }
    }

    std::mutex mutex_;
    std::condition_variable_any changed_;
    std::vector<Input> inputs_;
    bool closed_ = false;
};

namespace {

class JoinInputStage final : public Stage {
public:
    JoinInputStage(std::shared_ptr<JoinHub> hub, std::size_t index, std::string name)
        : Stage(StageTraits{.name = std::move(name),
                            .needs_ordered_input = true,
                            .blocking_io = hub->options.policy == JoinPolicy::timestamp,
                            .read_only = true}),
          hub_(std::move(hub)),
          index_(index) {}

    void open(const StageContext& context) override {
        hub_->name_input(index_, context.source.name, context.health);
        health_ = context.health;
        abort_ = context.abort;
    }

    Outcome process(Frame& frame) override {
        if (frame.image.empty())
            throw ConfigError(fmt::format("join '{}' takes pictures, and this branch gives it {}: take it from the "
                                          "source's pictures or a stage after them, not from packets",
                                          hub_->options.name,
                                          frame.format == PixelFormat::encoded ? "compressed packets" : "no picture"));
        if (!hub_->put(index_, frame, abort_) && health_ != nullptr) health_->count_unwritten();
        return Outcome::pass;
    }

    void close() override { hub_->end_input(index_); }

private:
    std::shared_ptr<JoinHub> hub_;
    std::size_t index_;
    StageHealth* health_ = nullptr;
    std::stop_token abort_;
};

class JoinSource final : public Source {
public:
    explicit JoinSource(std::shared_ptr<JoinHub> hub) : hub_(std::move(hub)) {}

    SourceInfo open(std::stop_token) override {
        SourceInfo info;
        info.name = hub_->options.name;
        info.live = hub_->options.policy == JoinPolicy::latest;
        info.fps = hub_->options.fps;
        tick_ = 0;
        return info;
    }

    ReadResult read(Frame& frame, std::stop_token stop) override {
        const double fps = hub_->options.fps;
        auto& joined = frame.attach<JoinedPictures>();
        if (hub_->options.policy == JoinPolicy::latest) {
            // Like a camera: a tick exists on the clock whether or not anyone reads it; a late reader gets the newest.
            const Clock& clock = this->clock();
            if (tick_ == 0) start_ = clock.now();
            const auto late = static_cast<std::int64_t>(std::chrono::duration<double>(clock.now() - start_).count() * fps);
            tick_ = std::max(tick_, late);
            if (!clock.sleep_until(start_ + at_tick(tick_, fps), stop) || !hub_->take_latest(joined)) return end();
        } else if (!hub_->take_at(at_tick(tick_, fps), joined)) {
            return end();  // (on stop the inputs stop too: their last pictures are still joined)
        }
        frame.media_time = at_tick(tick_, fps);
        ++tick_;
        // The frame's own picture: a copy of the first input's (stages after the join may write into it; the joined
        // pictures are shared and stay untouched). Black before any input has delivered.
        const auto first = std::find_if(joined.inputs.begin(), joined.inputs.end(),
                                        [](const JoinedPicture& p) { return !p.image.empty(); });
        if (first != joined.inputs.end()) {
            first->image.copyTo(frame.prepare_image(first->image.size(), first->image.type()));
        } else {
            frame.prepare_image(cv::Size(320, 180), CV_8UC3).setTo(cv::Scalar::all(0));
        }
        frame.format = frame.image.channels() == 1 ? PixelFormat::gray : PixelFormat::bgr;
        return ReadResult::frame;
    }

    void close() override { hub_->close(); }

private:
    ReadResult end() {
        hub_->close();
        return ReadResult::end_of_stream;
    }

    std::shared_ptr<JoinHub> hub_;
    std::int64_t tick_ = 0;
    TimePoint start_{};
};

}  // namespace

std::shared_ptr<JoinHub> make_join_hub(const JoinOptions& options, std::size_t inputs) {
    return std::make_shared<JoinHub>(options, inputs);
}
std::unique_ptr<Stage> make_join_input(std::shared_ptr<JoinHub> hub, std::size_t index, std::string name) {
    return std::make_unique<JoinInputStage>(std::move(hub), index, std::move(name));
}
std::unique_ptr<Source> make_join_source(std::shared_ptr<JoinHub> hub) {
    return std::make_unique<JoinSource>(std::move(hub));
}

}  // namespace framepipe::detail
