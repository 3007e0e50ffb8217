// Planning and wiring: a chain checked (validate), its workers and edges planned (plan_chain, describe), and its runners
// built on the scheduler (build).
#include "pipeline_impl.hpp"

#include "packet_branches.hpp"
#include "stage_fusion.hpp"

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

std::size_t ChainPlan::sinks() const noexcept {
    return static_cast<std::size_t>(
        std::count_if(children.begin(), children.end(), [](const auto& c) { return c.empty(); }));
}

bool needs_pictures(const ChainImpl& chain) {
    const std::size_t first = chain.decoders_added ? chain.decoder_count : 0;
    std::vector<StageOrigin> stages;
    for (std::size_t s = first; s < chain.slots.size(); ++s)
        stages.push_back({chain.slots[s].stage->traits().name, chain.slots[s].from});
    const std::vector<bool> packets = takes_packets(stages);
    return std::find(packets.begin(), packets.end(), false) != packets.end();
}

std::vector<std::size_t> resolve_parents(const ChainImpl& chain, std::size_t chain_index) {
    // Before the source opens its decode stages are not in the chain yet; `packets` needs a source that has them all
    // the same (it may leave them out when no stage takes pictures).
    const std::size_t decoders = chain.decoders_added ? chain.decoder_count : 0;
    const std::size_t decode_total = chain.source->decode_stage_count();
    const std::size_t n = chain.slots.size();
    std::vector<std::size_t> parent(n, ChainPlan::kSource);
    for (std::size_t s = 0; s < n; ++s) {
        const std::string& from = chain.slots[s].from;
        const std::string& name = chain.slots[s].stage->traits().name;
        if (s < decoders || from.empty()) {
            parent[s] = s == 0 ? ChainPlan::kSource : s - 1;
        } else if (from == kFromSource) {
            parent[s] = decoders == 0 ? ChainPlan::kSource : decoders - 1;
        } else if (from == kFromPackets) {
            if (decode_total == 0)
                throw ConfigError(fmt::format(
                    "source {}: stage '{}' takes `from: packets`, but this source delivers pictures, not compressed "
                    "packets (only video files, streams and cameras have packets): use `from: source`",
                    chain_index + 1, name));
            parent[s] = ChainPlan::kSource;
        } else {
            std::size_t found = ChainPlan::kSource;
            for (std::size_t p = 0; p < n && found == ChainPlan::kSource; ++p)
                if (chain.slots[p].stage->traits().name == from) found = p;
            if (found == ChainPlan::kSource) {
                std::string names;
                for (std::size_t p = decoders; p < s; ++p) names += fmt::format(", {}", chain.slots[p].stage->traits().name);
                throw ConfigError(fmt::format("source {}: stage '{}' takes frames from '{}', but no stage has that name; "
                                              "name one of {}, {}{}",
                                              chain_index + 1, name, from, kFromSource, kFromPackets, names));
            }
            if (found >= s)
                throw ConfigError(fmt::format("source {}: stage '{}' takes frames from '{}', which comes after it (or "
                                              "is itself): a stage takes frames only from a stage declared before it",
                                              chain_index + 1, name, from));
            parent[s] = found;
        }
    }
    return parent;
}

