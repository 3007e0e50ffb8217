#pragma once
// What the command line adds to a pipeline file: inputs written NAME=URL, and `--set KEY=VALUE`. Used by the command
// and by build_pipeline/parse_pipeline; not part of the library's API.

#include <framepipe/pipeline_file.hpp>

#include <string>

namespace framepipe {

/// A command-line input: "gate=rtsp://10.0.0.7/main" is named "gate"; anything else (including a file that exists
/// under a name with '=') is a path. A name is letters, digits, '_' and '-'.
InputEntry parse_input(const std::string& argument);

/// Applies one `--set KEY=VALUE` (see parse_pipeline for the keys). Checks the value; throws ConfigError.
void apply_setting(PipelineFile& file, const std::string& assignment);

}  // namespace framepipe
