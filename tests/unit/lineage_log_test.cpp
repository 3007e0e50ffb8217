// LineageLog: records from many threads at once all written or counted as not kept, never waited for; a full ring
// loses records only by counting them.
#include "engine/lineage_log.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace framepipe;
using namespace framepipe::detail;

namespace {

struct TempFile {
    std::string path = (std::filesystem::temp_directory_path() /
                        ("framepipe-lineage-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".jsonl"))
                           .string();
    ~TempFile() { std::filesystem::remove(path); }
    static inline int counter = 0;
};

std::size_t lines_in(const std::string& path) {
    std::ifstream in(path);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
}

}  // namespace

TEST_CASE("lineage log: records added from several threads at once are each written once or counted as not kept") {
    for (const std::size_t capacity : {std::size_t{2}, std::size_t{4096}}) {
        CAPTURE(capacity);
        TempFile file;
        LineageLog log(file.path, capacity);
        log.start({{.source = "cam", .stages = {"a", "b"}, .main_sink = 1}}, TimePoint{});
        constexpr int kThreads = 4, kEach = 5000;
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&log, t] {
                Frame frame;
                FrameLineage lineage{.kind = FrameLineage::Kind::captured};
                lineage.fates[0] = lineage.fates[1] = FrameFate::passed;
                for (int i = 0; i < kEach; ++i) {
                    frame.sequence = static_cast<std::uint64_t>(t * kEach + i);
                    log.add(0, frame, &lineage);
                }
            });
        for (auto& thread : threads) thread.join();
        const LineageLog::Totals totals = log.finish();
        CHECK(totals.error.empty());
        CHECK(totals.written + totals.not_kept == kThreads * kEach);
        CHECK(lines_in(file.path) == totals.written);
        if (capacity == 2) CHECK(totals.not_kept > 0);  // a two-record ring cannot keep up with four threads
    }
}

TEST_CASE("lineage log: a record added after finish() is counted as not kept") {
    TempFile file;
    LineageLog log(file.path, 8);
    log.start({{.source = "cam", .stages = {"a"}}}, TimePoint{});
    Frame frame;
    FrameLineage lineage{.kind = FrameLineage::Kind::captured};
    log.add(0, frame, &lineage);
    (void)log.finish();
    log.add(0, frame, &lineage);
    const LineageLog::Totals totals = log.finish();
    CHECK(totals.written == 1);
    CHECK(totals.not_kept == 1);
    CHECK(lines_in(file.path) == 1);
}
