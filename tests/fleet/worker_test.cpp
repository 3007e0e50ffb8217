// `framepipe worker` and `framepipe submit` against a real redis-server started on 127.0.0.1 by the test: inputs shared
// among workers, a worker SIGKILLed mid-video whose entry another worker finishes, a poison input in the dead letters
// after its tries, SIGTERM finishing the current input, and bad queue URLs refused without printing the password.
#include "support/eventually.hpp"
#include "support/framepipe_command.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

using namespace framepipe::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A redis-server of the test's own, on a free loopback port; shut down with the object. Persistent: it keeps its data
// in an append-only file across stop() and start(), as a production server does; otherwise nothing goes to disk.
class RedisServer {
public:
    explicit RedisServer(const TempDir& dir, bool persistent = false)
        : dir_(dir.path()), port_(free_port()), persistent_(persistent) {
        start();
    }
    void start() {
        process_ = std::make_unique<Process>(
            fmt::format("redis-server --port {} --bind 127.0.0.1 --save '' --appendonly {} --dir '{}'", port_,
                        persistent_ ? "yes --appendfsync always" : "no", dir_.string()),
            dir_);
        const auto until = std::chrono::steady_clock::now() + 30s;  // a safety bound, not a measure
        while (cli("PING").find("PONG") == std::string::npos) {
            REQUIRE_MESSAGE(std::chrono::steady_clock::now() < until, "redis-server did not start");
            std::this_thread::sleep_for(20ms);
        }
    }
    void stop() {
        process_->kill(SIGTERM);
        process_.reset();
    }
    [[nodiscard]] int port() const { return port_; }
    [[nodiscard]] std::string url(const std::string& stream) const {
        return fmt::format("redis://127.0.0.1:{}/{}", port_, stream);
    }
    // redis-cli's answer, JSON for anything structured.
    [[nodiscard]] std::string cli(const std::string& args) const {
        return run_bounded(fmt::format("redis-cli -p {} --json {}", port_, args), fs::temp_directory_path(), 10s).out;
    }
    // Every record of a stream: id and fields.
    [[nodiscard]] std::vector<std::pair<std::string, std::map<std::string, std::string>>> records(
        const std::string& stream) const {
        std::vector<std::pair<std::string, std::map<std::string, std::string>>> out;
        for (const json& entry : json::parse(cli("XRANGE " + stream + " - +"))) {
            std::map<std::string, std::string> fields;
            for (std::size_t i = 0; i + 1 < entry[1].size(); i += 2) fields[entry[1][i]] = entry[1][i + 1];
            out.emplace_back(entry[0], fields);
        }
        return out;
    }
    // A consumer's pending entries ([[id, consumer, idle, deliveries] ...]); none before the group exists.
    [[nodiscard]] json pending_of(const std::string& consumer) const {
        json entries = json::parse(cli("XPENDING jobs framepipe - + 10 " + consumer), nullptr, false);
        return entries.is_array() ? entries : json::array();
    }
    [[nodiscard]] long long pending(const std::string& stream) const {
        return json::parse(cli("XPENDING " + stream + " framepipe"))[0].get<long long>();
    }

private:
    fs::path dir_;
    int port_;
    bool persistent_;
    std::unique_ptr<Process> process_;
};

const char* kPipeline =
    "source: { realtime: true }\n"  // a second per video: time to be killed in the middle of one
    "stages:\n"
    "  - { type: resize, width: 80 }\n"
    "  - { type: write_video, path: 'out/{input}.mp4' }\n";

std::vector<std::string> make_videos(const TempDir& dir, int count, int frames = 25) {
    std::vector<std::string> paths;
    for (int i = 0; i < count; ++i) {
        paths.push_back(dir / fmt::format("v{:02}.mp4", i));
        // No B-frames: a file replayed at its own rate is live, and a decoder's reordering delay would release its
        // last frames in a burst at the end, which a live edge may drop (counted) by its policy.
        write_video(paths.back(), {.frames = frames, .size = {160, 120}, .fps = 25,
                                   .codec = "-c:v libx264 -preset veryfast -bf 0 -g 12 -pix_fmt yuv420p"});
    }
    return paths;
}

std::string worker_command(const RedisServer& redis, const std::string& name, const std::string& extra = {},
                           const std::string& claim_after = "1s") {
    return fmt::format("'{}' worker p.yaml --queue {} --consumer {} --claim-after {} --exit-when-empty {} 2>{}.log",
                       FRAMEPIPE_BINARY, redis.url("jobs"), name, claim_after, extra, name);
}