void fuse_stages(ChainImpl& chain) {
    const std::size_t first = chain.decoder_count > 0 ? chain.decoder_count - 1 : 0;  // a fusion may take the last decode stage
    for (std::size_t s = first; s + 1 < chain.slots.size(); ++s) {
        std::vector<std::size_t> parent;
        try {
            parent = resolve_parents(chain, chain.state.index);
        } catch (const ConfigError&) {
            return;  // validate() reports it; nothing is planned for a chain that cannot run
        }
        const auto consumers = [&](std::size_t p) { return std::count(parent.begin(), parent.end(), p); };
        // The run: from s, each stage the only consumer of the one before, its edge as the planner would make it.
        std::size_t end = s + 1;
        while (end < chain.slots.size() && parent[end] == end - 1 && consumers(end - 1) == 1 &&
               !chain.slots[end].edge.capacity && !chain.slots[end].edge.overflow && !chain.slots[end].edge.max_age)
            ++end;
        if (end - s < 2) continue;
        std::vector<std::unique_ptr<Stage>> run;
        std::vector<std::string> names;
        for (std::size_t i = s; i < end; ++i) {
            names.push_back(chain.slots[i].stage->traits().name);
            run.push_back(std::move(chain.slots[i].stage));
        }
        std::optional<Fusion> fusion =
            fuse(run, chain.decoder_count > 0 && s == chain.decoder_count - 1, consumers(end - 1) == 0);
        if (!fusion) {
            for (std::size_t i = s; i < end; ++i) chain.slots[i].stage = std::move(run[i - s]);
            continue;
        }
        const std::string& last_name = names[fusion->replaces - 1];
        for (std::size_t i = fusion->replaces; i < run.size(); ++i) chain.slots[s + i].stage = std::move(run[i]);
        const std::string replaced_name = fusion->stage->traits().name;
        chain.slots[s].stage = std::move(fusion->stage);
        chain.slots[s].plan = std::move(fusion->plan);
        chain.slots.erase(chain.slots.begin() + static_cast<std::ptrdiff_t>(s) + 1,
                          chain.slots.begin() + static_cast<std::ptrdiff_t>(s + fusion->replaces));
        if (s < chain.decoder_count) chain.decoder_count = s;  // the fused stage is the chain's, not the decoder's
        for (StageSlot& slot : chain.slots)
            if (slot.from == last_name) slot.from = replaced_name;
    }
}

ChainPlan plan_chain(const ChainImpl& chain, const PipelineOptions& options, std::size_t threads) {
    const std::size_t n = chain.slots.size();
    ChainPlan plan;
    plan.parent = resolve_parents(chain, chain.state.index);
    plan.children.assign(n, {});
    for (std::size_t s = 0; s < n; ++s) {
        if (plan.parent[s] == ChainPlan::kSource)
            plan.roots.push_back(s);
        else
            plan.children[plan.parent[s]].push_back(s);
    }
    plan.fans_out = plan.roots.size() > 1 ||
                    std::any_of(plan.children.begin(), plan.children.end(), [](const auto& c) { return c.size() > 1; });
    // The main branch is the one the pipeline declares first: from its first stage (after the source's decode
    // stages), each stage's first consumer. Its end's deliveries are the source's "delivered".
    plan.may_share.assign(n, false);
    for (std::size_t s = 0; s < n; ++s) {
        for (std::size_t p = plan.parent[s];; p = plan.parent[p]) {
            if (p == ChainPlan::kSource) {
                plan.may_share[s] = plan.roots.size() > 1;
                break;
            }
            if (plan.children[p].size() > 1) {
                plan.may_share[s] = true;
                break;
            }
            if (!chain.slots[p].stage->traits().read_only) break;
        }
    }
    plan.main_sink = std::min(chain.decoder_count, n - 1);
    while (plan.main_sink < n && !plan.children[plan.main_sink].empty()) plan.main_sink = plan.children[plan.main_sink].front();

    // A parallel stage restores source order if a stage after it, on any branch, needs it, so every stage that needs
    // order gets it. Children come after their parent, so one backward pass sees every descendant first.
    plan.restore.assign(n, false);
    std::vector<bool> order_needed_below(n, false);
    for (std::size_t s = n; s-- > 0;) {
        for (const std::size_t c : plan.children[s])
            if (chain.slots[c].stage->traits().needs_ordered_input || order_needed_below[c]) order_needed_below[s] = true;
        plan.restore[s] = chain.slots[s].stage->traits().parallel && order_needed_below[s];
    }
    // Live input drops where frames are independent of each other: right after capture, and again right after the
    // source's own decode stages, so a slow stage drops decoded pictures rather than packets a decoder needs. A packet
    // edge (into an in-order decoder, or into a stage that takes the packets themselves) holds two seconds of packets
    // (five when the chain decodes nothing), to ride out decoding or disk hiccups and the burst a stream delivers after
    // opening (what FFmpeg read while probing it); if it overflows anyway, an in-order decoder (or a packet recorder)
    // skips to the next keyframe.
    const SourceInfo& info = chain.state.info;
    const std::size_t last_decoder = chain.decoder_count > 0 ? chain.decoder_count - 1 : ChainPlan::kSource;
    for (std::size_t s = 0; s < n; ++s) {
        const StageSlot& slot = chain.slots[s];
        const std::size_t parent = plan.parent[s];
        const bool from_source = parent == ChainPlan::kSource;
        const bool live_drop_point = info.live && (from_source || (s >= chain.decoder_count && parent == last_decoder));
        const bool packet_edge = info.live && from_source && chain.source->decode_stage_count() > 0 &&
                                 (s >= chain.decoder_count || !chain.slots[0].stage->traits().parallel);
        const double fps = info.fps > 0 && info.fps <= 120 ? info.fps : 30;  // RTSP may claim 90000 ("90k tbr")
        Edge::Config config;
        // (A chain that decodes keeps 2 s: its pooled frames hold pictures too; packets alone are a few MB for 5 s.)
        const double packet_seconds = chain.decoder_count == 0 ? 5 : 2;
        config.capacity = slot.edge.capacity.value_or(
            packet_edge ? std::max<std::size_t>(options.default_capacity,
                                                static_cast<std::size_t>(std::ceil(packet_seconds * fps)))
                        : options.default_capacity);
        config.overflow = slot.edge.overflow.value_or(live_drop_point ? options.live_overflow : Overflow::block);
        if (config.overflow == Overflow::latest) config.capacity = 1;  // it holds one frame, whatever was asked
        // One producer at a time: the source thread, a serial stage or an order-restoring one.
        config.single_producer =
            from_source || !chain.slots[parent].stage->traits().parallel || plan.restore[parent];
        config.consumer = s;
        plan.edges.push_back(config);
        plan.workers.push_back(workers_for(slot.stage->traits(), threads));
    }
    return plan;
}

