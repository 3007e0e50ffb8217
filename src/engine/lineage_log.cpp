#include "lineage_log.hpp"

#include "../report/text_escape.hpp"

#include <framepipe/error.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>

namespace framepipe::detail {
namespace {

constexpr std::size_t kFlushAt = 1 << 16;  // bytes formatted before they are written out
constexpr auto kIdle = std::chrono::milliseconds(10);     // the writer's sleep when the ring is empty
constexpr const char* kCsvHeader =
    "source,input,frame,copy,capture_ms,media_ms,end,end_at,stage,queued_ms,start_ms,end_ms,fate\r\n";

bool ends_with_csv(std::string_view path) {
    if (path.size() < 4) return false;
    std::string tail(path.substr(path.size() - 4));
    std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char c) { return std::tolower(c); });
    return tail == ".csv";
}

std::size_t ring_size(std::size_t capacity) {
    std::size_t size = 2;
    while (size < capacity) size *= 2;
    return size;
}

bool stops_the_frame(FrameFate fate) {
    return fate != FrameFate::passed && fate != FrameFate::copied && fate != FrameFate::before_copy;
}

}  // namespace

LineageLog::LineageLog(std::string path, std::size_t capacity)
    : path_(std::move(path)), csv_(ends_with_csv(path_)) {
    file_ = std::fopen(path_.c_str(), "w");
    if (file_ == nullptr)
        throw ConfigError(fmt::format("cannot write the frames file '{}': {}; choose a path in a folder that exists "
                                      "and that you may write to",
                                      displayable_name(path_), std::strerror(errno)));
    const std::size_t size = ring_size(capacity);
    cells_ = std::make_unique<Cell[]>(size);
    for (std::size_t i = 0; i < size; ++i) cells_[i].turn.store(i, std::memory_order_relaxed);
    mask_ = size - 1;
}

LineageLog::~LineageLog() { (void)finish(); }

void LineageLog::start(std::vector<ChainNames> chains, TimePoint origin) {
    chains_ = std::move(chains);
    origin_ = origin;
    if (csv_ && std::fputs(kCsvHeader, file_) < 0) error_ = std::strerror(errno);
    accepting_.store(true);
    writer_ = std::thread([this] { write_loop(); });
}

void LineageLog::add(std::uint32_t source, const Frame& frame, const FrameLineage* lineage) noexcept {
    if (!accepting_.load(std::memory_order_relaxed)) {
        not_kept_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::size_t position = tail_.load(std::memory_order_relaxed);
    Cell* cell = nullptr;
    for (;;) {
        cell = &cells_[position & mask_];
        const std::size_t turn = cell->turn.load(std::memory_order_acquire);
        if (turn == position) {
            if (tail_.compare_exchange_weak(position, position + 1, std::memory_order_relaxed)) break;
        } else if (turn < position) {  // the writer has not emptied it yet: the ring is full
            not_kept_.fetch_add(1, std::memory_order_relaxed);
            return;
        } else {
            position = tail_.load(std::memory_order_relaxed);
        }
    }
    Record& r = cell->record;
    r.source = source;
    r.kind = lineage != nullptr ? lineage->kind : FrameLineage::Kind::unused;
    r.sequence = frame.sequence;
    r.capture = frame.capture_time;
    r.media_time = frame.media_time;
    r.spans = frame.spans;
    if (lineage != nullptr)
        r.fates = lineage->fates;
    else
        r.fates.fill(FrameFate::none);
    cell->turn.store(position + 1, std::memory_order_release);
}

bool LineageLog::drain(std::string& out) {
    bool any = false;
    for (;;) {
        Cell& cell = cells_[head_ & mask_];
        if (cell.turn.load(std::memory_order_acquire) != head_ + 1) return any;
        format(cell.record, out);
        cell.turn.store(head_ + mask_ + 1, std::memory_order_release);
        ++head_;
        ++written_;
        any = true;
        if (out.size() >= kFlushAt) flush(out);
    }
}

void LineageLog::flush(std::string& out) noexcept {
    if (out.empty()) return;
    if (file_ != nullptr && error_.empty() && std::fwrite(out.data(), 1, out.size(), file_) != out.size())
        error_ = std::strerror(errno);
    out.clear();
}

void LineageLog::write_loop() noexcept {
    std::string out;
    try {
        out.reserve(2 * kFlushAt);
        for (;;) {
            bool stopping = false;
            {
                std::unique_lock lock(mutex_);
                stopping = stopping_;
            }
            drain(out);
            flush(out);
            if (file_ != nullptr && error_.empty() && std::fflush(file_) != 0) error_ = std::strerror(errno);
            if (stopping) return;  // drained after finish() asked: everything added before it is written
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, kIdle, [this] { return stopping_; });
        }
    } catch (const std::exception& e) {  // formatting ran out of memory: the rest is counted as not kept
        error_ = e.what();
    }
}