void submit(const TempDir& dir, const RedisServer& redis, const std::vector<std::string>& inputs) {
    std::string args;
    for (const std::string& input : inputs) args += " '" + input + "'";
    const CommandResult r = run_framepipe(fmt::format("submit --queue {}{}", redis.url("jobs"), args), dir);
    REQUIRE(r.code == 0);
}

}  // namespace

TEST_CASE("worker: 3 workers share 30 videos; one SIGKILLed mid-video leaves its entry to another, and every input is "
          "done exactly once with complete outputs") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 30);
    submit(dir, redis, videos);

    Process w1(worker_command(redis, "w1"), dir.path());
    Process w2(worker_command(redis, "w2"), dir.path());
    Process w3(worker_command(redis, "w3"), dir.path());
    // Wait until w2 is writing a video (an entry pending for it, its output begun), then kill it.
    std::string killed_entry, killed_input;
    const auto until = std::chrono::steady_clock::now() + 60s;  // a safety bound, not a measure
    while (killed_entry.empty() && std::chrono::steady_clock::now() < until) {
        const json mine = redis.pending_of("w2");
        if (!mine.empty()) {
            const std::string id = mine[0][0];
            const json entry = json::parse(redis.cli(fmt::format("XRANGE jobs {} {}", id, id)));
            const std::string input = entry[0][1][1];
            const fs::path part = fs::path(dir / "out") / (fs::path(input).stem().string() + ".part.mp4");
            std::error_code ec;
            if (fs::exists(part) && fs::file_size(part, ec) > 0) killed_entry = id, killed_input = input;
        }
        if (killed_entry.empty()) std::this_thread::sleep_for(20ms);
    }
    REQUIRE_MESSAGE(!killed_entry.empty(), "w2 never got to write a video");
    w2.kill(SIGKILL);
    const auto killed_at = std::chrono::system_clock::now();
    CHECK(w1.wait_for(120s) == std::optional<int>(0));
    CHECK(w3.wait_for(120s) == std::optional<int>(0));

    CHECK(redis.pending("jobs") == 0);  // every entry acknowledged
    CHECK(redis.records("jobs:dead").empty());
    const auto results = redis.records("jobs:results");
    CHECK(results.size() == 30);  // one record per input: none lost, none twice
    std::set<std::string> inputs;
    for (const auto& [id, fields] : results) {
        CAPTURE(id);
        CHECK(fields.at("status") == "done");
        CHECK(fields.at("delivered") == "25");
        inputs.insert(fields.at("input"));
        if (fields.at("entry") == killed_entry) {
            CHECK(fields.at("worker") != "w2");
            CHECK(fields.at("tries") == "2");  // claimed from the dead worker: its second delivery
            const auto done_ms = std::stoll(id.substr(0, id.find('-')));
            const auto killed_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(killed_at.time_since_epoch()).count();
            MESSAGE("the killed worker's input was finished by " << fields.at("worker") << ", "
                                                                 << (done_ms - killed_ms) << " ms after the kill");
        }
    }
    CHECK(inputs == std::set<std::string>(videos.begin(), videos.end()));
    // Complete outputs, one per input, nothing left under a temporary name (the retry wrote the same names).
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(dir / "out")) {
        CAPTURE(entry.path().string());
        CHECK(entry.path().string().find(".part.") == std::string::npos);
        CHECK(ffprobe_frame_count(entry.path().string()) == 25);
        ++files;
    }
    CHECK(files == 30);
    CHECK(fs::exists(fs::path(dir / "out") / (fs::path(killed_input).stem().string() + ".mp4")));
}

TEST_CASE("worker: a poison input goes to the dead letters with its error after its tries; the others are done") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << "stages:\n  - { type: resize, width: 80 }\n"
                                     "  - { type: write_video, path: 'out/{input}.mp4' }\n";
    std::vector<std::string> inputs = make_videos(dir, 5, 10);
    std::ofstream(dir / "poison.mp4") << "not a video at all";
    inputs.insert(inputs.begin() + 2, dir / "poison.mp4");
    submit(dir, redis, inputs);
    Process w1(worker_command(redis, "w1", "--tries 2"), dir.path());
    Process w2(worker_command(redis, "w2", "--tries 2"), dir.path());
    CHECK(w1.wait_for(120s) == std::optional<int>(0));
    CHECK(w2.wait_for(120s) == std::optional<int>(0));
    const auto dead = redis.records("jobs:dead");
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].second.at("input") == dir / "poison.mp4");
    CHECK(dead[0].second.at("tries") == "2");
    CHECK(dead[0].second.at("error").find("not a video FFmpeg can read") != std::string::npos);
    const auto results = redis.records("jobs:results");
    CHECK(results.size() == 5);
    for (const auto& [id, fields] : results) CHECK(fields.at("status") == "done");
    CHECK(redis.pending("jobs") == 0);
}

