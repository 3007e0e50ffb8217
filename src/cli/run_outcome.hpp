#pragma once
// What the commands that run pipelines (run, worker) say about a run's outcome.

#include <framepipe/report.hpp>

#include <string>

namespace framepipe::cli {

/// Why a source delivered no frame: what ended its input, or where its frames went (the biggest cause).
std::string why_nothing_delivered(const SourceReport& source);

}  // namespace framepipe::cli