void LineageLog::format(const Record& r, std::string& out) const {
    const ChainNames& chain = chains_.at(r.source);
    const std::size_t stages = std::min(chain.stages.size(), kMaxStagesPerLane);
    const auto ms = [this](TimePoint t) { return in_ms(t - origin_); };
    const auto reached = [&](std::size_t s) {
        return r.fates[s] != FrameFate::before_copy &&
               (r.fates[s] != FrameFate::none || r.spans[s].queued != TimePoint{} || r.spans[s].started != TimePoint{});
    };
    // How it ended: delivered by the main branch, else the first stage (in chain order) where it stopped, else where it
    // went on as a copy, else where its last branch ended.
    std::string_view end = r.kind == FrameLineage::Kind::unused ? "dropped_at_capture" : "unfinished";
    std::string_view end_at;
    if (chain.main_sink < stages && r.fates[chain.main_sink] == FrameFate::passed) {
        end = "delivered";
        end_at = chain.stages[chain.main_sink];
    } else {
        std::size_t copied = stages, last = stages;
        for (std::size_t s = 0; s < stages && end_at.empty(); ++s) {
            if (!reached(s)) continue;
            last = s;
            if (r.fates[s] == FrameFate::copied && copied == stages) copied = s;
            if (stops_the_frame(r.fates[s])) end = to_string(r.fates[s]), end_at = chain.stages[s];
        }
        if (end_at.empty() && copied < stages) end = "copied", end_at = chain.stages[copied];
        else if (end_at.empty() && last < stages) end = "passed", end_at = chain.stages[last];
    }
    const bool copy = r.kind == FrameLineage::Kind::copy;
    const std::string source = csv_ ? csv_field(chain.source) : json_quoted(chain.source);
    auto to = std::back_inserter(out);
    if (csv_) {
        const std::string at = csv_field(end_at);
        const auto time = [&](TimePoint t) { return t == TimePoint{} ? std::string() : fmt::format("{:.3f}", ms(t)); };
        bool any = false;
        for (std::size_t s = 0; s < stages; ++s) {
            if (!reached(s)) continue;
            any = true;
            fmt::format_to(to, "{},{},{},{},{:.3f},{:.3f},{},{},{},{},{},{},{}\r\n", source, r.source, r.sequence,
                           copy ? 1 : 0, ms(r.capture), in_ms(r.media_time), end, at, csv_field(chain.stages[s]),
                           time(r.spans[s].queued), time(r.spans[s].started), time(r.spans[s].finished),
                           to_string(r.fates[s]));
        }
        if (!any)
            fmt::format_to(to, "{},{},{},{},{:.3f},{:.3f},{},{},,,,,\r\n", source, r.source, r.sequence, copy ? 1 : 0,
                           ms(r.capture), in_ms(r.media_time), end, at);
        return;
    }
    const auto time = [&](TimePoint t) { return t == TimePoint{} ? std::string("null") : fmt::format("{:.3f}", ms(t)); };
    fmt::format_to(to, R"({{"source": {}, "input": {}, "frame": {}, )", source, r.source, r.sequence);
    if (copy) out += R"("copy": true, )";
    fmt::format_to(to, R"("capture_ms": {:.3f}, "media_ms": {:.3f}, "end": "{}", "end_at": {}, "stages": [)",
                   ms(r.capture), in_ms(r.media_time), end, end_at.empty() ? "null" : json_quoted(end_at));
    bool first = true;
    for (std::size_t s = 0; s < stages; ++s) {
        if (!reached(s)) continue;
        fmt::format_to(to, R"({}{{"stage": {}, "queued_ms": {}, "start_ms": {}, "end_ms": {}, "fate": "{}"}})",
                       first ? "" : ", ", json_quoted(chain.stages[s]), time(r.spans[s].queued),
                       time(r.spans[s].started), time(r.spans[s].finished), to_string(r.fates[s]));
        first = false;
    }
    out += "]}\n";
}

LineageLog::Totals LineageLog::finish() noexcept {
    accepting_.store(false);
    if (writer_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        writer_.join();
    }
    if (file_ != nullptr) {
        try {  // records added while the writer stopped
            std::string out;
            drain(out);
            flush(out);
        } catch (const std::exception& e) {
            if (error_.empty()) error_ = e.what();
        }
        if (std::fclose(file_) != 0 && error_.empty()) error_ = std::strerror(errno);
        file_ = nullptr;
    }
    // Records still in the ring (formatting failed) were not kept either.
    const std::uint64_t left = tail_.load() - head_;
    return {written_, not_kept_.load() + left, error_};
}

}  // namespace framepipe::detail