TEST_CASE("worker: SIGTERM lets the current input finish and be acknowledged, then the worker exits 0") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 2, 50);  // 2 s each, played at their own rate
    submit(dir, redis, videos);
    Process w1(fmt::format("'{}' worker p.yaml --queue {} --consumer w1 2>w1.log", FRAMEPIPE_BINARY, redis.url("jobs")),
               dir.path());
    const auto until = std::chrono::steady_clock::now() + 60s;  // a safety bound, not a measure
    while (redis.pending_of("w1").empty() && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(20ms);
    w1.kill(SIGTERM, false);
    CHECK(w1.wait_for(60s) == std::optional<int>(0));
    const auto results = redis.records("jobs:results");
    REQUIRE(results.size() == 1);  // the one it had begun, and no other
    CHECK(results[0].second.at("input") == videos[0]);
    CHECK(ffprobe_frame_count((fs::path(dir / "out") / "v00.mp4").string()) == 50);
    CHECK(redis.pending("jobs") == 0);
}

TEST_CASE("worker: a second SIGTERM stops the current input and hands it back: the next worker takes it at once, "
          "whatever its claim time") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 1, 100);  // 4 s at its own rate
    submit(dir, redis, videos);
    Process w1(worker_command(redis, "w1", {}, "1h"), dir.path());
    REQUIRE(eventually([&] { return fs::exists(dir.path() / "out" / "v00.part.mp4"); }, 60s));
    w1.kill(SIGTERM, false);
    std::this_thread::sleep_for(100ms);
    w1.kill(SIGTERM, false);
    CHECK(w1.wait_for(60s) == std::optional<int>(1));
    CHECK(redis.records("jobs:results").empty());
    CHECK(redis.pending("jobs") == 1);
    CHECK(slurp(dir / "w1.log").find("the next worker takes it") != std::string::npos);
    Process w2(worker_command(redis, "w2", {}, "1h"), dir.path());  // a claim time of an hour: it takes the entry only because it was handed back
    CHECK(w2.wait_for(60s) == std::optional<int>(0));
    const auto results = redis.records("jobs:results");
    REQUIRE(results.size() == 1);
    CHECK(results[0].second.at("worker") == "w2");
    CHECK(results[0].second.at("tries") == "2");
    CHECK(ffprobe_frame_count((fs::path(dir / "out") / "v00.mp4").string()) == 100);
}

TEST_CASE("worker: Redis restarted while a worker runs an input: the worker waits for it, records that input once it "
          "is back, and goes on with the rest; every input is recorded exactly once") {
    TempDir dir;
    RedisServer redis(dir, true);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 4);
    submit(dir, redis, videos);
    Process w1(worker_command(redis, "w1", "--metrics-file w1.prom"), dir.path());
    // Redis goes away while w1 is writing its first video, for longer than that video lasts.
    REQUIRE(eventually([&] { return fs::exists(dir.path() / "out" / "v00.part.mp4"); }, 60s));
    redis.stop();
    // finished while Redis was away: it cannot be recorded yet; the worker retries meanwhile
    REQUIRE(eventually([&] { return fs::exists(dir.path() / "out" / "v00.mp4"); }, 60s));
    std::this_thread::sleep_for(1500ms);
    CHECK(w1.running());
    redis.start();
    REQUIRE(w1.wait_for(120s) == std::optional<int>(0));

    CHECK(redis.pending("jobs") == 0);
    const auto results = redis.records("jobs:results");
    std::multiset<std::string> inputs;
    for (const auto& [id, fields] : results) {
        CHECK(fields.at("status") == "done");
        inputs.insert(fields.at("input"));
    }
    CHECK(inputs == std::multiset<std::string>(videos.begin(), videos.end()));  // each once
    const std::string log = slurp(dir / "w1.log");
    CHECK(log.find("lost the queue") != std::string::npos);
    CHECK(log.find("is back") != std::string::npos);
    CHECK(slurp(dir / "w1.prom").find("framepipe_worker_queue_up{") != std::string::npos);
}

