#pragma once
// FanOut: the edges one producer (a source's reader or a stage's runner) feeds, one per consuming stage. One edge is a
// line; several are branches that share each frame (each edge holds its own FrameRef to it). Each edge keeps its own
// policy: a `block` edge makes the producer wait for room (reserved before the producer takes a frame), a dropping edge
// never does, so a stalled dropping branch costs its siblings nothing.
//
// Thread-safety: as the edges'. Several workers of a parallel producer may call every method at once.

#include "chain_state.hpp"

#include <framepipe/clock.hpp>

#include <cstddef>
#include <stop_token>
#include <vector>

namespace framepipe::detail {

class FanOut {
public:
    struct Target {
        Edge* edge = nullptr;
        std::size_t position = 0;  // the consuming stage's slot in Frame::spans
    };

    explicit FanOut(std::vector<Target> targets) : targets_(std::move(targets)) {
        for (const Target& t : targets_) blocking_ = blocking_ || t.edge->overflow() == Overflow::block;
    }

    [[nodiscard]] bool empty() const noexcept { return targets_.empty(); }
    /// Some edge blocks when full: a slot must be reserved in it (try_reserve) before a frame is taken.
    [[nodiscard]] bool blocking() const noexcept { return blocking_; }
    [[nodiscard]] const std::vector<Target>& targets() const noexcept { return targets_; }

    void set_producer(Wakeable* producer) noexcept {
        for (const Target& t : targets_) t.edge->set_producer(producer);
    }
    /// Every `block` edge has room.
    [[nodiscard]] bool has_free_slot() const noexcept {
        for (const Target& t : targets_)
            if (t.edge->overflow() == Overflow::block && !t.edge->has_free_slot()) return false;
        return true;
    }
    /// Reserves a slot in every `block` edge, or in none: returns the first full edge (nothing reserved then), or
    /// nullptr when every reservation was made.
    [[nodiscard]] Edge* try_reserve() noexcept {
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            Edge& edge = *targets_[i].edge;
            if (edge.overflow() != Overflow::block || edge.try_reserve()) continue;
            for (std::size_t j = 0; j < i; ++j)
                if (targets_[j].edge->overflow() == Overflow::block) targets_[j].edge->cancel_reservation();
            return &edge;
        }
        return nullptr;
    }
    void cancel_reservation() noexcept {
        for (const Target& t : targets_)
            if (t.edge->overflow() == Overflow::block) t.edge->cancel_reservation();
    }
    /// Hands the frame to every edge, stamping when it entered each: into the slots try_reserve() reserved in `block`
    /// edges, by its policy into the others (queued, or dropped and counted).
    void push(FrameRef frame, TimePoint queued) noexcept {
        stamp(*frame, queued);
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            const Target& t = targets_[i];
            FrameRef item = i + 1 == targets_.size() ? std::move(frame) : frame;
            if (t.edge->overflow() == Overflow::block)
                t.edge->push_reserved(std::move(item));
            else
                (void)t.edge->push(std::move(item));
        }
    }
    /// For a source's reader: waits for room in each `block` edge in turn (until `stop`), pushes into the others by
    /// their policy.
    void push_wait(FrameRef frame, TimePoint queued, const Clock& clock, std::stop_token stop) {
        stamp(*frame, queued);
        for (std::size_t i = 0; i < targets_.size(); ++i) {
            const Target& t = targets_[i];
            FrameRef item = i + 1 == targets_.size() ? std::move(frame) : frame;
            (void)t.edge->push_wait(std::move(item), clock, stop);
        }
    }
    void close() noexcept {
        for (const Target& t : targets_) t.edge->close();
    }

private:
    // Every edge's span first: once the frame is in one edge, that branch may be reading it.
    void stamp(Frame& frame, TimePoint queued) const noexcept {
        for (const Target& t : targets_) frame.spans[t.position].queued = queued;
    }

    std::vector<Target> targets_;
    bool blocking_ = false;
};

}  // namespace framepipe::detail
