#pragma once
// The contract every stage implements: filters, thumbnailers, encoders, sinks.
//
// Lifecycle:
//   open(context)   once, before any frame; validates options and allocates. Throws ConfigError for a bad option
//                   (the run does not start, exit code 2) or Error for anything else (exit code 1).
//   process(frame)  once per frame. Returns what happens to the frame (Outcome); a fatal failure is an exception.
//   flush(frame)    after the input ended, once per frame the stage held back (Outcome::hold), oldest first.
//   close()         exactly once for every stage whose open() succeeded, after its last process(): flush and
//                   finalise outputs. Called on normal end, on stop and after an error elsewhere in the run.
//
// Threading: a serial stage's process() is never called concurrently (calls may come from different threads, each
// call happening after the previous one returned). A parallel stage's process() may run on several frames at once
// and must be thread-safe. open() and close() never overlap process(). Unless `blocking_io` is set, process() runs
// on a TBB worker thread and must not block on I/O or sleep.
//
// Frame ownership: see frame.hpp. process() may modify the frame freely (pixels, size, type).

#include <framepipe/clock.hpp>
#include <framepipe/frame.hpp>
#include <framepipe/report.hpp>
#include <framepipe/source.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

namespace framepipe {

class Stage;

enum class Outcome {
    pass,           // hand the frame to the next stage (a sink: the frame is delivered)
    drop,           // by design, e.g. decimation: counted as "filtered", the run goes on
    reject,         // this frame is bad, e.g. a corrupt image: counted as "rejected", the run goes on
    end_of_stream,  // this stage wants no more frames: the frame is dropped and the source is stopped
    hold,           // keep this frame for the stage: it comes back through flush() when the input ends (serial stages
                    // with StageTraits::max_held > 0 only; e.g. a decoder's reordering delay)
};

/// Thrown by process() instead of returning Outcome::reject when there is something to say about the bad frame.
/// The engine logs the message with the stage, source and frame number, counts the frame as rejected and goes on.
class BadFrame : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct StageTraits {
    std::string name;                  // shown in reports and errors; unique within a chain
    bool parallel = false;             // process() may run on several frames at once
    bool needs_ordered_input = false;  // frames must arrive in source order (e.g. a video writer)
    bool blocking_io = false;          // process() blocks on disk or network: run it on a dedicated thread
    std::size_t max_concurrency = 0;   // parallel stages: most frames at once; 0 = one per worker thread
    std::size_t max_held = 0;          // serial stages: most frames held back with Outcome::hold at once
    /// process() changes nothing in the frame (pixels, metadata, attachments): a sink, a writer, a viewer. Where a
    /// frame goes to several branches they all share it; a stage that is not read_only gets a copy of its own first
    /// when the frame is still shared (copy on write, counted as `copied`).
    bool read_only = false;
    /// process() never writes into the pixels of the frame's image: it renders its result into Frame::buffer() and
    /// makes that the image with set_image() (resize, blur, colour conversion). Given a frame another branch still
    /// holds, such a stage gets a copy that borrows the pixels instead of copying them.
    bool renders_new_image = false;
};

/// What a stage tells the run about its output and its input's condition, beyond what happened to each frame
/// (Outcome). Shown per stage in the summary, the JSON report, /stats.json and /metrics. Thread-safe: any method may be
/// called from process() of any worker, and from open() and close().
class StageHealth {
public:
    /// Frames the stage took but could not write to its output (a failed write, a full disk, a recording that
    /// stopped). They still pass on to later stages; this counts what the stage's output is missing.
    void count_unwritten(std::uint64_t frames = 1) noexcept { unwritten_.fetch_add(frames, std::memory_order_relaxed); }
    /// Frames passed on with damaged pixels: decoded with errors concealed (a corrupt packet, a missing reference).
    void count_damaged(std::uint64_t frames = 1) noexcept { damaged_.fetch_add(frames, std::memory_order_relaxed); }
    /// The stage's output stopped for good while the run goes on (e.g. a recording on a full disk): `why` says what
    /// stopped, why, and what to do. The first call's reason is kept; later ones are ignored.
    void output_stopped(std::string why);