std::size_t pool_frames_for(const ChainImpl& chain, const ChainPlan& plan) {
    std::size_t frames = 2;  // one in the source's hands, one spare for the hand-over
    for (std::size_t s = 0; s < chain.slots.size(); ++s) {
        const StageTraits& traits = chain.slots[s].stage->traits();
        frames += plan.edges[s].capacity +
                  detail::StageRunner::frames_held_at_most(traits, plan.workers[s], plan.restore[s]);
        // Copy on write: a worker holds the shared frame and its copy at once.
        if (plan.may_share[s] && !traits.read_only) frames += plan.workers[s];
    }
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
            if (name == kFromSource || name == kFromPackets)
                throw ConfigError(fmt::format("source {}: a stage is named '{}', which `from:` reserves for the "
                                              "source's frames: give it another name",
                                              i + 1, name));
            if (!names.insert(name).second)
                throw ConfigError(fmt::format("source {}: two stages are named '{}'; names must be unique in a chain",
                                              i + 1, name));
            if (slot.edge.capacity && *slot.edge.capacity == 0)
                throw ConfigError(fmt::format("source {}: the edge into '{}' has capacity 0; it must be at least 1",
                                              i + 1, name));
        }
        (void)detail::resolve_parents(chain, i);
    }
}

namespace {

// Carrying (StageRunner): stage s may run on the thread of what feeds it when that feeds s alone and neither blocks on
// I/O; when what feeds it is the source's reader, only a file's (a camera's reader only reads).
bool may_be_carried(const ChainImpl& chain, const detail::ChainPlan& plan, std::size_t s) {
    if (chain.slots[s].stage->traits().blocking_io) return false;
    const std::size_t parent = plan.parent[s];
    if (parent == detail::ChainPlan::kSource) return plan.roots.size() == 1 && !chain.state.info.live;
    return plan.children[parent].size() == 1 && !chain.slots[parent].stage->traits().blocking_io;
}

}  // namespace

