#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>

#include "chain_state.hpp"
#include "scheduler.hpp"
#include "../report/text_escape.hpp"
#include "run_control.hpp"
#include "source_runner.hpp"
#include "stage_runner.hpp"
#include "trace_log.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace framepipe {

using detail::ChainState;
using detail::Edge;

namespace {

struct StageSlot {
    std::unique_ptr<Stage> stage;
    EdgeOptions edge;
    std::unique_ptr<StageHealth> health = std::make_unique<StageHealth>();  // outlives the stage's runner
};

// One source and its stages: what the user declared and, once built, the objects that run them.
class ChainImpl final : public Chain {
public:
    explicit ChainImpl(std::unique_ptr<Source> src) : source(std::move(src)) {}

    Chain& add(std::unique_ptr<Stage> stage, EdgeOptions edge) override {
        if (!stage) throw ConfigError("Chain::add: the stage is null");
        slots.push_back({std::move(stage), edge, std::make_unique<StageHealth>()});
        return *this;
    }

    std::unique_ptr<Source> source;
    std::vector<StageSlot> slots;
    std::size_t decoder_count = 0;  // the source's own decode stages, at the front of slots
    bool decoders_added = false;    // decode_stages() has been called and its stages inserted
    bool source_opened = false;
    std::size_t stages_opened = 0;

    // Declared in destruction order: the reader goes first, the pool (in state) last.
    ChainState state;
    std::vector<std::unique_ptr<Edge>> edges;  // edges[i] feeds slots[i]
    std::vector<std::unique_ptr<detail::StageRunner>> runners;
    std::unique_ptr<detail::SourceRunner> reader;
};

// A parallel compute stage gets one worker per scheduler thread (at most its max_concurrency): more could not run at
// once. A parallel stage on dedicated threads (blocking I/O) gets its max_concurrency, or one per scheduler thread.
std::size_t workers_for(const StageTraits& traits, std::size_t threads) {
    if (!traits.parallel) return 1;
    std::size_t wanted = threads;
    if (traits.max_concurrency != 0)
        wanted = traits.blocking_io ? traits.max_concurrency : std::min(threads, traits.max_concurrency);
    return std::clamp<std::size_t>(wanted, 1, 64);
}

// Rethrows the exception in flight with `where` in front of its message, keeping ConfigError apart from Error.
[[noreturn]] void rethrow_with_context(const std::string& where) {
    try {
        throw;
    } catch (const ConfigError& e) {
        throw ConfigError(fmt::format("{}: {}", where, e.what()));
    } catch (const std::exception& e) {
        throw Error(fmt::format("{}: {}", where, e.what()));
    } catch (...) {
        throw Error(fmt::format("{}: unknown exception", where));
    }
}

template <class F>
void close_quietly(F&& close, const std::string& what) noexcept {
    try {
        close();
    } catch (const std::exception& e) {
        spdlog::error("{}: close failed: {}", what, e.what());
    } catch (...) {
        spdlog::error("{}: close failed", what);
    }
}

}  // namespace

struct Pipeline::Impl {
    explicit Impl(PipelineOptions opts)
        : options(std::move(opts)), clock(options.clock != nullptr ? *options.clock : default_clock()) {}

    PipelineOptions options;
    const Clock& clock;
    LiveReport live;  // for stages that publish statistics while running; outlives the stages (declared before them)
    std::vector<std::unique_ptr<ChainImpl>> chains;
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> abort_requested{false};
    std::stop_source aborted;  // StageContext::abort: requested when the run aborts
    bool ran = false;

    // The timeline the supervisor samples, and what it needs to turn cumulative counters into per-interval values.
    std::vector<TimelineSample> timeline;
    Duration timeline_interval{};
    std::vector<detail::LatencyHistogram::Counts> last_e2e;
    std::vector<std::vector<Duration>> last_busy;
    TimePoint last_sample{};

