// The run's figures: snapshots of every counter (while running and at the end), the timeline the supervisor samples,
// and what needs the whole run (rates, utilisation, how often each edge was full, the verdict).
#include "pipeline_impl.hpp"

#include <algorithm>
#include <cmath>

namespace framepipe {

using detail::ChainImpl;
using detail::Edge;

RunReport Pipeline::Impl::snapshot(const detail::RunControl& run) const {
    RunReport report;
    for (const auto& chain_ptr : chains) {
        const ChainImpl& chain = *chain_ptr;
        SourceReport source;
        static_cast<SourceCounts&>(source) = chain.state.counts.snapshot();
        source.name = chain.state.info.name;
        source.live = chain.state.info.live;
        source.stated_fps = chain.state.info.fps;
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
        if (const std::int64_t lost_at = chain.state.signal_lost_at_ns.load();
            lost_at != detail::ChainState::kNeverLost)
            source.signal_lost_at = TimePoint{Duration{lost_at}};
        if (chain.state.ended.load()) source.ended_early = chain.state.ended_early;
        if (source.live) {
            source.behind_real_time = Duration{std::max<std::int64_t>(chain.state.lag_ns.load(), 0)};
            source.behind_real_time_max = Duration{std::max<std::int64_t>(chain.state.lag_max_ns.load(), 0)};
        }
        source.main_branch = chain.plan.main_sink;
        for (std::size_t s = 0; s < chain.slots.size(); ++s) {
            const Edge& edge = *chain.edges[s];
            EdgeReport e;
            static_cast<EdgeCounts&>(e) = edge.counters();
            const std::size_t parent = chain.plan.parent[s];
            e.from = parent == detail::ChainPlan::kSource ? chain.state.info.name : chain.slots[parent].stage->traits().name;
            if (parent != detail::ChainPlan::kSource) e.from_stage = parent;
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
            std::size_t full = 0, empty = 0, samples = 0;
            for (const TimelineSample& sample : timeline) {
                if (c >= sample.sources.size() || e >= sample.sources[c].edge_depth.size()) continue;
                ++samples;
                full += sample.sources[c].edge_depth[e] >= s.edges[e].capacity;
                empty += sample.sources[c].edge_depth[e] == 0;
            }
            s.edges[e].full_share = samples > 0 ? static_cast<double>(full) / static_cast<double>(samples) : 0;
            s.edges[e].empty_share = samples > 0 ? static_cast<double>(empty) / static_cast<double>(samples) : 0;
        }
    }
    report.limits = diagnose(report);
    report.verdict = bottleneck_verdict(report);
}

}  // namespace framepipe