void Pipeline::Impl::build(detail::RunControl& run, detail::Scheduler& scheduler) {
    for (auto& chain_ptr : chains) {
        ChainImpl& chain = *chain_ptr;
        const std::size_t n = chain.slots.size();
        chain.plan = plan_chain(chain, options, scheduler.threads());
        const ChainPlan& plan = chain.plan;
        for (const Edge::Config& config : plan.edges) chain.edges.push_back(std::make_unique<Edge>(config));
        const auto targets = [&](const std::vector<std::size_t>& consumers) {
            std::vector<detail::FanOut::Target> out;
            for (const std::size_t c : consumers) out.push_back({chain.edges[c].get(), c});
            return out;
        };
        chain.state.sinks_left.store(plan.sinks());
        for (std::size_t s = 0; s < n; ++s) {
            Stage& stage = *chain.slots[s].stage;
            detail::StageRunner::Wiring wiring;
            wiring.position = s;
            wiring.in = chain.edges[s].get();
            wiring.outs = targets(plan.children[s]);
            wiring.max_age = chain.slots[s].edge.max_age;
            wiring.workers = plan.workers[s];
            wiring.restore_order = plan.restore[s];
            wiring.main_sink = s == plan.main_sink;
            wiring.copy_on_write = plan.may_share[s] && !stage.traits().read_only;
            for (std::size_t p = plan.parent[s]; p != ChainPlan::kSource; p = plan.parent[p]) wiring.lineage.push_back(p);
            auto runner = std::make_unique<detail::StageRunner>(run, chain.state, stage, wiring);
            runner->mark_opened();
            runner->attach(stage.traits().blocking_io ? scheduler.io_node(*runner, wiring.workers, stage.traits().name)
                                                      : scheduler.compute_node(*runner, wiring.workers));
            chain.runners.push_back(std::move(runner));
        }
        for (std::size_t s = 0; s < n; ++s)
            if (plan.parent[s] != ChainPlan::kSource && may_be_carried(chain, plan, s))
                chain.runners[plan.parent[s]]->carry_into(chain.runners[s].get());
        chain.stages_opened = 0;  // from here on each runner owes its stage's close()

        chain.state.pool = std::make_unique<detail::FramePool>(static_cast<std::uint32_t>(pool_frames_for(chain, plan)));
        chain.state.pool->use_spans(n);
        chain.state.pool->record_lineage(run.lineage(), chain.state.index);
        chain.reader = std::make_unique<detail::SourceRunner>(run, chain.state, *chain.source,
                                                              detail::FanOut(targets(plan.roots)));
        if (plan.roots.size() == 1 && may_be_carried(chain, plan, plan.roots.front()))
            chain.reader->carry_into(chain.runners[plan.roots.front()].get());
        chain.source_opened = false;  // the reader closes the source
    }
}

namespace {

// What a dry run says about a stage and about the edge in front of it.
std::string stage_text(const StageTraits& traits, const ChainPlan& plan, std::size_t s) {
    std::string how = traits.parallel ? fmt::format("parallel x{}", plan.workers[s]) : "serial";
    if (plan.restore[s]) how += ", restores order";
    if (traits.blocking_io) how += ", dedicated thread";
    if (traits.max_held > 0) how += fmt::format(", holds up to {}", traits.max_held);
    if (plan.may_share[s] && !traits.read_only)
        how += traits.renders_new_image ? ", borrows shared pixels" : ", copies shared frames";
    return how;
}

std::string edge_text(const Edge::Config& edge, const EdgeOptions& options) {
    std::string text = fmt::format("cap {:>2}  {}", edge.capacity, to_string(edge.overflow));
    if (options.max_age)
        text += fmt::format("  max_age {}ms",
                            std::chrono::duration_cast<std::chrono::milliseconds>(*options.max_age).count());
    return text;
}

std::string source_text(const ChainImpl& chain) {
    const SourceInfo& info = chain.state.info;
    std::string details = info.live ? "live" : "file";
    if (!chain.state.unavailable.empty()) details += ", not reachable yet: " + chain.state.unavailable;
    if (!info.size.empty()) details += fmt::format(", {}x{}", info.size.width, info.size.height);
    if (info.fps > 0) details += fmt::format(", {:.2f} fps", info.fps);
    if (info.frame_count)
        details += fmt::format(", {}{} frames", info.frame_count_estimated ? "~" : "", *info.frame_count);
    return fmt::format("{} ({})", info.name, details);
}

// A DOT string: quotes and backslashes escaped, control characters dropped.
std::string dot_quoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
}

