#pragma once
// Fusions: planner rules that replace a run of stages with one stage doing the same work in less time or memory
// (a conversion that goes straight to the size the next stage wants, a blur evaluated only where a downscale samples
// it). A rule is declared once, next to the stage it makes (declare_fusion, at static initialisation); the planner
// (Pipeline::Impl::open_sources, unless PipelineOptions::plan is off) offers each rule every run of a chain's stages in
// which each stage is the only consumer of the one before and no edge inside carries options of its own.
//
// Contract for a rule: it looks at the stages (never calls process() on them) and returns nothing, or a Fusion that
// moved the first `replaces` stages (at least 2) into the stage it made; that stage must give the pictures those stages
// would have (at most 2 levels per pixel, PSNR at least 45 dB, checked by a test per rule) and open() and close()
// them if it falls back on them. Rules run on the thread that builds the pipeline.

#include <framepipe/stage.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace framepipe::detail {

struct Fusion {
    std::size_t replaces = 0;      // how many of the run's leading stages the fused stage replaces
    std::unique_ptr<Stage> stage;  // named after the stages it replaces, joined by '+'
    std::string plan;              // what the dry run says the stage does instead, in a line
};

/// `run` starts at a stage that may be a source's decode stage (`first_decodes`: the last of them) and holds only
/// consecutive stages of one branch. `ends_branch`: no stage takes frames from the run's last stage (its frames are only
/// counted as delivered), so a picture that stage does not read is read by nobody.
using FusionRule =
    std::function<std::optional<Fusion>(std::span<std::unique_ptr<Stage>> run, bool first_decodes, bool ends_branch)>;

/// Adds a rule; returns true, for `const bool shrink_declared = declare_fusion(...)` at namespace scope (a name of its
/// own per file, as unity builds need).
bool declare_fusion(FusionRule rule);

/// The first rule that fuses `run`, or nothing.
std::optional<Fusion> fuse(std::span<std::unique_ptr<Stage>> run, bool first_decodes, bool ends_branch);

}  // namespace framepipe::detail
