// Video jobs, side by side in one run: framepipe against the other ways people do the same work today.
//
//   video_jobs [MEDIA_DIR] [JOB ...]         JOB: thumbnails (default), edges, thumbnails720, thumbs_and_edges
//                                            ("all": every job)
//
// Inputs of a job, the first rule that applies:
//   1. VIDEO_JOBS_INPUTS="A B ...": these videos (any folder, any count)
//   2. MEDIA_DIR holds no generated video (first_*.mp4, second_*.mp4): every *.mp4, *.mkv and *.mov in it, sorted by
//      name, for every job (the job's size is then the videos' own)
//   3. otherwise the two inputs the benchmark generates for the job, once (20 s of noisy 1080p or 720p H.264 at 30 fps,
//      B-frames; perf/common/media.hpp)
// Jobs:
//   thumbnails    Gaussian blur 5x5, resize to 320 px wide (area), a JPEG every 30th frame
//   edges         resize to 640 px wide (area), grayscale, Canny on every frame
//   thumbnails720 the thumbnail job on two 720p inputs
//   thumbs_and_edges  decode once, two outputs: per frame the thumbnail branch (blur, resize to 320, a JPEG every
//                 30th frame) and, from the same decoded frame, the edges branch (resize to 640, gray, Canny,
//                 discarded)
// Entries, each run as its own process so that wall time, CPU time and peak memory are its own:
//   framepipe            this project: one graph, all inputs, decode/convert/filters on the flow graph, with
//                        PipelineOptions::plan on (the default); run by video_jobs_framepipe (framepipe_entry.cpp),
//                        a program that links framepipe alone
//   framepipe --no-plan  the same with PipelineOptions::plan off: every stage as declared (the planner's share)
//   tbb::parallel_pipeline  hand-written: a parallel_pipeline per input (2 threads, both inputs at once): serial
//                        in-order cv::VideoCapture read -> parallel filter (the job's filters) -> serial in-order JPEG
//                        write; 2 tokens per hardware thread, frame buffers reused through a free list
//   C++ OpenCV loop      cv::VideoCapture read -> filters -> imwrite, one video after the other
//   ffmpeg filters       one ffmpeg process with both inputs and the closest filter chain (-threads 2)
//   Python ...           Debian's python3-opencv: sequential, a thread per video, a process pool over the videos,
//                        a process pool over single frames
//   decode only          ffmpeg -threads 2 decoding both inputs to null: the floor for any entry
// thumbs_and_edges has entries of its own (decode once, both branches per frame):
//   framepipe            one graph, both inputs; the edges branch takes the source's pictures (from: source)
//   framepipe --no-plan  as above
//   tbb::parallel_pipeline  as above, its parallel filter computing both branches
//   Python thread per video  python_jobs.py thumbs_and_edges threads
//   ffmpeg split         one ffmpeg process per input, both at once, one filter graph with split=2 (thumbnails to
//                        image2 JPEGs, edges to null)
//   decode only          as above
// The "outputs" column counts the JPEGs each entry wrote, to show they did the same work. Under the table, for
// framepipe and for framepipe --no-plan: its speed against the fastest other entry (neither framepipe entry nor decode
// only; above 1.00x framepipe is faster), its frame rate as a percentage of decode only's, and its peak memory against
// the tbb::parallel_pipeline entry's (below 1.00x framepipe uses less).
//
// The "other load" column is the CPU the rest of the machine used while the entry ran (busy time from /proc/stat minus
// the entry's own), in cores: on a shared machine, a run with other load above ~0.1 is disturbed.
//
// Environment:
//   VIDEO_JOBS_RUNS=N          N rounds (default 2), every entry once a round; keeps each entry's fastest
//   VIDEO_JOBS_INPUTS="A B ..." the videos to run the jobs on (see Inputs above)
//   VIDEO_JOBS_QUIET=1         before each run, waits (up to 2 minutes) until the machine is 90% idle for a second
//   VIDEO_JOBS_SUMMARY, VIDEO_JOBS_CAPACITY, ... knobs of the framepipe entries: see framepipe_entry.cpp
//   VIDEO_JOBS_FFMPEG_THREADS  threading options of the split entry; the default,
//                              "-threads 2 -filter_complex_threads 1" (2 decoder threads, the filter graph on one
//                              thread, per process), was the fastest of six variants measured on the 2-core machine
//                              (ffmpeg's default, -threads 1 or 2, -filter_complex_threads 1 or 2)
#include "../common/measure.hpp"
#include "../common/media.hpp"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <tbb/concurrent_queue.h>
#include <tbb/parallel_pipeline.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace framepipe;