std::string describe_text(const ChainImpl& chain, const ChainPlan& plan, std::size_t pool_frames) {
    std::string out = source_text(chain) + "\n";
    for (std::size_t s = 0; s < chain.slots.size(); ++s) {
        const StageTraits& traits = chain.slots[s].stage->traits();
        const std::size_t parent = plan.parent[s];
        // A stage that does not take the previous line's frames says where its frames come from.
        std::string from;
        if ((s > 0 && parent != s - 1) || chain.slots[s].from == kFromPackets)
            from = parent != ChainPlan::kSource ? chain.slots[parent].stage->traits().name + " "
                   : chain.source->decode_stage_count() > 0 ? std::string(kFromPackets) + " "
                                               : std::string(kFromSource) + " ";
        const char* end = !plan.children[s].empty() || !plan.fans_out ? ""
                          : s == plan.main_sink                      ? "  [end of the main branch]"
                                                                     : "  [end of a branch]";
        const char* carried = may_be_carried(chain, plan, s) ? ", carried when light" : "";
        out += fmt::format("  {}--[{:<34}]--> {:<16} {}{}{}\n", from, edge_text(plan.edges[s], chain.slots[s].edge),
                           traits.name, stage_text(traits, plan, s), carried, end);
        if (!chain.slots[s].plan.empty()) out += fmt::format("      planned: {}\n", chain.slots[s].plan);
    }
    out += fmt::format("  frame pool: {} frames at most\n", pool_frames);
    return out;
}

std::string describe_dot(const ChainImpl& chain, const ChainPlan& plan, std::size_t index) {
    std::string out = fmt::format("  subgraph cluster_{} {{\n    label={};\n", index, dot_quoted(source_text(chain)));
    out += fmt::format("    c{}_source [shape=ellipse, label={}];\n", index, dot_quoted(chain.state.info.name));
    for (std::size_t s = 0; s < chain.slots.size(); ++s) {
        const StageTraits& traits = chain.slots[s].stage->traits();
        out += fmt::format("    c{}_{} [label={}{}];\n", index, s,
                           dot_quoted(fmt::format("{}\n{}", traits.name, stage_text(traits, plan, s))),
                           s < chain.decoder_count ? ", style=dashed" : "");
        const std::string from = plan.parent[s] == ChainPlan::kSource ? fmt::format("c{}_source", index)
                                                                        : fmt::format("c{}_{}", index, plan.parent[s]);
        const Edge::Config& edge = plan.edges[s];
        out += fmt::format("    {} -> c{}_{} [label={}{}];\n", from, index, s,
                           dot_quoted(edge_text(edge, chain.slots[s].edge)),
                           edge.overflow == Overflow::block ? "" : ", style=dashed");
    }
    return out + "  }\n";
}

}  // namespace

std::string Pipeline::describe(DescribeFormat format) {
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
    if (format == DescribeFormat::dot)
        out += "// framepipe --dry-run=dot: render with `dot -Tsvg FILE -o graph.svg`. Dashed edges drop frames when "
               "full; dashed boxes are the source's own decode stages.\ndigraph framepipe {\n  rankdir=LR;\n"
               "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n";
    try {
        for (std::size_t i = 0; i < impl.chains.size(); ++i) {
            const ChainImpl& chain = *impl.chains[i];
            const ChainPlan plan = plan_chain(chain, impl.options, threads);
            out += format == DescribeFormat::dot ? describe_dot(chain, plan, i)
                                                 : describe_text(chain, plan, pool_frames_for(chain, plan));
        }
    } catch (...) {
        impl.close_opened();
        throw;
    }
    if (format == DescribeFormat::dot) out += "}\n";
    impl.close_opened();
    return out;
}

}  // namespace framepipe
