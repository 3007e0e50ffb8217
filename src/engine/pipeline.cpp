// The pipeline's lifecycle: sources added, everything opened (or closed again on a failure), the run with its
// supervisor (stop and abort requests, drain timeout, progress), and every opened part closed exactly once.
#include "pipeline_impl.hpp"

#include "../report/text_escape.hpp"
#include "join.hpp"
#include "lineage_log.hpp"
#include "trace_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace framepipe {

using detail::ChainImpl;
using detail::ChainState;
using detail::Edge;
using detail::rethrow_with_context;

namespace {

// The machine over a run: processors busy on average (every process's, this process's) between two readings.
MachineReport machine_between(const CpuTimes& start, const CpuTimes& end, Duration wall) {
    MachineReport m;
    m.cores = end.cores;
    const double total = in_seconds(end.machine_total - start.machine_total);
    if (total > 0)
        m.busy_cores = std::clamp(in_seconds(end.machine_busy - start.machine_busy) / total, 0.0, 1.0) *
                       static_cast<double>(m.cores);
    if (wall > Duration::zero())
        m.process_cores = std::max(in_seconds(end.process - start.process) / in_seconds(wall), 0.0);
    return m;
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

void Pipeline::Impl::open_sources() {
    // Side by side: a camera that takes a second or more to answer holds up no other, and a camera opened early does
    // not queue packets for long while the rest open (a burst its live edges would have to drop when reading starts).
    std::vector<std::exception_ptr> failed(chains.size());
    std::atomic<std::size_t> first_failed{chains.size()};  // the others were stopped because of it: it is the cause
    {
        std::vector<std::jthread> openers;
        for (std::uint32_t i = 0; i < chains.size(); ++i) {
            ChainImpl& chain = *chains[i];
            chain.source->use_clock(clock);  // paces, times out and stamps on the run's clock
            chain.source->keep_audio(std::any_of(chain.slots.begin(), chain.slots.end(),
                                                 [](const auto& slot) { return slot.from == kFromPackets; }));
            openers.emplace_back([this, i, &chain, &first_failed, &error = failed[i]] {
                try {
                    chain.state.info = chain.source->open(chain.state.stop.get_token());
                    chain.source_opened = true;
                } catch (const SourceUnavailable& unavailable) {  // supervised: its reader keeps trying meanwhile
                    chain.state.info = unavailable.info();
                    chain.state.unavailable = unavailable.what();
                } catch (...) {
                    error = std::current_exception();
                    std::size_t none = chains.size();
                    if (first_failed.compare_exchange_strong(none, i))
                        for (auto& other : chains) other->state.stop.request_stop();  // the run cannot start
                }
            });
        }
    }  // every opener joined
    if (const std::size_t i = first_failed.load(); i < chains.size()) {
        close_opened();
        try {
            std::rethrow_exception(failed[i]);
        } catch (...) {
            rethrow_with_context(fmt::format("source {}", i + 1));
        }
    }
    const auto decoding = static_cast<std::size_t>(
        std::count_if(chains.begin(), chains.end(), [](const auto& chain) { return detail::needs_pictures(*chain); }));
    for (std::uint32_t i = 0; i < chains.size(); ++i) {
        ChainImpl& chain = *chains[i];
        chain.state.index = i;
        if (chain.state.info.name.empty()) chain.state.info.name = fmt::format("source{}", i + 1);
        // A name comes from a file name or a URL: bytes, not always text. From here on it is shown everywhere.
        chain.state.info.name = displayable_name(chain.state.info.name);
        // The source's own decode stages go first, so decoding runs on the scheduler like any other stage.
        // Left out when no stage takes pictures (a recording by copy decodes nothing).
        std::vector<std::unique_ptr<Stage>> decoders;
        if (detail::needs_pictures(chain)) {
            chain.source->decode_alongside(decoding);
            decoders = chain.source->decode_stages();
        }
        chain.decoder_count = decoders.size();
        chain.decoders_added = true;
        for (std::size_t d = 0; d < decoders.size(); ++d)
            chain.slots.insert(chain.slots.begin() + static_cast<std::ptrdiff_t>(d), {std::move(decoders[d]), {}, {}, std::make_unique<StageHealth>()});
        if (options.plan) detail::fuse_stages(chain);
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
                                       chain->slots[s].health.get(), aborted.get_token(), chain->board.get()};
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

Pipeline::Pipeline(PipelineOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Pipeline::~Pipeline() = default;

Chain& Pipeline::add_source(std::unique_ptr<Source> source) {
    if (impl_->ran) throw ConfigError("add_source: the pipeline has already run");
    impl_->chains.push_back(std::make_unique<ChainImpl>(std::move(source)));
    return *impl_->chains.back();
}

Chain& Pipeline::add_stream_of(Chain& camera, std::unique_ptr<Source> source) {
    Impl& impl = *impl_;
    const auto found = std::find_if(impl.chains.begin(), impl.chains.end(),
                                    [&](const auto& chain) { return chain.get() == &camera; });
    if (found == impl.chains.end())
        throw ConfigError("add_stream_of: the camera's chain is not a chain of this pipeline");
    std::shared_ptr<ChainBoard> board = (*found)->board;
    Chain& chain = add_source(std::move(source));
    static_cast<ChainImpl&>(chain).board = std::move(board);
    return chain;
}

Chain& Pipeline::add_join(JoinOptions options, const std::vector<JoinInput>& inputs) {
    Impl& impl = *impl_;
    if (impl.ran) throw ConfigError("add_join: the pipeline has already run");
    if (inputs.empty()) throw ConfigError(fmt::format("join '{}' has no inputs: give it at least one chain", options.name));
    if (!(options.fps > 0 && options.fps <= 1000))
        throw ConfigError(fmt::format("join '{}': fps must be more than 0 and at most 1000, got {}", options.name,
                                      options.fps));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const bool ours = std::any_of(impl.chains.begin(), impl.chains.end(),
                                      [&](const auto& chain) { return chain.get() == inputs[i].chain; });
        if (!ours)
            throw ConfigError(fmt::format("join '{}': input {} is not a chain of this pipeline (add the join after its "
                                          "inputs, with the chains add_source returned)",
                                          options.name, i + 1));
        for (std::size_t j = 0; j < i; ++j)
            if (inputs[j].chain == inputs[i].chain)
                throw ConfigError(fmt::format("join '{}': inputs {} and {} are the same chain", options.name, j + 1, i + 1));
    }
    for (std::size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i].from == kFromPackets)
            throw ConfigError(fmt::format("join '{}': input {} takes packets; a join takes pictures: take them from "
                                          "'{}' or a stage after it",
                                          options.name, i + 1, kFromSource));
    auto hub = detail::make_join_hub(options, inputs.size());
    // latest: an input hands over its newest picture and never waits (a slow join drops stale pictures on that
    // branch's edge); timestamp: it waits for the join (backpressure), so nothing is lost.
    const EdgeOptions edge{.overflow = options.policy == JoinPolicy::latest ? Overflow::latest : Overflow::block};
    for (std::size_t i = 0; i < inputs.size(); ++i)
        inputs[i].chain->add(detail::make_join_input(hub, i, "to_" + options.name), edge, inputs[i].from);
    return add_source(detail::make_join_source(std::move(hub)));
}

void Pipeline::validate() const { impl_->validate(); }

void Pipeline::request_stop() noexcept { impl_->stop_requested.store(true); }
void Pipeline::request_abort() noexcept { impl_->abort_requested.store(true); }

RunReport Pipeline::run() {
    Impl& impl = *impl_;
    if (impl.ran) throw ConfigError("Pipeline::run() may be called once");
    impl.ran = true;
    impl.validate();
    // The frames file is created before any input is opened: a path that cannot be written is refused first.
    std::unique_ptr<detail::LineageLog> lineage;
    if (!impl.options.frames_path.empty()) {
        if (!impl.options.profile)
            throw ConfigError("the frames file needs per-stage timings: it cannot be written with profiling off");
        lineage = std::make_unique<detail::LineageLog>(impl.options.frames_path, impl.options.frames_buffer);
    }
    {
        // Opening may block (a FIFO without a writer, a camera that does not answer): stop and abort requests (which
        // only set flags, being async-signal-safe) reach the sources' stop tokens, which every open() watches.
        // The forwarder looks every 10 ms, and is woken as soon as the opening ends (a sleep there cost every run up to
        // 10 ms before its first frame).
        std::mutex mutex;
        std::condition_variable opening_ended;
        bool opened = false;
        std::thread forwarder([&] {
            std::unique_lock lock(mutex);
            while (!opened) {
                if (impl.stop_requested.load() || impl.abort_requested.load())
                    for (auto& chain : impl.chains) chain->state.stop.request_stop();
                opening_ended.wait_for(lock, std::chrono::milliseconds(10));
            }
        });
        const auto end_forwarding = [&] {
            {
                std::lock_guard lock(mutex);
                opened = true;
            }
            opening_ended.notify_all();
            forwarder.join();
        };
        try {
            impl.open_all();
        } catch (...) {
            end_forwarding();
            throw;
        }
        end_forwarding();
    }

    const Clock& clock = impl.clock;  // drain timeout, progress, timeline and the run's duration: the run's clock
    const TimePoint started = clock.now();
    const TimePoint origin = started;
    const CpuMeter& cpu_meter = impl.options.cpu_meter != nullptr ? *impl.options.cpu_meter : system_cpu_meter();
    const std::optional<CpuTimes> cpu_at_start = cpu_meter.read();
    std::unique_ptr<detail::TraceLog> trace;
    if (!impl.options.trace_path.empty() && impl.options.profile)
        trace = std::make_unique<detail::TraceLog>(impl.options.trace_limit);
    impl.timeline_interval = impl.options.timeline_interval;
    detail::RunControl run(impl.clock, impl.chains.size(), impl.options.profile, trace.get(), lineage.get(),
                           impl.options.profile_spacing);
    RunReport report;
    {
        detail::Scheduler scheduler(impl.options.worker_threads);
        try {
            impl.build(run, scheduler);
        } catch (...) {
            impl.close_opened();
            throw;
        }
        if (lineage) {
            std::vector<detail::LineageLog::ChainNames> names;
            for (const auto& chain : impl.chains) {
                detail::LineageLog::ChainNames& named = names.emplace_back();
                named.source = chain->state.info.name;
                for (const auto& slot : chain->slots) named.stages.push_back(slot.stage->traits().name);
                named.main_sink = chain->plan.main_sink;
            }
            lineage->start(std::move(names), origin);
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
        if (const std::optional<CpuTimes> cpu_at_end = cpu_meter.read(); cpu_at_start && cpu_at_end)
            report.machine = machine_between(*cpu_at_start, *cpu_at_end, report.wall_time);
        impl.sample_timeline(run, origin);  // the final state
        impl.finish_report(report);
        for (auto& chain : impl.chains) chain->runners.clear();  // their nodes belong to the scheduler
    }
    if (lineage) {
        // Every frame has gone back to its pool by now (an abort discards what the edges held), so each has its record.
        for (auto& chain : impl.chains) chain->state.pool->record_lineage(nullptr, chain->state.index);
        const detail::LineageLog::Totals totals = lineage->finish();
        if (!totals.error.empty())
            spdlog::error("cannot write the frames file '{}': {}; it holds the first {} frame record(s)",
                          displayable_name(impl.options.frames_path), totals.error, totals.written);
        if (totals.not_kept > 0)
            spdlog::warn("frames file '{}': {} frame record(s) not written: they came faster than the file was "
                         "written (raise PipelineOptions::frames_buffer, or write to a faster disk)",
                         displayable_name(impl.options.frames_path), totals.not_kept);
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
