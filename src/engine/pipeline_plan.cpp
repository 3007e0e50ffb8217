// Planning and wiring: a chain checked (validate), its workers and edges planned (plan_chain, describe), and its runners
// built on the scheduler (build).
#include "pipeline_impl.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

namespace framepipe {
namespace detail {
namespace {

// A parallel compute stage gets one worker per scheduler thread (at most its max_concurrency): more could not run at
// once. A parallel stage on dedicated threads (blocking I/O) gets its max_concurrency, or one per scheduler thread.
std::size_t workers_for(const StageTraits& traits, std::size_t threads) {
    if (!traits.parallel) return 1;
    std::size_t wanted = threads;
    if (traits.max_concurrency != 0)
        wanted = traits.blocking_io ? traits.max_concurrency : std::min(threads, traits.max_concurrency);
    return std::clamp<std::size_t>(wanted, 1, 64);
}

}  // namespace

ChainPlan plan_chain(const ChainImpl& chain, const PipelineOptions& options, std::size_t threads) {
    const std::size_t n = chain.slots.size();
    ChainPlan plan;
    // A parallel stage restores source order if any later stage needs it, so every stage that needs order gets it.
    plan.restore.assign(n, false);
    bool order_needed_later = false;
    for (std::size_t s = n; s-- > 0;) {
        const StageTraits& traits = chain.slots[s].stage->traits();
        plan.restore[s] = traits.parallel && order_needed_later;
        order_needed_later = order_needed_later || traits.needs_ordered_input;
    }
    // Live input drops where frames are independent of each other: right after capture, and again right after the
    // source's own decode stages, so a slow stage drops decoded pictures rather than packets a decoder needs. The
    // packet edge holds about two seconds of packets, to ride out decoding hiccups and the burst a stream delivers
    // after opening (what FFmpeg read while probing it); if it overflows anyway, an in-order decoder skips to the next
    // keyframe instead of showing broken pictures.
    const SourceInfo& info = chain.state.info;
    for (std::size_t s = 0; s < n; ++s) {
        const StageSlot& slot = chain.slots[s];
        const bool live_drop_point = info.live && (s == 0 || s == chain.decoder_count);
        const bool packet_edge =  // in front of an in-order decoder (an intra-only one decodes any packet)
            info.live && s == 0 && chain.decoder_count > 0 && !chain.slots[0].stage->traits().parallel;
        const double fps = info.fps > 0 && info.fps <= 120 ? info.fps : 30;  // RTSP may claim 90000 ("90k tbr")
        Edge::Config config;
        config.capacity = slot.edge.capacity.value_or(
            packet_edge ? std::max<std::size_t>(options.default_capacity, static_cast<std::size_t>(std::ceil(2 * fps)))
                        : options.default_capacity);
        config.overflow = slot.edge.overflow.value_or(live_drop_point ? options.live_overflow : Overflow::block);
        // One producer at a time: the source thread, a serial stage or an order-restoring one.
        config.single_producer = s == 0 || !chain.slots[s - 1].stage->traits().parallel || plan.restore[s - 1];
        plan.edges.push_back(config);
        plan.workers.push_back(workers_for(slot.stage->traits(), threads));
    }
    return plan;
}

std::size_t pool_frames_for(const ChainImpl& chain, const ChainPlan& plan) {
    std::size_t frames = 2;  // one in the source's hands, one spare for the hand-over
    for (std::size_t s = 0; s < chain.slots.size(); ++s)
        frames += plan.edges[s].capacity + detail::StageRunner::frames_held_at_most(chain.slots[s].stage->traits(),
                                                                                      plan.workers[s], plan.restore[s]);
    return frames;
}

}  // namespace detail

using detail::ChainImpl;
using detail::ChainPlan;
using detail::Edge;
using detail::StageSlot;
using detail::rethrow_with_context;

void Pipeline::Impl::validate() const {
    if (chains.empty()) throw ConfigError("the pipeline has no source: add at least one input");
    for (std::size_t i = 0; i < chains.size(); ++i) {
        const ChainImpl& chain = *chains[i];
        if (!chain.source) throw ConfigError(fmt::format("source {} is null", i + 1));
        if (chain.slots.empty())
            throw ConfigError(fmt::format("source {} has no stages: every chain needs at least one (a sink)", i + 1));
        // Before opening, the source's decode stages are not in the chain yet: count them in, so a pipeline is
        // refused before anything opens, never after.
        const std::size_t decoders = chain.decoders_added ? 0 : chain.source->decode_stage_count();
        const std::size_t stages = chain.slots.size() + decoders;
        if (stages > kMaxStagesPerLane)
            throw ConfigError(fmt::format("source {} has {} stages{}; a chain may have at most {}: remove {}", i + 1,
                                          stages,
                                          decoders + chain.decoder_count > 0
                                              ? fmt::format(" ({} of them its decoder's)", decoders + chain.decoder_count)
                                              : "",
                                          kMaxStagesPerLane, stages - kMaxStagesPerLane));
        std::set<std::string, std::less<>> names;
        for (const StageSlot& slot : chain.slots) {
            const std::string& name = slot.stage->traits().name;
            if (name.empty()) throw ConfigError(fmt::format("source {}: a stage has an empty name", i + 1));
            if (!names.insert(name).second)
                throw ConfigError(fmt::format("source {}: two stages are named '{}'; names must be unique in a chain",
                                              i + 1, name));
            if (slot.edge.capacity && *slot.edge.capacity == 0)
                throw ConfigError(fmt::format("source {}: the edge into '{}' has capacity 0; it must be at least 1",
                                              i + 1, name));
        }
    }
}

void Pipeline::Impl::build(detail::RunControl& run, detail::Scheduler& scheduler) {
    for (auto& chain_ptr : chains) {
        ChainImpl& chain = *chain_ptr;
        const std::size_t n = chain.slots.size();
        const ChainPlan plan = plan_chain(chain, options, scheduler.threads());
        for (const Edge::Config& config : plan.edges) chain.edges.push_back(std::make_unique<Edge>(config));
        for (std::size_t s = 0; s < n; ++s) {
            Stage& stage = *chain.slots[s].stage;
            detail::StageRunner::Wiring wiring;
            wiring.position = s;
            wiring.in = chain.edges[s].get();
            wiring.out = s + 1 < n ? chain.edges[s + 1].get() : nullptr;
            wiring.max_age = chain.slots[s].edge.max_age;
            wiring.workers = plan.workers[s];
            wiring.restore_order = plan.restore[s];
            wiring.last = s + 1 == n;
            auto runner = std::make_unique<detail::StageRunner>(run, chain.state, stage, wiring);
            runner->mark_opened();
            runner->attach(stage.traits().blocking_io ? scheduler.io_node(*runner, wiring.workers, stage.traits().name)
                                                      : scheduler.compute_node(*runner, wiring.workers));
            chain.runners.push_back(std::move(runner));
        }
        chain.stages_opened = 0;  // from here on each runner owes its stage's close()

        chain.state.pool = std::make_unique<detail::FramePool>(static_cast<std::uint32_t>(pool_frames_for(chain, plan)));
        chain.reader = std::make_unique<detail::SourceRunner>(run, chain.state, *chain.source, *chain.edges[0]);
        chain.source_opened = false;  // the reader closes the source
    }
}

std::string Pipeline::describe() {
    Impl& impl = *impl_;
    if (impl.ran) throw ConfigError("Pipeline::describe() must come instead of run(), not after it");
    impl.ran = true;
    impl.validate();
    // Open the sources only (not the stages: a dry run must not create output files), to learn what they are and
    // which decode stages they bring.
    impl.open_sources();
    const std::size_t threads = impl.options.worker_threads != 0
                                    ? impl.options.worker_threads
                                    : std::max(1u, std::thread::hardware_concurrency());
    std::string out;
    for (auto& chain_ptr : impl.chains) {
        const ChainImpl& chain = *chain_ptr;
        const SourceInfo& info = chain.state.info;
        std::string details = info.live ? "live" : "file";
        if (!chain.state.unavailable.empty()) details += ", not reachable yet: " + chain.state.unavailable;
        if (!info.size.empty()) details += fmt::format(", {}x{}", info.size.width, info.size.height);
        if (info.fps > 0) details += fmt::format(", {:.2f} fps", info.fps);
        if (info.frame_count) details += fmt::format(", {}{} frames", info.frame_count_estimated ? "~" : "", *info.frame_count);
        out += fmt::format("{} ({})\n", info.name, details);
        const ChainPlan plan = plan_chain(chain, impl.options, threads);
        for (std::size_t s = 0; s < chain.slots.size(); ++s) {
            const StageTraits& traits = chain.slots[s].stage->traits();
            const Edge::Config& edge = plan.edges[s];
            std::string edge_text = fmt::format("cap {:>2}  {}", edge.capacity, to_string(edge.overflow));
            if (chain.slots[s].edge.max_age)
                edge_text += fmt::format("  max_age {}ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                                *chain.slots[s].edge.max_age).count());
            std::string how = traits.parallel ? fmt::format("parallel x{}", plan.workers[s]) : "serial";
            if (plan.restore[s]) how += ", restores order";
            if (traits.blocking_io) how += ", dedicated thread";
            if (traits.max_held > 0) how += fmt::format(", holds up to {}", traits.max_held);
            out += fmt::format("  --[{:<34}]--> {:<16} {}\n", edge_text, traits.name, how);
        }
        out += fmt::format("  frame pool: {} frames at most\n", pool_frames_for(chain, plan));
    }
    impl.close_opened();
    return out;
}

}  // namespace framepipe