namespace {

struct Job {
    std::string name;
    std::string description;
    std::string kind;  // thumbnails | edges | thumbs_and_edges
    std::string size;  // 1920x1080 | 1280x720
};

const std::vector<Job> kJobs = {
    {"thumbnails", "two 1080p H.264 inputs of 20 s: blur 5x5, resize to 320 wide, JPEG every 30th frame", "thumbnails",
     "1920x1080"},
    {"edges", "two 1080p H.264 inputs of 20 s: resize to 640 wide, grayscale, Canny on every frame", "edges",
     "1920x1080"},
    {"thumbnails720", "two 720p H.264 inputs of 20 s: blur 5x5, resize to 320 wide, JPEG every 30th frame",
     "thumbnails", "1280x720"},
    {"thumbs_and_edges",
     "two 1080p H.264 inputs of 20 s, decoded once: blur 5x5, resize to 320 wide, JPEG every 30th frame; and from the "
     "same frame resize to 640 wide, grayscale, Canny (discarded)",
     "thumbs_and_edges", "1920x1080"},
};

// ---- entries that run inside this process (as a child) ---------------------------------------------------------

std::uint64_t run_opencv_loop(const std::string& kind, const std::string& out, const std::vector<std::string>& inputs) {
    std::uint64_t frames = 0;
    cv::Mat frame, blurred, small, gray, edges;
    for (const std::string& input : inputs) {
        const std::string name = fs::path(input).stem().string();
        cv::VideoCapture capture(input);
        for (int index = 0; capture.read(frame); ++index, ++frames) {
            if (kind == "thumbnails") {
                cv::GaussianBlur(frame, blurred, cv::Size(5, 5), 0);
                cv::resize(blurred, small, cv::Size(320, blurred.rows * 320 / blurred.cols), 0, 0, cv::INTER_AREA);
                if (index % 30 == 0)
                    cv::imwrite(fmt::format("{}/{}_{:06}.jpg", out, name, index), small, {cv::IMWRITE_JPEG_QUALITY, 90});
            } else {
                cv::resize(frame, small, cv::Size(640, frame.rows * 640 / frame.cols), 0, 0, cv::INTER_AREA);
                cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
                cv::Canny(gray, edges, 50, 150);
            }
        }
    }
    return frames;
}

// The job written by hand the way one would with oneTBB: one parallel_pipeline per input, the inputs at once on two
// threads (sharing TBB's workers). Read (cv::VideoCapture, which decodes and converts to BGR) must be serial and in
// order; the job's filters (both branches for thumbs_and_edges) run in one parallel filter; the JPEG write is serial and
// in order. Each frame's buffers (the decoded frame and every intermediate) are reused through a free list of `tokens`
// items, so steady state allocates nothing.
std::uint64_t run_tbb_pipeline(const std::string& kind, const std::string& out, const std::vector<std::string>& inputs) {
    const std::size_t tokens = 2 * std::max(1U, std::thread::hardware_concurrency());
    const bool thumbs = kind == "thumbnails" || kind == "thumbs_and_edges";
    const bool edges = kind == "edges" || kind == "thumbs_and_edges";
    std::atomic<std::uint64_t> frames{0};
    std::atomic<bool> failed{false};
    struct Item {
        int index = 0;
        cv::Mat frame, blurred, thumb, small, gray, edges;
    };
    auto one_input = [&](const std::string& input) {
        const std::string name = fs::path(input).stem().string();
        cv::VideoCapture capture(input, cv::CAP_FFMPEG);
        if (!capture.isOpened()) {
            failed = true;
            return;
        }
        std::vector<Item> items(tokens);
        tbb::concurrent_queue<Item*> free_items;
        for (Item& item : items) free_items.push(&item);
        int next = 0;
        tbb::parallel_pipeline(
            tokens,
            tbb::make_filter<void, Item*>(tbb::filter_mode::serial_in_order, [&](tbb::flow_control& control) -> Item* {
                Item* item = nullptr;
                // At most `tokens` items are in flight, each back on the list before its token is released.
                if (!free_items.try_pop(item) || !capture.read(item->frame)) {
                    if (item != nullptr) free_items.push(item);
                    control.stop();
                    return nullptr;
                }
                item->index = next++;
                return item;
            }) & tbb::make_filter<Item*, Item*>(tbb::filter_mode::parallel, [thumbs, edges](Item* item) {
                const cv::Mat& f = item->frame;
                if (thumbs) {
                    cv::GaussianBlur(f, item->blurred, cv::Size(5, 5), 0);
                    cv::resize(item->blurred, item->thumb, cv::Size(320, f.rows * 320 / f.cols), 0, 0, cv::INTER_AREA);
                }
                if (edges) {
                    cv::resize(f, item->small, cv::Size(640, f.rows * 640 / f.cols), 0, 0, cv::INTER_AREA);
                    cv::cvtColor(item->small, item->gray, cv::COLOR_BGR2GRAY);
                    cv::Canny(item->gray, item->edges, 50, 150);
                }
                return item;
            }) & tbb::make_filter<Item*, void>(tbb::filter_mode::serial_in_order, [&](Item* item) {
                if (thumbs && item->index % 30 == 0)
                    cv::imwrite(fmt::format("{}/{}_{:06}.jpg", out, name, item->index), item->thumb,
                                {cv::IMWRITE_JPEG_QUALITY, 90});
                ++frames;
                free_items.push(item);
            }));
    };
    std::vector<std::thread> threads;
    for (const std::string& input : inputs) threads.emplace_back(one_input, input);
    for (std::thread& t : threads) t.join();
    if (failed) {
        fmt::print(stderr, "tbb entry: an input could not be opened\n");
        std::exit(1);
    }
    return frames;
}

// ---- the driver -----------------------------------------------------------------------------------------------------

struct Measured {
    double wall_s = 0;
    double cpu_s = 0;
    double peak_mib = 0;
    double other_cores = 0;  // CPU used by everything else on the machine meanwhile, in cores
    int status = 0;
};

// CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq, steal), from /proc/stat.
double machine_busy_seconds() {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return 0;
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait,
                              &irq, &softirq, &steal);
    std::fclose(f);
    if (n < 4) return 0;
    return static_cast<double>(user + nice + system + irq + softirq + steal) /
           static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Waits until the machine is at least 90% idle over one second (at most two minutes); says so if it never is.
void wait_for_quiet() {
    const double cores = std::max(1U, std::thread::hardware_concurrency());
    double busy = 0;
    for (int i = 0; i < 120; ++i) {
        const double before = machine_busy_seconds();
        std::this_thread::sleep_for(std::chrono::seconds(1));
        busy = (machine_busy_seconds() - before) / cores;
        if (busy < 0.10) return;
    }
    fmt::print(stderr, "the machine stayed busy ({:.0f}%); measuring anyway\n", busy * 100);
}

// Runs a command (through /bin/sh) as a child and measures it: wall time, and from wait4 the CPU time and peak
// resident memory of the child and every descendant it waited for (for a pool: the largest single process).
Measured measure_command(const std::string& command) {
    Measured m;
    const double busy_before = machine_busy_seconds();
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    m.peak_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
    m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    m.other_cores = std::max(0.0, (machine_busy_seconds() - busy_before - m.cpu_s) / m.wall_s);
    return m;
}

std::string quoted(const std::string& s) { return "'" + s + "'"; }

// Whether `path` is named like an input perf::video_inputs generates.
bool is_generated(const fs::path& path) {
    const std::string name = path.filename().string();
    return name.starts_with("first_") || name.starts_with("second_");
}

// The job's inputs by the rules in the header comment: VIDEO_JOBS_INPUTS, else the user's videos in `dir`, else the
// generated pair of `size`.
std::vector<std::string> job_inputs(const std::string& dir, const std::string& size) {
    std::vector<std::string> inputs;
    if (const char* listed = std::getenv("VIDEO_JOBS_INPUTS")) {
        std::istringstream words(listed);
        for (std::string word; words >> word;) inputs.push_back(word);
        return inputs;
    }
    bool generated = false;
    if (fs::is_directory(dir))
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string(), ext = entry.path().extension().string();
            if (!entry.is_regular_file() || name.find(".part.") != std::string::npos) continue;
            generated |= is_generated(entry.path());
            if (ext == ".mp4" || ext == ".mkv" || ext == ".mov") inputs.push_back(entry.path().string());
        }
    if (generated || inputs.empty()) return perf::video_inputs(dir, size);
    std::sort(inputs.begin(), inputs.end());
    return inputs;
}