    void validate() const;
    /// Opens every source, names it, and puts its decode stages at the head of its chain. Throws (after closing what
    /// opened) naming the source.
    void open_sources();
    /// open_sources(), validate(), then every stage.
    void open_all();
    void close_opened() noexcept;
    void build(detail::RunControl& run, detail::Scheduler& scheduler);
    [[nodiscard]] RunReport snapshot(const detail::RunControl& run) const;
    void sample_timeline(const detail::RunControl& run, TimePoint origin);
    void finish_report(RunReport& report) const;
};

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

void Pipeline::Impl::open_sources() {
    for (std::uint32_t i = 0; i < chains.size(); ++i) {
        ChainImpl& chain = *chains[i];
        chain.source->use_clock(clock);  // paces, times out and stamps on the run's clock
        try {
            chain.state.info = chain.source->open(chain.state.stop.get_token());
            chain.source_opened = true;
        } catch (const SourceUnavailable& unavailable) {  // supervised: its reader keeps trying while the rest runs
            chain.state.info = unavailable.info();
            chain.state.unavailable = unavailable.what();
        } catch (...) {
            close_opened();
            rethrow_with_context(fmt::format("source {}", i + 1));
        }
        chain.state.index = i;
        if (chain.state.info.name.empty()) chain.state.info.name = fmt::format("source{}", i + 1);
        // A name comes from a file name or a URL: bytes, not always text. From here on it is shown everywhere.
        chain.state.info.name = displayable_name(chain.state.info.name);
        // The source's own decode stages go first, so decoding runs on the scheduler like any other stage.
        std::vector<std::unique_ptr<Stage>> decoders = chain.source->decode_stages();
        chain.decoder_count = decoders.size();
        chain.decoders_added = true;
        for (std::size_t d = 0; d < decoders.size(); ++d)
            chain.slots.insert(chain.slots.begin() + static_cast<std::ptrdiff_t>(d), {std::move(decoders[d]), {}, std::make_unique<StageHealth>()});
    }
}

void Pipeline::Impl::open_all() {
    open_sources();
    try {
        validate();
    } catch (...) {
        close_opened();
        throw;
    }
    for (auto& chain : chains) {
        for (std::size_t s = 0; s < chain->slots.size(); ++s) {
            Stage& stage = *chain->slots[s].stage;
            const StageContext context{chain->state.index, chain->state.info, s, &clock, &live,
                                       chain->slots[s].health.get(), aborted.get_token()};
            try {
                stage.open(context);
            } catch (...) {
                close_opened();
                rethrow_with_context(fmt::format("{}: stage '{}'", chain->state.info.name, stage.traits().name));
            }
            chain->stages_opened = s + 1;
        }
    }
}

void Pipeline::Impl::close_opened() noexcept {
    for (auto& chain : chains) {
        for (std::size_t s = chain->stages_opened; s-- > 0;) {
            Stage& stage = *chain->slots[s].stage;
            close_quietly([&] { stage.close(); }, stage.traits().name);
        }
        chain->stages_opened = 0;
        if (chain->source_opened) close_quietly([&] { chain->source->close(); }, chain->state.info.name);
        chain->source_opened = false;
    }
}

// How one chain will run: per stage its workers and order restoring, per edge its configuration. run() and
// describe() share it, so a dry run shows exactly what a run builds.
struct ChainPlan {
    std::vector<Edge::Config> edges;  // edges[i] feeds stage i
    std::vector<std::size_t> workers;
    std::vector<bool> restore;
};

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

