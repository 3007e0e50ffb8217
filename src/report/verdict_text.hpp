#pragma once
// The verdict's sentences, for the outputs that show them apart (the page's verdict box) rather than as one text.

#include <framepipe/report.hpp>

#include <string>
#include <vector>

namespace framepipe {

/// One limit as a sentence: what it is, the figure, what to try (as bottleneck_verdict says it).
[[nodiscard]] std::string describe_limit(const Limit& limit, bool several_inputs);
/// What it is, without the figure and the advice: "'score' limits throughput (on the branch to 'archive')", "The
/// machine is the limit"; with several inputs, after the input's name.
[[nodiscard]] std::string limit_headline(const Limit& limit, bool several_inputs);
/// Per input: lost signal, frames lost with their causes, frames filtered and rejected.
[[nodiscard]] std::vector<std::string> loss_sentences(const RunReport& report);

}  // namespace framepipe