    [[nodiscard]] std::uint64_t unwritten() const noexcept { return unwritten_.load(std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t damaged() const noexcept { return damaged_.load(std::memory_order_relaxed); }
    /// Empty while the output runs.
    [[nodiscard]] std::string stopped_reason() const;

private:
    std::atomic<std::uint64_t> unwritten_{0};
    std::atomic<std::uint64_t> damaged_{0};
    std::atomic<bool> stopped_{false};
    mutable std::mutex mutex_;
    std::string stopped_reason_;
};

/// Objects the stages of one chain share by name, across its branches, and with the chains of the same camera's other
/// streams (Pipeline::add_stream_of): a motion stage's events for a clip writer on the packet branch (MotionTimeline).
/// get() makes the object on first use; everyone asking for the same name gets the same object, which lives as long as
/// the last chain sharing it. Thread-safe; the objects' own thread-safety is theirs to state.
class ChainBoard {
public:
    /// The object called `name`, made (default-constructed) on first use. Throws std::logic_error when it was made
    /// as another type.
    template <class T>
    std::shared_ptr<T> get(const std::string& name) {
        const std::lock_guard lock(mutex_);
        for (Entry& entry : entries_)
            if (entry.name == name) {
                if (entry.type != &typeid(T))
                    throw std::logic_error("ChainBoard: '" + name + "' was made as another type");
                return std::static_pointer_cast<T>(entry.object);
            }
        auto object = std::make_shared<T>();
        entries_.push_back({name, &typeid(T), object});
        return object;
    }

private:
    struct Entry {
        std::string name;
        const std::type_info* type;
        std::shared_ptr<void> object;
    };
    std::mutex mutex_;
    std::vector<Entry> entries_;
};

/// What a stage learns about its place in the pipeline when it opens.
struct StageContext {
    std::uint32_t source_index = 0;
    SourceInfo source;       // the source feeding this chain
    std::size_t position = 0;  // index of the stage in its chain
    const Clock* clock = nullptr;
    /// The run's counters while it runs (refreshed about once per progress interval); valid from open() to close().
    const LiveReport* live_report = nullptr;
    /// Where the stage reports unwritten and damaged frames and a stopped output. Never null when the engine opens
    /// the stage; valid from open() to close() (a stage may keep the pointer for that long).
    StageHealth* health = nullptr;
    /// Requested when the run is aborted (a second Ctrl-C, an error elsewhere, a drain that timed out): close() and
    /// any long operation must then finish at once, finalising what can be finalised quickly (an encoder writes its
    /// trailer without draining its delayed frames) and counting what is lost that way as unwritten.
    std::stop_token abort;
    /// Shared with the other stages of this chain, on every branch, and of the camera's other streams' chains. Never
    /// null when the engine opens the stage; valid until the stage's close() returns.
    ChainBoard* board = nullptr;
};

class Stage {
public:
    explicit Stage(StageTraits traits) : traits_(std::move(traits)) {}
    virtual ~Stage() = default;
    Stage(const Stage&) = delete;
    Stage& operator=(const Stage&) = delete;

    [[nodiscard]] const StageTraits& traits() const noexcept { return traits_; }

    virtual void open(const StageContext& context) { (void)context; }
    virtual Outcome process(Frame& frame) = 0;
    /// After the last process() of a run that ended normally, called once for each frame this stage held, oldest
    /// first. Fill the frame and return true to pass it on, or return false to drop it (counted as filtered).
    virtual bool flush(Frame& frame) {
        (void)frame;
        return false;
    }
    virtual void close() {}

private:
    StageTraits traits_;
};

}  // namespace framepipe