// The chain's frame pool: every frame that can be alive at once, so a live source never finds it empty.
std::size_t pool_frames_for(const ChainImpl& chain, const ChainPlan& plan) {
    std::size_t frames = 2;  // one in the source's hands, one spare for the hand-over
    for (std::size_t s = 0; s < chain.slots.size(); ++s)
        frames += plan.edges[s].capacity + detail::StageRunner::frames_held_at_most(chain.slots[s].stage->traits(),
                                                                                      plan.workers[s], plan.restore[s]);
    return frames;
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

RunReport Pipeline::Impl::snapshot(const detail::RunControl& run) const {
    RunReport report;
    for (const auto& chain_ptr : chains) {
        const ChainImpl& chain = *chain_ptr;
        SourceReport source;
        static_cast<SourceCounts&>(source) = chain.state.counts.snapshot();
        source.name = chain.state.info.name;
        source.live = chain.state.info.live;
        source.expected_frames = chain.state.info.frame_count;
        source.expected_is_estimate = chain.state.info.frame_count_estimated;
        if (chain.state.pool) {
            source.pool_capacity = chain.state.pool->capacity();
            source.pool_peak = chain.state.pool->peak_in_use();
        }
        const std::int64_t first = chain.state.first_capture_ns.load();
        const std::int64_t last = chain.state.last_delivery_ns.load();
        if (first != 0 && last > first) source.active_time = Duration{last - first};
        source.end_to_end = chain.state.end_to_end.summary();
        source.signal_lost = chain.state.signal_lost.load();
        if (chain.state.ended.load()) source.ended_early = chain.state.ended_early;
        if (source.live) {
            source.behind_real_time = Duration{std::max<std::int64_t>(chain.state.lag_ns.load(), 0)};
            source.behind_real_time_max = Duration{std::max<std::int64_t>(chain.state.lag_max_ns.load(), 0)};
        }
        for (std::size_t s = 0; s < chain.slots.size(); ++s) {
            const Edge& edge = *chain.edges[s];
            EdgeReport e;
            static_cast<EdgeCounts&>(e) = edge.counters();
            e.from = s == 0 ? chain.state.info.name : chain.slots[s - 1].stage->traits().name;
            e.to = chain.slots[s].stage->traits().name;
            e.capacity = edge.capacity();
            e.overflow = edge.overflow();
            e.max_age = chain.slots[s].edge.max_age;
            source.edges.push_back(e);
            StageReport stage = chain.runners[s]->report();
            const StageHealth& health = *chain.slots[s].health;
            stage.unwritten = health.unwritten();
            stage.damaged = health.damaged();
            stage.output_stopped = health.stopped_reason();
            source.stages.push_back(std::move(stage));
        }
        report.sources.push_back(std::move(source));
    }
    report.error = run.error();
    return report;
}

void Pipeline::Impl::sample_timeline(const detail::RunControl& run, TimePoint origin) {
    constexpr std::size_t kMaxSamples = 4096;  // then every other sample goes and the interval doubles
    const TimePoint now = clock.now();
    const RunReport current = snapshot(run);
    if (last_e2e.empty()) {
        last_e2e.resize(chains.size());
        for (auto& counts : last_e2e) counts.fill(0);
        last_busy.resize(chains.size());
        last_sample = origin;
    }
    const double interval_ns = static_cast<double>(std::max<std::int64_t>((now - last_sample).count(), 1));
    TimelineSample sample;
    sample.at = now - origin;
    for (std::size_t c = 0; c < chains.size(); ++c) {
        const SourceReport& s = current.sources[c];
        TimelineSource t;
        t.captured = s.captured;
        t.delivered = s.delivered;
        t.dropped = s.dropped();
        detail::LatencyHistogram::Counts counts;
        chains[c]->state.end_to_end.snapshot(counts);
        detail::LatencyHistogram::Counts delta;
        for (std::size_t i = 0; i < counts.size(); ++i) delta[i] = counts[i] - last_e2e[c][i];
        last_e2e[c] = counts;
        const LatencySummary interval = detail::LatencyHistogram::summarize(delta);
        t.end_to_end_p50 = interval.p50;
        t.end_to_end_p99 = interval.p99;
        last_busy[c].resize(s.stages.size());
        for (std::size_t i = 0; i < s.stages.size(); ++i) {
            t.edge_depth.push_back(static_cast<std::uint32_t>(s.edges[i].queued));
            const double busy = static_cast<double>((s.stages[i].busy - last_busy[c][i]).count());
            last_busy[c][i] = s.stages[i].busy;
            t.stage_busy.push_back(static_cast<float>(
                std::clamp(busy / (interval_ns * static_cast<double>(std::max<std::size_t>(s.stages[i].concurrency, 1))),
                           0.0, 1.0)));
        }
        sample.sources.push_back(std::move(t));
    }
    last_sample = now;
    timeline.push_back(std::move(sample));
    if (timeline.size() >= kMaxSamples) {
        std::vector<TimelineSample> thinned;
        for (std::size_t i = 1; i < timeline.size(); i += 2) thinned.push_back(std::move(timeline[i]));
        timeline = std::move(thinned);
        timeline_interval *= 2;
    }
}

// Figures that need the whole run: rates, utilisation, how often each edge was full, and the verdict.
void Pipeline::Impl::finish_report(RunReport& report) const {
    report.timeline = timeline;
    report.timeline_interval = timeline_interval;
    report.profiled = options.profile;
    for (std::size_t c = 0; c < report.sources.size(); ++c) {
        SourceReport& s = report.sources[c];
        const double active =
            std::chrono::duration<double>(s.active_time > Duration::zero() ? s.active_time : report.wall_time).count();
        if (s.active_time == Duration::zero()) s.active_time = report.wall_time;
        for (StageReport& stage : s.stages) {
            stage.fps = active > 0 ? static_cast<double>(stage.processed) / active : 0;
            stage.utilisation = active > 0 ? in_seconds(stage.busy) /
                                                 (active * static_cast<double>(std::max<std::size_t>(stage.concurrency, 1)))
                                           : 0;
            stage.utilisation = std::clamp(stage.utilisation, 0.0, 1.0);
        }
        for (std::size_t e = 0; e < s.edges.size(); ++e) {
            std::size_t full = 0, samples = 0;
            for (const TimelineSample& sample : timeline) {
                if (c >= sample.sources.size() || e >= sample.sources[c].edge_depth.size()) continue;
                ++samples;
                full += sample.sources[c].edge_depth[e] >= s.edges[e].capacity;
            }
            s.edges[e].full_share = samples > 0 ? static_cast<double>(full) / static_cast<double>(samples) : 0;
        }
    }
    report.verdict = bottleneck_verdict(report);
}

Pipeline::Pipeline(PipelineOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Pipeline::~Pipeline() = default;

Chain& Pipeline::add_source(std::unique_ptr<Source> source) {
    if (impl_->ran) throw ConfigError("add_source: the pipeline has already run");
    impl_->chains.push_back(std::make_unique<ChainImpl>(std::move(source)));
    return *impl_->chains.back();
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

void Pipeline::validate() const { impl_->validate(); }

void Pipeline::request_stop() noexcept { impl_->stop_requested.store(true); }
void Pipeline::request_abort() noexcept { impl_->abort_requested.store(true); }

RunReport Pipeline::run() {
    Impl& impl = *impl_;
    if (impl.ran) throw ConfigError("Pipeline::run() may be called once");
    impl.ran = true;
    impl.validate();
    {
        // Opening may block (a FIFO without a writer, a camera that does not answer): stop and abort requests (which
        // only set flags, being async-signal-safe) reach the sources' stop tokens, which every open() watches.
        std::atomic<bool> opened{false};
        std::thread forwarder([&impl, &opened] {
            while (!opened.load()) {
                if (impl.stop_requested.load() || impl.abort_requested.load())
                    for (auto& chain : impl.chains) chain->state.stop.request_stop();
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        });
        try {
            impl.open_all();
        } catch (...) {
            opened.store(true);
            forwarder.join();
            throw;
        }
        opened.store(true);
        forwarder.join();
    }

    const Clock& clock = impl.clock;  // drain timeout, progress, timeline and the run's duration: the run's clock
    const TimePoint started = clock.now();
    const TimePoint origin = started;
    std::unique_ptr<detail::TraceLog> trace;
    if (!impl.options.trace_path.empty() && impl.options.profile)
        trace = std::make_unique<detail::TraceLog>(impl.options.trace_limit);
    impl.timeline_interval = impl.options.timeline_interval;
    detail::RunControl run(impl.clock, impl.chains.size(), impl.options.profile, trace.get());
    RunReport report;
    {
        detail::Scheduler scheduler(impl.options.worker_threads);
        try {
            impl.build(run, scheduler);
        } catch (...) {
            impl.close_opened();
            throw;
        }
        run.set_abort_action([&impl] {
            impl.aborted.request_stop();
            for (auto& chain : impl.chains) {
                chain->state.stop.request_stop();
                for (auto& edge : chain->edges) edge->close_and_discard();
            }
        });
        for (auto& chain : impl.chains) chain->reader->start();
        impl.live.publish(impl.snapshot(run));

        // This thread works for the scheduler; a supervisor watches for the end, stop requests, timeouts and progress.
        // It looks every 20 ms of real time (stop and abort requests are flags a signal handler sets, nothing it can
        // be woken by); every deadline it keeps is on the run's clock, so a simulated clock drives it too.
        bool drain_timed_out = false;
        scheduler.hold();
        std::thread supervisor([&] {
            bool stopping = false;
            TimePoint drain_deadline{};
            TimePoint next_progress = started + impl.options.progress_interval;
            TimePoint next_sample = started + impl.timeline_interval;
            const auto poll = std::chrono::milliseconds(20);
            while (!run.wait_finished(poll)) {
                const TimePoint now = clock.now();
                if (impl.abort_requested.load()) run.abort();
                if (impl.stop_requested.load() && !stopping) {
                    stopping = true;
                    drain_deadline = now + impl.options.drain_timeout;
                    for (auto& chain : impl.chains) chain->state.stop.request_stop();
                }
                if (stopping && !run.aborting() && now > drain_deadline) {
                    spdlog::warn("stop: in-flight frames did not drain within {} ms; discarding the rest",
                                 std::chrono::duration_cast<std::chrono::milliseconds>(impl.options.drain_timeout)
                                     .count());
                    drain_timed_out = true;
                    run.abort();
                }
                if (now >= next_sample) {
                    next_sample = now + impl.timeline_interval;
                    impl.sample_timeline(run, origin);
                }
                if (now >= next_progress) {
                    next_progress = now + impl.options.progress_interval;
                    RunReport progress = impl.snapshot(run);
                    progress.wall_time = now - started;
                    progress.threads = scheduler.threads();
                    if (impl.options.on_progress) {
                        try {  // the caller's code: it must not end the process from this thread
                            impl.options.on_progress(progress);
                        } catch (const std::exception& e) {
                            spdlog::error("progress callback failed: {}", e.what());
                        } catch (...) {
                            spdlog::error("progress callback failed");
                        }
                    }
                    impl.live.publish(std::move(progress));
                }
            }
            scheduler.release();
        });
        scheduler.wait_for_all();
        supervisor.join();
        for (auto& chain : impl.chains) chain->reader->join();
        scheduler.wait_for_all();

        report = impl.snapshot(run);
        report.finished = true;
        report.stopped = impl.stop_requested.load();
        report.drain_timed_out = drain_timed_out;
        report.wall_time = clock.now() - started;
        report.threads = scheduler.threads();
        impl.sample_timeline(run, origin);  // the final state
        impl.finish_report(report);
        for (auto& chain : impl.chains) chain->runners.clear();  // their nodes belong to the scheduler
    }
    if (trace) {
        try {
            trace->write_chrome_trace(impl.options.trace_path, report, origin);
        } catch (const std::exception& e) {
            spdlog::error("{}", e.what());
        }
    }
    if (!report.balanced())
        spdlog::error("internal error: frame accounting does not add up (captured != delivered + dropped); "
                      "please report this with the run's summary");
    return report;
}

}  // namespace framepipe