std::size_t count_jpegs(const std::string& dir) {
    std::size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir)) n += entry.path().extension() == ".jpg";
    return n;
}

// One ffmpeg per input, all at once, each decoding its input once and splitting the pictures into the two branches.
// `threads`: the threading options (before -i: the decoder's; -filter_complex_threads: the filter graph's).
std::string ffmpeg_split_command(const std::string& out, const std::vector<std::string>& in,
                                 const std::string& threads) {
    std::string command = "ok=0; pids=''";
    for (const std::string& input : in) {
        const std::string name = fs::path(input).stem().string();
        const std::string graph =
            "[0:v]split=2[a][b];"
            "[a]gblur=sigma=1.1:steps=2,scale=320:-2:flags=area,select='not(mod(n\\,30))'[t];"
            "[b]scale=640:-2:flags=area,format=gray,edgedetect=low=50/255:high=150/255[e]";
        command += fmt::format(
            "; ffmpeg -v error -y {} -i {} -filter_complex \"{}\" -map '[t]' -fps_mode vfr -q:v 3 {} -map '[e]' -f "
            "null "
            "/dev/null & pids=\"$pids $!\"",
            threads, quoted(input), graph, quoted(fmt::format("{}/{}_%06d.jpg", out, name)));
    }
    return "{ " + command + "; for p in $pids; do wait $p || ok=1; done; exit $ok; }";
}