TEST_CASE("worker: Redis restarted without its data while a worker runs an input: that input is recorded anyway, "
          "marked lost_by_redis, and the worker goes on") {
    TempDir dir;
    RedisServer redis(dir);  // nothing saved: a restart loses the stream and the group
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 2);
    submit(dir, redis, videos);
    Process w1(worker_command(redis, "w1"), dir.path());
    REQUIRE(eventually([&] { return fs::exists(dir.path() / "out" / "v00.part.mp4"); }, 60s));
    redis.stop();
    redis.start();
    REQUIRE(w1.wait_for(120s) == std::optional<int>(0));
    const auto results = redis.records("jobs:results");
    REQUIRE(results.size() == 1);  // v01 was lost with Redis before anyone took it
    CHECK(results[0].second.at("input") == videos[0]);
    CHECK(results[0].second.at("lost_by_redis") == "1");
    CHECK(ffprobe_frame_count((fs::path(dir / "out") / "v00.mp4").string()) == 25);
    CHECK(slurp(dir / "w1.log").find("Redis no longer had entry") != std::string::npos);
}

TEST_CASE("worker: a live worker keeps its entry: another worker with a claim time shorter than the video does not "
          "take it") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 1, 100);  // 4 s at its own rate
    submit(dir, redis, videos);
    Process w1(worker_command(redis, "w1"), dir.path());  // --claim-after 1s: it keeps its entry every 333 ms
    REQUIRE(eventually([&] { return !redis.pending_of("w1").empty(); }, 60s));
    // w2 claims entries idle for 2 s: w1 keeps its entry every 333 ms, so it never is (1.7 s of slack for a busy machine)
    Process w2(worker_command(redis, "w2", {}, "2s"), dir.path());
    CHECK(w1.wait_for(120s) == std::optional<int>(0));
    CHECK(w2.wait_for(120s) == std::optional<int>(0));
    const auto results = redis.records("jobs:results");
    REQUIRE(results.size() == 1);
    CHECK(results[0].second.at("worker") == "w1");
    CHECK(results[0].second.at("tries") == "1");
    CHECK(slurp(dir / "w2.log").find("v00.mp4") == std::string::npos);  // w2 never ran it
}

TEST_CASE("worker: an entry finished by two workers (a slow one and the one that claimed it) is recorded once") {
    TempDir dir;
    RedisServer redis(dir);
    std::ofstream(dir / "p.yaml") << kPipeline;
    const std::vector<std::string> videos = make_videos(dir, 1, 150);  // 6 s at its own rate
    submit(dir, redis, videos);
    // w1 takes it; w2, with a claim time shorter than the video, claims it while w1 is still at work. Both finish it.
    Process w1(worker_command(redis, "w1", {}, "1h"), dir.path());
    REQUIRE(eventually([&] { return !redis.pending_of("w1").empty(); }, 60s));
    Process w2(worker_command(redis, "w2", {}, "500ms"), dir.path());
    CHECK(w1.wait_for(120s) == std::optional<int>(0));
    CHECK(w2.wait_for(120s) == std::optional<int>(0));
    const auto results = redis.records("jobs:results");
    REQUIRE(results.size() == 1);
    CHECK(redis.pending("jobs") == 0);
    const std::string logs = slurp(dir / "w1.log") + slurp(dir / "w2.log");
    CHECK(logs.find("had been recorded already") != std::string::npos);
    CHECK(logs.find("another process is writing") != std::string::npos);  // each its own .part file
    CHECK(ffprobe_frame_count((fs::path(dir / "out") / "v00.mp4").string()) == 150);  // and the output whole
    CHECK_FALSE(fs::exists(fs::path(dir / "out") / "v00.part.mp4"));
    CHECK_FALSE(fs::exists(fs::path(dir / "out") / "v00.part-2.mp4"));
}

TEST_CASE("worker: a bad queue URL is exit 2, an unreachable server exit 1, and neither prints the password") {
    TempDir dir;
    std::ofstream(dir / "p.yaml") << "stages:\n  - { type: null }\n";
    const CommandResult bad = run_framepipe("worker p.yaml --queue http://:secret@127.0.0.1/jobs", dir);
    CHECK(bad.code == 2);
    CHECK(bad.err.find("redis://HOST") != std::string::npos);
    CHECK(bad.err.find("secret") == std::string::npos);
    const CommandResult unreachable = run_framepipe(
        fmt::format("worker p.yaml --queue redis://:secret@127.0.0.1:{}/jobs", free_port()), dir);
    CHECK(unreachable.code == 1);
    CHECK(unreachable.err.find("cannot connect") != std::string::npos);
    CHECK(unreachable.err.find("secret") == std::string::npos);
    const CommandResult no_stream = run_framepipe("submit --queue redis://127.0.0.1:6379 a.mp4", dir);
    CHECK(no_stream.code == 2);
}
