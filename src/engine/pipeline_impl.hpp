#pragma once
// The pipeline's parts shared by its three files: pipeline.cpp (the lifecycle: add, open, run, stop, close),
// pipeline_plan.cpp (checking a chain, planning its workers and edges, wiring its runners) and pipeline_report.cpp
// (snapshots of the counters, the timeline and the figures that need the whole run).

#include <framepipe/error.hpp>
#include <framepipe/pipeline.hpp>

#include "chain_state.hpp"
#include "latency_histogram.hpp"
#include "run_control.hpp"
#include "scheduler.hpp"
#include "source_runner.hpp"
#include "stage_runner.hpp"

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

namespace framepipe {
namespace detail {

struct StageSlot {
    std::unique_ptr<Stage> stage;
    EdgeOptions edge;
    std::string from;  // as declared (Chain::add): empty, a stage's name, kFromSource or kFromPackets
    std::unique_ptr<StageHealth> health = std::make_unique<StageHealth>();  // outlives the stage's runner
    std::string plan;  // set by the planner on a stage it made (fuse_stages): what it does instead, for the dry run
};

// How one chain will run: which stage feeds which, per stage its workers and order restoring, per edge its
// configuration. run() and describe() share it, so a dry run shows exactly what a run builds.
struct ChainPlan {
    static constexpr std::size_t kSource = static_cast<std::size_t>(-1);
    std::vector<std::size_t> parent;                 // parent[i] feeds stage i: an earlier stage, or kSource
    std::vector<std::vector<std::size_t>> children;  // the stages stage i feeds, in order; empty for a branch's end
    std::vector<std::size_t> roots;                  // the stages the source feeds
    std::size_t main_sink = 0;  // the main branch's end: from the first stage declared, each stage's first consumer
    std::vector<Edge::Config> edges;  // edges[i] feeds stage i
    std::vector<std::size_t> workers;
    std::vector<bool> restore;
    bool fans_out = false;  // some producer feeds more than one stage: frames may be shared
    // Stage i may be given a frame another branch still holds: there is a fan-out above it with only read-only
    // stages in between (a stage that is not read-only makes the frame its own: it copies or holds the only reference).
    std::vector<bool> may_share;

    [[nodiscard]] std::size_t sinks() const noexcept;
};

// One source and its stages: what the user declared and, once built, the objects that run them.
class ChainImpl final : public Chain {
public:
    explicit ChainImpl(std::unique_ptr<Source> src) : source(std::move(src)) {}

    Chain& add(std::unique_ptr<Stage> stage, EdgeOptions edge, std::string from) override {
        if (!stage) throw ConfigError("Chain::add: the stage is null");
        slots.push_back({std::move(stage), edge, std::move(from), std::make_unique<StageHealth>()});
        return *this;
    }

    std::unique_ptr<Source> source;
    std::vector<StageSlot> slots;
    std::size_t decoder_count = 0;  // the source's own decode stages, at the front of slots
    bool decoders_added = false;    // decode_stages() has been called and its stages inserted
    bool source_opened = false;
    std::size_t stages_opened = 0;

    // Declared in destruction order: the reader goes first, the pool (in state) last.
    // What the chain's stages share (StageContext::board), with the chains of the same camera's other streams
    // (Pipeline::add_stream_of); outlives every stage's close().
    std::shared_ptr<ChainBoard> board = std::make_shared<ChainBoard>();
    ChainState state;
    ChainPlan plan;                            // how it runs, set by build()
    std::vector<std::unique_ptr<Edge>> edges;  // edges[i] feeds slots[i]
    std::vector<std::unique_ptr<detail::StageRunner>> runners;
    std::unique_ptr<detail::SourceRunner> reader;
};

/// The stage feeding each stage of the chain (ChainPlan::parent), from StageSlot::from; decode stages feed each other
/// in order. Throws ConfigError naming the source and stage for a `from` that names no earlier stage.
std::vector<std::size_t> resolve_parents(const ChainImpl& chain, std::size_t chain_index);

/// Whether a stage of the chain takes decoded pictures: its frames come (through `from:`) from the source's pictures,
/// not only from its packets. When none does the source's decode stages are left out: a recording by copy decodes
/// nothing.
bool needs_pictures(const ChainImpl& chain);

/// The planner's rewrites (stage_fusion.hpp), after the source's decode stages are in the chain: every run of stages a
/// rule fuses is replaced by the rule's stage, and `from:` references to the run's last stage name the fused one.
void fuse_stages(ChainImpl& chain);

ChainPlan plan_chain(const ChainImpl& chain, const PipelineOptions& options, std::size_t threads);
/// The chain's frame pool: every frame that can be alive at once, so a live source never finds it empty.
std::size_t pool_frames_for(const ChainImpl& chain, const ChainPlan& plan);

// Rethrows the exception in flight with `where` in front of its message, keeping ConfigError apart from Error.
[[noreturn]] inline void rethrow_with_context(const std::string& where) {
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

}  // namespace detail

struct Pipeline::Impl {
    explicit Impl(PipelineOptions opts)
        : options(std::move(opts)), clock(options.clock != nullptr ? *options.clock : default_clock()) {}

    PipelineOptions options;
    const Clock& clock;
    LiveReport live;  // for stages that publish statistics while running; outlives the stages (declared before them)
    std::vector<std::unique_ptr<detail::ChainImpl>> chains;
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

}  // namespace framepipe