std::string ffmpeg_filter_command(const std::string& kind, const std::string& out, const std::vector<std::string>& in) {
    std::string inputs, graph, maps;
    for (std::size_t i = 0; i < in.size(); ++i) {
        inputs += fmt::format(" -i {}", quoted(in[i]));
        const std::string name = fs::path(in[i]).stem().string();
        if (kind == "thumbnails") {
            // Gaussian 5x5 as OpenCV computes it has sigma 1.1; area scaling as in the other entries.
            graph += fmt::format("{}[{}:v]gblur=sigma=1.1:steps=2,scale=320:-2:flags=area,select='not(mod(n\\,30))'[o{}]",
                                 i ? ";" : "", i, i);
            maps += fmt::format(" -map '[o{}]' -fps_mode vfr -q:v 3 {}", i, quoted(fmt::format("{}/{}_%06d.jpg", out, name)));
        } else {
            graph += fmt::format("{}[{}:v]scale=640:-2:flags=area,format=gray,edgedetect=low=0.2:high=0.6[o{}]",
                                 i ? ";" : "", i, i);
            maps += fmt::format(" -map '[o{}]' -f null /dev/null", i);
        }
    }
    return fmt::format("ffmpeg -v error -y -threads 2{} -filter_complex \"{}\"{}", inputs, graph, maps);
}

}  // namespace

