#pragma once
// Pipeline files: the YAML that `framepipe run` reads. A file names its stages in order and, optionally, its inputs,
// options for the sources made from them, and defaults for every edge:
//
//     # Thumbnails every 2 s of each video.
//     inputs: [a.mp4, b.mp4]             # command-line inputs replace these; an input may also be a map:
//                                        #   - { path: rtsp://10.0.0.7/main, name: gate, read_timeout: 3s }
//                                        # a camera's main stream recorded, its sub stream analysed:
//                                        #   - { name: gate, path: rtsp://10.0.0.7/main, sub: rtsp://10.0.0.7/sub }
//     source: { realtime: false }        # options for the sources made from the inputs
//     edges: { capacity: 4 }             # defaults for every edge
//     plugins: [../lib/libmine.so]       # more stage and source types (relative to the file's folder)
//     stages:
//       - { type: blur, ksize: 5 }
//       - { type: resize, width: 320, edge: { capacity: 8, overflow: drop_oldest, max_age: 500ms } }
//       - { type: thumbnail, name: thumbs, interval: 2s, dir: thumbs }
//       # A second branch from the same decoded frames (`from:` a stage above, `source` or `packets`):
//       - { type: canny, from: source }
//       - { type: write_images, dir: edges }
//     # Fan-in: one more stream made of every input's frames (a wall of cameras), with stages of its own:
//     join: { name: wall, from: thumbs, policy: latest, fps: 10, stages: [ { type: mosaic }, { type: live_view } ] }
//     # Motion events, availability and statistics on MQTT, in Frigate's layout: the mqtt stage's options. It is added
//     # to every input's chain as a branch from the first `motion` stage (or from the source when there is none):
//     mqtt: { broker: "mqtt://frigate@10.0.0.2:1883", password_env: MQTT_PASSWORD, topic_prefix: frigate }
//
// Every error names the file, the line and the key, and says what is allowed.

#include <framepipe/clock.hpp>
#include <framepipe/edge.hpp>
#include <framepipe/pipeline.hpp>
#include <framepipe/registry.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace framepipe {

struct StageEntry {
    std::string type;
    std::string name;                                // default: the type
    OptionValues options;                            // parsed and checked against the stage's spec when read
    std::map<std::string, int> option_lines;         // where each option was written
    EdgeOptions edge;                                // the edge in front of this stage
    std::string from;                                // where its frames come from (Chain::add); empty: the stage above
    int from_line = 0;
    int line = 0;
};

/// One input: what to read, what to call it, and source options for it alone (they override the file's `source:`).
struct InputEntry {
    std::string path;
    std::string name;                                // empty: the source's own (file name, host and path, ...)
    std::map<std::string, std::string> options;
    int line = 0;
    /// The camera's sub stream (a low-resolution copy of `path`, the main stream): stages that take pictures get its
    /// pictures, stages on `packets` get the main stream's packets (Pipeline::add_stream_of). Needs a name.
    std::string sub;
};

/// A join of every input's chain (Pipeline::add_join): the frames of stage `from` of each, matched by `policy` into
/// one stream that runs through `stages`.
struct JoinEntry {
    std::string name = "join";
    std::string from = std::string(kFromSource);  // a stage of `stages:` above, or `source`
    JoinPolicy policy = JoinPolicy::latest;
    double fps = 10;
    std::vector<StageEntry> stages;
    int line = 0;
};

struct PipelineFile {
    std::string path;
    std::vector<InputEntry> inputs;
    std::map<std::string, std::string> source;       // source options, including "type" (auto, video, images, synthetic)
    std::map<std::string, int> source_lines;
    std::vector<StageEntry> stages;
    EdgeOptions edges;                               // defaults for every edge
    std::size_t threads = 0;                         // 0 = one worker per CPU
    std::optional<Duration> drain_timeout;
    std::optional<Duration> profile_spacing;         // PipelineOptions::profile_spacing (0: time every frame)
    std::vector<std::string> plugins;                // loaded (load_plugin) when the file was read
    std::optional<JoinEntry> join;                   // `join:`: every input's frames joined into one more stream
};

/// Reads a pipeline file (a regular file of at most 1 MiB) and checks it as parse_pipeline does. Both load the file's
/// `plugins:` (load_plugin), so neither may run while another thread makes stages or runs a pipeline.
PipelineFile load_pipeline_file(const std::string& path, const std::vector<std::string>& settings = {});
/// Checks a pipeline file's text: its structure and every value, then applies `settings`, then makes every stage once
/// without opening it: everything that can be checked before there are inputs. `path` labels errors. A setting is
/// `KEY=VALUE` as `framepipe run --set` takes it: STAGE.OPTION (STAGE is a stage's name, or its type when that is
/// unique), STAGE.edge.capacity|overflow|max_age, source.OPTION, edges.capacity|overflow|max_age, threads; its value is
/// checked as if the file said it. Throws ConfigError listing every problem found, one "FILE:LINE: ..." per line in
/// the order of the lines (checks that do not depend on an earlier one all run).
PipelineFile parse_pipeline(const std::string& text, const std::string& path,
                            const std::vector<std::string>& settings = {});

/// Makes every stage once (without opening it), so option combinations a stage rejects are reported with the line.
/// Throws ConfigError listing every stage's problem, one per line.
void check_stages(const PipelineFile& file);

/// The source type an input gets: the declared source type that claims it most strongly (SourceSpec::claims), e.g.
/// "synthetic", "video" (files, URLs, cameras) or "images" (a folder, a name ending in '/', a glob pattern, an image
/// file). Anything with a scheme ("rtsp://", "http://", ...) is a URL: video, whatever its path or query holds. A
/// `type` option (the input's own, else the file's) forces one; a type that refuses the input (images for a URL) is a
/// ConfigError.
std::string source_type_of(const InputEntry& input, const std::map<std::string, std::string>& options);

/// One source per input (type as source_type_of). `options` are the pipeline file's source options; the input's own
/// override them.
std::unique_ptr<Source> make_source(const InputEntry& input, const std::map<std::string, std::string>& options);

/// Builds the pipeline: one chain per input (given inputs replace the file's; "gate=rtsp://..." names one "gate", as on
/// the command line), checked as
/// Pipeline::run() checks it before opening anything (Pipeline::validate). Opens nothing. Throws ConfigError when there
/// is no input, for a bad one, or for a chain the engine refuses.
std::unique_ptr<Pipeline> build_pipeline(const PipelineFile& file, const std::vector<std::string>& inputs,
                                         PipelineOptions options = {});

}  // namespace framepipe
