#include "stage_runner.hpp"

#include "one_processor.hpp"
#include "thread_slot.hpp"
#include "trace_log.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <thread>
#include <utility>

namespace framepipe::detail {
namespace {
constexpr std::uint64_t kRejectionsLogged = 5;  // per stage; the rest are only counted

constexpr FrameFate fate_of(Outcome outcome) noexcept {
    switch (outcome) {
        case Outcome::pass: return FrameFate::passed;
        case Outcome::drop: return FrameFate::filtered;
        case Outcome::reject: return FrameFate::rejected;
        case Outcome::end_of_stream: return FrameFate::ended;
        case Outcome::hold: return FrameFate::held;
    }
    return FrameFate::none;
}
}  // namespace

StageRunner::StageRunner(RunControl& run, ChainState& chain, Stage& stage, Wiring wiring)
    : run_(run),
      chain_(chain),
      stage_(stage),
      wiring_(wiring),
      out_(wiring_.outs),
      reserve_output_(out_.blocking()),
      tracks_in_flight_(wiring_.workers > 1 || wiring_.restore_order) {
    if (wiring_.restore_order) reorder_ = std::make_unique<ReorderWindow<FrameRef>>(reorder_entries(wiring_.workers));
    if (!stage.traits().parallel) held_.resize(stage.traits().max_held);
    wiring_.in->set_consumer(this);
    out_.set_producer(this);
}

void StageRunner::wake() noexcept {
    int active = active_.load();
    while (active < static_cast<int>(wiring_.workers)) {
        if (!has_work()) return;
        if (active_.compare_exchange_weak(active, active + 1)) {
            activation_->post();
            return;
        }
    }
}

void StageRunner::run_worker() noexcept {
    for (int budget = kBatch; budget > 0; --budget) {
        if (step() != Step::progressed) {
            active_.fetch_sub(1);
            wake();  // work may have arrived between the last step and the decrement
            return;
        }
    }
    activation_->post();  // batch done: give the thread back to the scheduler, stay active
}

bool StageRunner::ready_to_finish() const noexcept {
    return !finished_.load() && wiring_.in->closed() && wiring_.in->size() == 0 && in_flight_.load() == 0;
}

bool StageRunner::has_work() const noexcept {
    if (finished_.load()) return false;
    if (ready_to_finish())  // flushing held frames needs room downstream; finishing itself does not
        return held_count_.load() == 0 || run_.aborting() || !reserve_output_ || out_.has_free_slot();
    if (wiring_.in->size() == 0) return false;
    if (reserve_output_ && !out_.has_free_slot()) return false;
    if (reorder_ && !reorder_->has_free_entry()) return false;
    return true;
}

StageRunner::Step StageRunner::step() noexcept {
    if (ready_to_finish()) {
        if (held_count_.load() != 0) return flush_one();
        finish();
        return Step::finished;
    }
    int entry = -1;
    Edge* full = nullptr;
    if (!make_room(entry, full)) {
        if (full != nullptr) {
            stalled_on_.store(full, std::memory_order_relaxed);
            note_output_stalled();
        }
        return Step::idle;
    }

    took_frame();
    FrameRef frame;
    const auto max_age = wiring_.max_age;
    const Clock& clock = run_.clock();
    const bool got = wiring_.in->try_pop(frame, [&](const FrameRef& f) {
        return max_age.has_value() && clock.now() - f->capture_time > *max_age;
    });
    if (reorder_) {
        if (got)
            reorder_->assign(entry, frame->sequence);
        else
            reorder_->unclaim(entry);
        reorder_->end_pop();
    }
    if (!got) {
        if (reserve_output_) out_.cancel_reservation();
        done_with_frame();
        if (reorder_)
            reorder_->release([this, held = std::int64_t{0}](FrameRef f) mutable {
                emit_in_order(std::move(f), /*just_finished=*/false, next_released(held));
            });
        return Step::idle;
    }

    return carry_on(entry, std::move(frame), /*starts_when_queued=*/false, nullptr, true, kHoldsNothingSerial);
}

// What a frame needs before it is taken: a slot reserved in the output (when the stage reserves one, and `reserve`)
// and a reorder entry, begun popping (when it restores order). Returns false holding neither when one is missing;
// `full` is then the output edge that had no room (nullptr: no reorder entry was free). `entry` is -1 without a reorder
// window.
bool StageRunner::make_room(int& entry, Edge*& full, bool reserve) noexcept {
    entry = -1;
    full = nullptr;
    if (reserve_output_ && reserve) {
        full = out_.try_reserve();
        if (full != nullptr) return false;
        note_output_flowing();
    }
    if (reorder_) {
        entry = reorder_->claim();
        if (entry < 0) {
            if (reserve_output_ && reserve) out_.cancel_reservation();
            return false;
        }
        reorder_->begin_pop();
    }
    return true;
}

// The part of a step after a frame is taken (from the input edge, or carried in by the producer): process it, then hold,
// pass on or drop it. The output reservation (unless `output_reserved` is false) and the reorder entry (`entry`, -1
// without one) are already made.
StageRunner::Step StageRunner::carry_on(int entry, FrameRef frame, bool starts_when_queued, CarriedRun* run,
                                        bool output_reserved, std::int64_t carried_ns) noexcept {
    const std::uint64_t emitted_before = reorder_ ? emitted_.load(std::memory_order_acquire) : 0;
    const std::uint64_t sequence = frame->sequence;
    const Outcome outcome = process(frame, starts_when_queued);
    if (outcome == Outcome::hold && hold(frame)) {
        if (reserve_output_ && output_reserved) out_.cancel_reservation();
        done_with_frame();
        return Step::progressed;
    }
    const bool pass = outcome == Outcome::pass;
    if (reorder_) {
        // The reservation (if any) travels with the entry and is used or cancelled when it is released.
        // The frame is handed on at the time it finished only if nothing was waiting before it then: it is the first
        // frame this release emits, and no frame was emitted since process() began (one emitted in between may have
        // been next in order when this one finished, and been carried on before it). Otherwise the stage it is
        // carried into reads the clock.
        reorder_->complete(entry, pass ? std::move(frame) : FrameRef{});
        reorder_->release([this, sequence, emitted_before, first = true,
                           held = held_up_after(carried_ns)](FrameRef f) mutable {
            const bool just_finished =
                first && f && f->sequence == sequence && emitted_.load(std::memory_order_acquire) == emitted_before;
            first = false;
            emit_in_order(std::move(f), just_finished, next_released(held));
        });
    } else {
        if (pass)
            forward(std::move(frame), /*just_finished=*/true, run, output_reserved, held_up_after(carried_ns));
        else if (reserve_output_ && output_reserved)
            out_.cancel_reservation();
        done_with_frame();
    }
    return Step::progressed;
}

bool StageRunner::take_carried(FrameRef& frame, bool reserved, bool starts_when_queued, CarriedRun* run,
                               std::int64_t carried_ns) noexcept {
    const bool within_budget = carried_ns < kCarryBudget.count() || one_processor() || light_work_left_small();
    if (run != nullptr && held_by_run_) {  // only the holding run's thread passes a run (and reads held_by_run_)
        if (within_budget && wiring_.in->size() == 0 &&
            !(wiring_.max_age && run_.clock().now() - frame->capture_time > *wiring_.max_age)) {
            const bool took = take_claimed(frame, reserved, starts_when_queued, run, carried_ns);
            if (!took || !light()) release_held();
            return took;
        }
        // Frames queued by another producer go first; an expired frame is the edge's to drop; a frame that used up the
        // budget is handed on.
        release_held();
        return false;
    }
    if (!within_budget || !light()) return false;
    // On one processor, a worker that holds this stage, or has frames queued for it, is not running: this thread is
    // (it woke this thread and was preempted). Yielding once lets it finish its batch, and this thread then carries
    // the frames itself; queueing the frame behind it would cost two context switches a frame for the rest of the run.
    for (bool yielded = false;; yielded = true) {
        if (wiring_.in->size() == 0 && claim_worker()) break;
        if (yielded || !one_processor()) return false;
        std::this_thread::yield();
    }
    if (wiring_.max_age && run_.clock().now() - frame->capture_time > *wiring_.max_age) {
        active_.fetch_sub(1);
        wake();
        return false;  // expired: the edge drops and counts it
    }
    const bool took = take_claimed(frame, reserved, starts_when_queued, run, carried_ns);
    if (took && run != nullptr && light()) {  // kept for the run's next frame
        held_by_run_ = true;
        return true;
    }
    active_.fetch_sub(1);
    wake();  // as at the end of run_worker(): work may have arrived meanwhile
    return took;
}

// A frame sent into a held stage with no slot reserved (into_held in take_claimed) that the stage refused after all:
// it goes into the edge, which needs a slot first. Another worker of this stage (a parallel one) may hold slots there
// for a moment, so there may be none: the reader, the one thread that runs with a CarriedRun, then gives back every
// stage it holds and sleeps until one is free, as it would for room in its own edge. The stage behind the edge was
// given back when it refused the frame, and is woken by whatever it is waiting for. An abort empties the edge: the
// slots other workers still reserve come free as they find nothing to take, and the frame is then discarded (counted).
void StageRunner::reserve_late(CarriedRun& run) noexcept {
    if (out_.try_reserve() != nullptr) {
        run.release_all();
        Edge& edge = *out_.targets().front().edge;  // the only output: it feeds next_
        while (!edge.reserve_wait(run_.abort_token())) std::this_thread::yield();
    }
    note_output_flowing();
}

// The run (held_by_run_: on the run's thread) may hold the next stage only while no other thread can produce for it
// (Held claims).
bool StageRunner::passes_run_on() const noexcept {
    return held_by_run_ && next_ != nullptr && !reorder_ && (wiring_.workers == 1 || in_flight_.load() == 1);
}

void StageRunner::release_held() noexcept {
    // The stages after this one were held only while the run held this one (Held claims): another producer may now
    // queue frames for them.
    for (StageRunner* stage = this; stage != nullptr && stage->held_by_run_; stage = stage->next_) {
        stage->held_by_run_ = false;
        stage->active_.fetch_sub(1);
        stage->wake();
    }
}

void CarriedRun::release_all() noexcept {
    if (first_ != nullptr && first_->held_by_run_) first_->release_held();
}

bool StageRunner::claim_worker() noexcept {
    int active = active_.load();
    do {
        if (active >= static_cast<int>(wiring_.workers)) return false;
    } while (!active_.compare_exchange_weak(active, active + 1));
    return true;
}

// As step(), with the frame given instead of popped, on an activation the caller claimed.
bool StageRunner::take_claimed(FrameRef& frame, bool reserved, bool starts_when_queued, CarriedRun* run,
                               std::int64_t carried_ns) noexcept {
    took_frame();  // before the checks below: keeps another worker from finishing the stage under us
    const auto give_back = [this] {
        done_with_frame();
        return false;
    };
    if (finished_.load() || wiring_.in->closed()) return give_back();
    // The frame will be carried into the next stage, which the run holds (Held claims): no other thread can fill the
    // edge between, so no slot is reserved in it for the frame.
    const bool into_held = run != nullptr && passes_run_on() && next_->held_by_run_;
    int entry = -1;
    Edge* full = nullptr;
    if (!make_room(entry, full, !into_held)) return give_back();
    if (reorder_) {
        reorder_->assign(entry, frame->sequence);
        reorder_->end_pop();
    }
    wiring_.in->count_carried(reserved);
    (void)carry_on(entry, std::move(frame), starts_when_queued, run, !into_held, carried_ns);
    return true;
}

bool StageRunner::light_work_left_small() const noexcept {
    std::int64_t left = 0;
    for (const StageRunner* stage = this; stage != nullptr && stage->light(); stage = stage->next_) {
        left += stage->service_estimate_ns_.load(std::memory_order_relaxed);
        if (left >= kCarryBudget.count() / 2) return false;
    }
    return true;
}

std::int64_t StageRunner::held_up_after(std::int64_t carried_ns) const noexcept {
    // A serial stage that took the frame from its edge is taken up by its own work on it first; a parallel one that
    // restores order, from the frame's release on (one releaser at a time); any other parallel one not at all.
    const std::int64_t own = std::max<std::int64_t>(service_estimate_ns_.load(std::memory_order_relaxed), 0);
    if (carried_ns == kHoldsNothingSerial) return wiring_.workers == 1 ? own : reorder_ ? 0 : kHoldsNothingSerial;
    return carried_ns + own;
}

std::int64_t StageRunner::next_released(std::int64_t& held) noexcept {
    // The releasing thread hands on one frame at a time: the frames behind the first have waited for it to carry that.
    return std::exchange(held, std::max<std::int64_t>(held, kCarryBudget.count()));
}

std::uint32_t StageRunner::stands_for_untimed() noexcept {
    // Claims the untimed frames counted since the last claim, once: concurrent timed frames each get their own part.
    // untimed_ may step back (a worker's store after another's) and fall behind the last claim: nothing to claim then.
    const std::uint32_t now = untimed_.load(std::memory_order_relaxed);
    std::uint32_t claimed = untimed_at_timed_.load(std::memory_order_relaxed);
    while (static_cast<std::int32_t>(now - claimed) > 0)
        if (untimed_at_timed_.compare_exchange_weak(claimed, now, std::memory_order_relaxed))
            return 1 + (now - claimed);
    return 1;
}

bool StageRunner::light() const noexcept {
    const std::int64_t estimate = service_estimate_ns_.load(std::memory_order_relaxed);
    return estimate >= 0 && estimate < kLightStage.count();
}

void StageRunner::note_service(Duration service) noexcept {
    // A moving average over about 8 frames; concurrent workers may lose each other's update, which only slows it down.
    const std::int64_t sample = service.count();
    const std::int64_t estimate = service_estimate_ns_.load(std::memory_order_relaxed);
    service_estimate_ns_.store(estimate < 0 ? sample : estimate + (sample - estimate) / 8, std::memory_order_relaxed);
}

// Copy on write: gives the stage a frame of its own when another branch still holds this one. A stage that renders a
// new image borrows the shared pixels; `lender` then keeps the shared frame referenced (so no branch takes it for its
// own and writes into it) until the stage is done. False (and the run fails) when the copy cannot be made: the pool's
// sizing rules out an empty pool.
bool StageRunner::copy_if_shared(FrameRef& frame, FrameRef& lender) noexcept {
    if (frame.unique()) return true;
    FrameRef copy = chain_.pool->try_acquire();
    if (!copy) {
        run_.fail({chain_.info.name, stage_.traits().name, frame->sequence,
                   "no free frame to copy a shared frame into (the frame pool is too small: a bug, please report it)"});
        return false;
    }
    const bool borrow = stage_.traits().renders_new_image;
    try {
        copy->copy_from(*frame, borrow);
    } catch (const std::exception& error) {
        run_.fail({chain_.info.name, stage_.traits().name, frame->sequence,
                   std::string("copying a frame shared with another branch: ") + error.what()});
        return false;
    }
    for (const std::size_t p : wiring_.lineage) {
        copy->spans[p] = frame->spans[p];
        copy.note(p, FrameFate::before_copy);  // the original's lineage has these stages
    }
    copy->spans[wiring_.position] = frame->spans[wiring_.position];
    copy.lineage().kind = FrameLineage::Kind::copy;
    frame.note(wiring_.position, FrameFate::copied);
    if (borrow && copy->image_borrowed())
        lender = std::move(frame);
    else
        counts_.add<&StageCounts::copied>();
    frame = std::move(copy);
    return true;
}

// `starts_when_queued`: the frame was carried in straight from the stage before, which (when profiling) stamped the time
// it finished as the time the frame was queued here; that is also when this stage starts on it (no clock read, no
// wait), unless the stage is serial and finished its previous frame later than that: then it starts at that finish.
Outcome StageRunner::process(FrameRef& ref, bool starts_when_queued) noexcept {
    const Clock& clock = run_.clock();
    const bool profiling = ref->timed;  // profiling, and the source timed this frame (PipelineOptions::profile_spacing)
    // Without that, about every 16th frame the stage processes is still timed, for the service estimate (light()).
    bool timed = profiling;
    if (!timed) {
        const std::uint32_t tick = untimed_.load(std::memory_order_relaxed);  // concurrent workers may skip a tick
        untimed_.store(tick + 1, std::memory_order_relaxed);
        timed = tick % 16 == 0;
    }
    TimePoint started{};
    if (timed && starts_when_queued && profiling) {
        started = ref->spans[wiring_.position].queued;
        if (wiring_.workers == 1) {
            const Duration::rep last = last_finished_ns_.load(std::memory_order_relaxed);
            started = last == kFinishUnknown ? clock.now() : std::max(started, TimePoint{Duration{last}});
        }
    } else if (timed) {
        started = clock.now();
    }
    if (profiling) ref->spans[wiring_.position].started = started;
    FrameRef lender;  // the shared frame whose pixels the copy borrows, until the stage is done with them
    if (wiring_.copy_on_write && !copy_if_shared(ref, lender)) {
        counts_.add<&StageCounts::processed, &StageCounts::failed>();
        ref.note(wiring_.position, FrameFate::failed);
        return Outcome::drop;
    }
    Frame& frame = *ref;
    StageSpan& span = frame.spans[wiring_.position];
    Outcome outcome = Outcome::drop;
    bool threw = false;
    try {
        outcome = stage_.process(frame);
    } catch (const BadFrame& bad) {
        outcome = Outcome::reject;
        if (counts_.load<&StageCounts::rejected>() < kRejectionsLogged)
            spdlog::warn("{}: stage '{}' rejected frame {}: {}", chain_.info.name, stage_.traits().name,
                         frame.sequence, bad.what());
    } catch (const std::exception& error) {
        threw = true;
        run_.fail({chain_.info.name, stage_.traits().name, frame.sequence, error.what()});
    } catch (...) {
        threw = true;
        run_.fail({chain_.info.name, stage_.traits().name, frame.sequence, "unknown exception"});
    }
    if (lender) {  // the stage kept the borrowed pixels (it rendered nothing new): the frame needs its own after all
        if (frame.image_borrowed()) {
            try {
                frame.own_image();
                counts_.add<&StageCounts::copied>();
            } catch (const std::exception& error) {
                threw = true;
                run_.fail({chain_.info.name, stage_.traits().name, frame.sequence,
                           std::string("copying a frame shared with another branch: ") + error.what()});
            }
        }
        lender.reset();
    }
    if (timed) {
        const TimePoint finished = clock.now();
        note_service(finished - started);
        note_finished(finished);
        if (profiling) span.finished = finished;
    } else if (wiring_.workers == 1) {
        last_finished_ns_.store(kFinishUnknown, std::memory_order_relaxed);
    }
    if (profiling) {
        span.worker = thread_slot();
        const Duration service = span.service();
        service_.record(service, span.worker, stands_for_untimed());
        wait_.record(span.wait(), span.worker);
        if (TraceLog* trace = run_.trace())
            trace->add({chain_.index, static_cast<std::uint16_t>(wiring_.position),
                        static_cast<std::uint16_t>(span.worker), frame.sequence,
                        span.started.time_since_epoch().count(), service.count()});
    }
    ref.note(wiring_.position, threw ? FrameFate::failed : fate_of(outcome));
    if (threw) {
        counts_.add<&StageCounts::processed, &StageCounts::failed>();
        return Outcome::drop;
    }
    switch (outcome) {
        case Outcome::pass:
            counts_.add<&StageCounts::processed, &StageCounts::passed>();
            break;
        case Outcome::drop:
            counts_.add<&StageCounts::processed, &StageCounts::filtered>();
            break;
        case Outcome::reject:
            counts_.add<&StageCounts::processed, &StageCounts::rejected>();
            break;
        case Outcome::end_of_stream:
            counts_.add<&StageCounts::processed, &StageCounts::ended>();
            chain_.stop.request_stop();        // the source reads no more
            wiring_.in->close_and_discard();  // and what is already queued for us is not wanted either
            break;
        case Outcome::hold:
            counts_.add<&StageCounts::processed>();
            break;  // counted as passed or filtered when the frame is flushed
    }
    return outcome;
}

// Keeps a frame the stage asked to hold. False (and the run fails) if the stage holds more than it declared.
bool StageRunner::hold(FrameRef& frame) noexcept {
    const std::size_t count = held_count_.load();
    if (count >= held_.size()) {
        counts_.add<&StageCounts::failed>();
        run_.fail({chain_.info.name, stage_.traits().name, frame->sequence,
                   fmt::format("held more than its max_held of {} frames", held_.size())});
        return false;
    }
    held_[(held_head_ + count) % held_.size()] = std::move(frame);
    held_count_.store(count + 1);
    return true;
}

// After the input ended: hands the oldest held frame to Stage::flush() and passes it on or drops it.
StageRunner::Step StageRunner::flush_one() noexcept {
    FrameRef& slot = held_[held_head_];
    if (run_.aborting()) {  // an aborted run does not flush: what the stage held is thrown away
        slot.note(wiring_.position, FrameFate::discarded);
        slot.reset();
        held_head_ = (held_head_ + 1) % held_.size();
        held_count_.fetch_sub(1);
        counts_.add<&StageCounts::discarded>();
        return Step::progressed;
    }
    if (reserve_output_ && out_.try_reserve() != nullptr) return Step::idle;
    FrameRef frame = std::move(slot);
    held_head_ = (held_head_ + 1) % held_.size();
    held_count_.fetch_sub(1);
    StageSpan& span = frame->spans[wiring_.position];
    span.started = run_.clock().now();
    bool pass = false;
    bool threw = true;
    try {
        pass = stage_.flush(*frame);
        threw = false;
    } catch (const std::exception& error) {
        run_.fail({chain_.info.name, stage_.traits().name, frame->sequence, std::string("flush: ") + error.what()});
    } catch (...) {
        run_.fail({chain_.info.name, stage_.traits().name, frame->sequence, "flush: unknown exception"});
    }
    span.finished = run_.clock().now();
    note_finished(span.finished);
    frame.note(wiring_.position, threw ? FrameFate::failed : pass ? FrameFate::passed : FrameFate::filtered);
    if (pass) {
        counts_.add<&StageCounts::flushed, &StageCounts::passed>();
        // Flushed by the stage's one worker (only serial stages hold frames): it is taken up from here on.
        forward(std::move(frame), /*just_finished=*/true, nullptr, true, /*carried_ns=*/0);
    } else {
        counts_.add<&StageCounts::filtered>();
        if (reserve_output_) out_.cancel_reservation();
    }
    return Step::progressed;
}

// Hands the frame on. Every `block` output edge was reserved before the frame was taken (FanOut::push relies on it).
// `just_finished`: this stage finished the frame a moment ago, and no frame before it was waiting to be handed on then
// (see carry_on), so a stage it is carried into may take that finish time as its own start.
void StageRunner::forward(FrameRef frame, bool just_finished, CarriedRun* run, bool output_reserved,
                          std::int64_t carried_ns) noexcept {
    const TimePoint finished = frame->spans[wiring_.position].finished;
    if (out_.empty()) {  // the end of a branch: the main branch's end delivers the source's frames
        if (!wiring_.main_sink) return;
        if (frame->timed) {
            chain_.end_to_end.record(finished - frame->capture_time);
            chain_.last_delivery_ns.store(finished.time_since_epoch().count(), std::memory_order_relaxed);
            const std::int64_t lag = finished.time_since_epoch().count() - frame->media_time.count() -
                                     chain_.live_edge_ns.load(std::memory_order_relaxed);
            chain_.lag_ns.store(lag, std::memory_order_relaxed);
            std::int64_t worst = chain_.lag_max_ns.load(std::memory_order_relaxed);
            while (lag > worst && !chain_.lag_max_ns.compare_exchange_weak(worst, lag, std::memory_order_relaxed)) {
            }
        }
        chain_.counts.add<&SourceCounts::delivered>();
        return;
    }
    if (next_ != nullptr) {
        frame->spans[next_->wiring_.position].queued = finished;
        const bool reserved = out_.blocking() && output_reserved;
        // Without a reserved slot, the next stage is held by the run (into_held in take_claimed), which takes it there.
        const bool pass_run = run != nullptr && (!output_reserved || passes_run_on());
        if (next_->take_carried(frame, reserved, just_finished, pass_run ? run : nullptr, carried_ns)) return;
    }
    if (out_.blocking() && !output_reserved) reserve_late(*run);
    out_.push(std::move(frame), finished);
}

void StageRunner::emit_in_order(FrameRef frame, bool just_finished, std::int64_t carried_ns) noexcept {
    emitted_.store(emitted_.load(std::memory_order_relaxed) + 1, std::memory_order_release);  // one releaser at a time
    if (frame)
        forward(std::move(frame), just_finished, nullptr, true, carried_ns);
    else if (reserve_output_)
        out_.cancel_reservation();
    done_with_frame();
    // The entry just freed may be what an idle worker was waiting for.
    if (!finished_.load()) wake();
}

void StageRunner::finish() noexcept {
    if (finished_.exchange(true)) return;
    // The run's last delivery, when it was a frame profiling did not time (which set no finish time): about now.
    if (wiring_.main_sink && run_.profiling() &&
        chain_.counts.load<&SourceCounts::delivered>() > chain_.end_to_end.count())
        chain_.last_delivery_ns.store(run_.clock().now().time_since_epoch().count(), std::memory_order_relaxed);
    if (opened_) {
        try {
            stage_.close();
        } catch (const std::exception& error) {
            run_.fail({chain_.info.name, stage_.traits().name, std::nullopt, std::string("close: ") + error.what()});
        } catch (...) {
            run_.fail({chain_.info.name, stage_.traits().name, std::nullopt, "close: unknown exception"});
        }
    }
    out_.close();
    if (out_.empty() && chain_.sinks_left.fetch_sub(1) == 1) run_.chain_finished();
}

void StageRunner::note_finished(TimePoint finished) noexcept {
    if (wiring_.workers == 1) last_finished_ns_.store(finished.time_since_epoch().count(), std::memory_order_relaxed);
}

void StageRunner::note_output_stalled() noexcept {
    std::int64_t expected = 0;
    output_stalled_since_ns_.compare_exchange_strong(expected, run_.clock().now().time_since_epoch().count(),
                                                     std::memory_order_relaxed);
}

void StageRunner::note_output_flowing() noexcept {
    if (output_stalled_since_ns_.load(std::memory_order_relaxed) == 0) return;
    const std::int64_t since = output_stalled_since_ns_.exchange(0, std::memory_order_relaxed);
    if (since != 0)
        if (Edge* edge = stalled_on_.load(std::memory_order_relaxed))
            edge->add_blocked_time(run_.clock().now() - TimePoint{Duration{since}});
}

StageReport StageRunner::report() const {
    StageReport r;
    static_cast<StageCounts&>(r) = counts_.snapshot();
    const StageTraits& traits = stage_.traits();
    r.name = traits.name;
    r.parallel = traits.parallel;
    r.concurrency = wiring_.workers;
    r.restores_order = wiring_.restore_order;
    r.blocking_io = traits.blocking_io;
    r.held = held_count_.load();
    r.service = service_.summary();
    r.wait = wait_.summary();
    r.busy = service_.weighted_sum();
    return r;
}

}  // namespace framepipe::detail