int main(int argc, char** argv) {
    // Child mode: one entry in this process.
    if (argc >= 5 && std::string(argv[1]) == "--entry") {
        const std::string entry = argv[2], kind = argv[3], out = argv[4];
        const std::vector<std::string> inputs(argv + 5, argv + argc);
        fs::create_directories(out);
        if (entry != "tbb" && entry != "opencv") {  // framepipe's entries are video_jobs_framepipe's
            fmt::print(stderr, "video_jobs: unknown entry '{}' (tbb, opencv)\n", entry);
            return 2;
        }
        const std::uint64_t frames =
            entry == "tbb" ? run_tbb_pipeline(kind, out, inputs) : run_opencv_loop(kind, out, inputs);
        fmt::print("{}\n", frames);
        return 0;
    }

    const std::string self = fs::canonical("/proc/self/exe").string();
    // The framepipe entries run in a program of their own that links framepipe alone, as a library user's does: this
    // one links OpenCV's imgcodecs and videoio for the OpenCV entries, which framepipe does not load.
    const std::string framepipe_entry = (fs::path(self).parent_path() / "video_jobs_framepipe").string();
    const std::string media = argc > 1 ? argv[1] : "perf-media";
    std::vector<std::string> wanted(argv + std::min(argc, 2), argv + argc);
    if (wanted.empty()) wanted = {"thumbnails"};
    if (wanted == std::vector<std::string>{"all"})
        wanted = {"thumbnails", "edges", "thumbnails720", "thumbs_and_edges"};
    for (const std::string& w : wanted)
        if (std::none_of(kJobs.begin(), kJobs.end(), [&](const Job& j) { return j.name == w; })) {
            fmt::print(stderr, "unknown job '{}' (thumbnails, edges, thumbnails720, thumbs_and_edges, all)\n", w);
            return 2;
        }
    const int runs =
        std::getenv("VIDEO_JOBS_RUNS") != nullptr ? std::max(1, std::atoi(std::getenv("VIDEO_JOBS_RUNS"))) : 2;
    const bool quiet = std::getenv("VIDEO_JOBS_QUIET") != nullptr;
    const char* split_threads_env = std::getenv("VIDEO_JOBS_FFMPEG_THREADS");
    const std::string split_threads =
        split_threads_env != nullptr ? split_threads_env : "-threads 2 -filter_complex_threads 1";
#ifdef VIDEO_JOBS_PYTHON_SCRIPT
    const std::string python = VIDEO_JOBS_PYTHON_SCRIPT;  // absolute (with ccache's base_dir, __FILE__ is relative)
#else
    const std::string python = fs::path(__FILE__).parent_path() / "python_jobs.py";
#endif

    for (const Job& job : kJobs) {
        if (std::find(wanted.begin(), wanted.end(), job.name) == wanted.end()) continue;
        const std::vector<std::string> inputs = job_inputs(media, job.size);
        if (inputs.empty()) {
            fmt::print(stderr, "{}: no input videos\n", job.name);
            return 2;
        }
        const bool own_inputs = std::getenv("VIDEO_JOBS_INPUTS") != nullptr || !is_generated(inputs.front());
        std::string joined;
        std::uint64_t frames = 0;
        for (const auto& i : inputs) {
            joined += " " + quoted(fs::absolute(i).string());
            frames += static_cast<std::uint64_t>(cv::VideoCapture(i, cv::CAP_FFMPEG).get(cv::CAP_PROP_FRAME_COUNT));
        }

        struct Entry {
            std::string name;
            std::string command;  // {out} is replaced by the output folder
        };
        const auto own = [&](const char* entry) {
            return fmt::format("{} --entry {} {} {{out}}{}", quoted(self), entry, job.kind, joined);
        };
        const auto framepipe = [&](const char* entry) {
            return fmt::format("{} --entry {} {} {{out}}{}", quoted(framepipe_entry), entry, job.kind, joined);
        };
        const auto py = [&](const char* mode) {
            return fmt::format("/usr/bin/python3 {} {} {} {{out}}{}", quoted(python), job.kind, mode, joined);
        };
        std::vector<Entry> entries = {
            {"framepipe", framepipe("framepipe")},
            {"framepipe --no-plan", framepipe("framepipe-no-plan")},
            {"tbb::parallel_pipeline per input (by hand)", own("tbb")},
        };
        if (job.kind == "thumbs_and_edges") {  // the entries that decode once for both branches
            entries.insert(entries.end(), {{"Python thread per video", py("threads")},
                                           {"ffmpeg split, a process per input", ""}});
        } else {
            entries.insert(entries.end(), {{"C++ OpenCV loop (sequential)", own("opencv")},
                                           {"ffmpeg filters, both inputs", ""},
                                           {"Python sequential", py("sequential")},
                                           {"Python thread per video", py("threads")},
                                           {"Python process pool, videos", py("processes")},
                                           {"Python process pool, frames", py("frames")}});
        }
        entries.push_back({"decode only (ffmpeg -f null)", ""});
        fmt::print(
            "\n{}: {}\n{} frames, {} hardware threads. Each entry runs alone, best of {} rounds (every entry once a "
            "round) by wall time.\n",
            job.name,
            own_inputs ? fmt::format("the job on {} ({} inputs)", joined.substr(1), inputs.size()) : job.description,
            frames, std::thread::hardware_concurrency(), runs);
        if (job.kind == "thumbs_and_edges") fmt::print("ffmpeg split threading: {}\n", split_threads);
        fmt::print("\n");
        perf::Table table({"entry", "wall s", "frames/s", "CPU s", "cores used", "peak MiB", "outputs", "other load",
                           "framepipe vs it"});
        // Rounds: every entry once per round, so each entry's best run is drawn from moments spread over the whole
        // job (a shared machine's speed drifts over minutes; entries run one after another would each meet one phase
        // of it, and the ratios between them would carry the drift).
        std::vector<std::optional<Measured>> best(entries.size());
        std::vector<std::size_t> outputs(entries.size(), 0);
        for (int run = 0; run < runs; ++run)
            for (std::size_t e = 0; e < entries.size(); ++e) {
                const Entry& entry = entries[e];
                const std::string out = fs::absolute(fmt::format("{}/out-{}-{}", media, job.name, e)).string();
                fs::remove_all(out);
                fs::create_directories(out);
                std::string command = entry.command;
                if (entry.name.starts_with("ffmpeg")) {
                    std::vector<std::string> abs;
                    for (const auto& i : inputs) abs.push_back(fs::absolute(i).string());
                    command = job.kind == "thumbs_and_edges" ? ffmpeg_split_command(out, abs, split_threads)
                                                             : ffmpeg_filter_command(job.kind, out, abs);
                } else if (entry.name.starts_with("decode")) {
                    command = "ffmpeg -v error -threads 2";
                    for (const auto& i : inputs) command += " -i " + quoted(fs::absolute(i).string());
                    for (std::size_t i = 0; i < inputs.size(); ++i) command += fmt::format(" -map {}:v -f null /dev/null", i);
                } else {
                    const auto at = command.find("{out}");
                    command.replace(at, 5, quoted(out));
                }
                command += " > /dev/null";
                if (quiet) wait_for_quiet();
                const Measured m = measure_command(command);
                if (m.status != 0) fmt::print(stderr, "{} failed (exit {}): {}\n", entry.name, m.status, command);
                std::optional<Measured>& kept = best[e];
                if (!kept || (m.status == 0 && (kept->status != 0 || m.wall_s < kept->wall_s))) kept = m;
                if (m.status == 0 || outputs[e] == 0) outputs[e] = count_jpegs(out);
                fs::remove_all(out);
            }
        std::vector<std::pair<std::string, Measured>> results;
        for (std::size_t e = 0; e < entries.size(); ++e) {
            const Measured& m = *best[e];
            results.emplace_back(entries[e].name, m);
            if (m.status != 0) {
                table.add({entries[e].name, "failed", "-", "-", "-", "-", "-", "-", "-"});
                continue;
            }
            const double fp_wall = results.front().second.wall_s;
            table.add({entries[e].name, fmt::format("{:.2f}", m.wall_s), fmt::format("{:.1f}", frames / m.wall_s),
                       fmt::format("{:.2f}", m.cpu_s), fmt::format("{:.2f}", m.cpu_s / m.wall_s),
                       fmt::format("{:.0f}", m.peak_mib), fmt::format("{}", outputs[e]),
                       fmt::format("{:.2f}", m.other_cores),
                       results.size() == 1 ? "-" : fmt::format("{:.2f}x", m.wall_s / fp_wall)});
        }
        table.print();
        // The ratios of the header comment; "-" where the reference entry failed.
        const auto find = [&](auto&& matches) -> const Measured* {
            const Measured* found = nullptr;
            for (const auto& [name, m] : results)
                if (m.status == 0 && matches(name) && (found == nullptr || m.wall_s < found->wall_s)) found = &m;
            return found;
        };
        const Measured* fastest_other = find([](const std::string& name) {
            return !name.starts_with("framepipe") && !name.starts_with("decode");
        });
        const Measured* decode = find([](const std::string& name) { return name.starts_with("decode"); });
        const Measured* tbb = find([](const std::string& name) { return name.starts_with("tbb::"); });
        std::string fastest_name;
        for (const auto& [name, m] : results)
            if (&m == fastest_other) fastest_name = name;
        const auto ratio = [](const Measured* reference, auto&& of) {
            return reference != nullptr ? of(*reference) : std::string("-");
        };
        fmt::print("\n");
        for (const std::string which : {"framepipe", "framepipe --no-plan"}) {
            const Measured* m = find([&](const std::string& name) { return name == which; });
            if (m == nullptr) continue;
            // Issue 12's goals: 1.4x the fastest other entry, 85% of the decode-only rate, at most the oneTBB
            // program's peak memory.
            fmt::print("{:<20} {} the speed of the fastest other entry ({}; goal 1.4x), {} of the decode-only rate (goal "
                       "85%), peak memory {} the tbb::parallel_pipeline entry's (goal at most 1.00x)\n",
                       which,
                       ratio(fastest_other, [&](const Measured& r) { return fmt::format("{:.2f}x", r.wall_s / m->wall_s); }),
                       fastest_name.empty() ? "-" : fastest_name,
                       ratio(decode, [&](const Measured& r) { return fmt::format("{:.0f}%", 100 * r.wall_s / m->wall_s); }),
                       ratio(tbb, [&](const Measured& r) { return fmt::format("{:.2f}x", m->peak_mib / r.peak_mib); }));
        }
        if (decode != nullptr) fmt::print("Decode-only floor: {:.1f} frames/s.\n", frames / decode->wall_s);
    }
    return 0;
}
