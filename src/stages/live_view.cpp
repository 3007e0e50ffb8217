// live_view: shows the frames passing this point of the chain over HTTP (MJPEG stream, snapshot) together with the
// run's live statistics (JSON, Prometheus) and each stream's status (state, frames/s, latency, drops, and a "signal
// lost" picture while it has none); see src/live/live_view_server.hpp for the routes. Frames are encoded only
// while someone watches, at most max_fps a second, and handed over without ever waiting for a viewer: the stage costs
// nothing when nobody looks and never slows the pipeline when someone looks slowly. A listen address off loopback is
// refused at construction (ConfigError, exit 2) unless a token is set (option, or FRAMEPIPE_LIVE_TOKEN).
//
// hls: the playlist a stream_out stage of the same pipeline writes from the packets ({input} as in stream_out's to:);
// the server serves it and its segments under /hls/ and the page shows that video beside the MJPEG picture. The stage
// itself reads nothing of it: the server reads the files when asked.
#include "../live/live_view_server.hpp"
#include "../media/jpeg_encode.hpp"
#include "stage_support.hpp"
#include "template_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/frame.hpp>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>

namespace framepipe::stages {
namespace {

constexpr const char* kTokenVariable = "FRAMEPIPE_LIVE_TOKEN";

/// "host:port", "port" or ":port" (host 127.0.0.1). Throws ConfigError.
live::LiveViewServer::Settings parse_listen(const std::string& text) {
    live::LiveViewServer::Settings s;
    const auto colon = text.rfind(':');
    const std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
    const std::string port = colon == std::string::npos ? text : text.substr(colon + 1);
    int value = -1;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 0 || value > 65535)
        throw ConfigError(fmt::format("live_view: listen '{}' is not host:port (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 "
                                      "to let other machines watch)",
                                      text));
    if (!host.empty()) s.host = host;
    s.port = value;
    return s;
}

/// Throws ConfigError unless `hls` (the option's template) names a playlist file: a path ending in .m3u8.
void check_hls(const std::string& hls) {
    if (hls == "-" || hls.find("://") != std::string::npos)
        throw ConfigError(fmt::format("live_view: hls '{}' is not a file: give the path of the playlist a stream_out "
                                      "stage of this pipeline writes (the same as its to:, e.g. live/{{input}}.m3u8)",
                                      hls));
    validate_template(hls, "hls");
    Frame probe;
    const std::filesystem::path playlist(render_template(hls, {"input", probe, 0, true}));
    if (playlist.extension() != ".m3u8" || playlist.filename().string().starts_with('.'))
        throw ConfigError(fmt::format("live_view: hls '{}' does not name an HLS playlist: end it in .m3u8 (and do not "
                                      "start the file name with '.'), the same path as the to: of a stream_out stage "
                                      "from: packets, e.g. hls: live/{{input}}.m3u8",
                                      hls));
}

class LiveView final : public Stage {
public:
    LiveView(const std::string& name, const OptionValues& o)
        : Stage({.name = name, .needs_ordered_input = true, .read_only = true}),
          settings_(parse_listen(o.text("listen"))),
          stream_name_(o.has("stream") ? o.text("stream") : ""),
          hls_(o.has("hls") ? o.text("hls") : ""),
          max_fps_(o.number("max_fps")),
          width_(static_cast<int>(o.integer("width"))),
          quality_(static_cast<int>(o.integer("quality"))) {
        settings_.write_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("write_timeout"));
        settings_.request_timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(o.duration("request_timeout"));
        settings_.max_viewers = static_cast<int>(o.integer("max_viewers"));
        settings_.max_per_client = static_cast<int>(o.integer("max_per_client"));
        settings_.max_connections = std::max(settings_.max_connections, settings_.max_viewers * 2);
        if (o.has("token") && !o.text("token").empty()) {
            settings_.token = o.text("token");
            settings_.token_origin = "the stage's token option";
        } else if (const char* token = std::getenv(kTokenVariable); token != nullptr && *token != '\0') {
            settings_.token = token;
            settings_.token_origin = kTokenVariable;
        }
        live::LiveViewServer::check(settings_);  // off loopback without a token: refused before anything starts
        if (!hls_.empty()) check_hls(hls_);
    }

    void open(const StageContext& context) override {
        clock_ = context.clock != nullptr ? context.clock : &default_clock();
        server_ = live::LiveViewServer::acquire(settings_, context.live_report);
        std::string playlist;
        if (!hls_.empty()) {
            Frame probe;
            playlist = render_template(hls_, {context.source.name, probe, 0, true, context.clock});
        }
        activity_ = std::make_shared<live::StreamActivity>(context.source_index, context.source.name, *clock_,
                                                          clock_->now());
        stream_ = server_->add_stream(stream_name_.empty() ? stem_of(context.source.name) : stream_name_, playlist,
                                      activity_);
        if (max_fps_ > 0)
            interval_ = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / max_fps_));
    }

    Outcome process(Frame& frame) override {
        cv::Size shown = frame.image.size();  // the size of the pictures viewers get
        if (width_ > 0 && shown.width > 0) shown = {width_, std::max(1, shown.height * width_ / shown.width)};
        activity_->frame_seen(frame.capture_time, shown);
        if (!stream_->wanted()) return Outcome::pass;
        require_pixels(frame, "live_view");
        const TimePoint now = clock_->now();
        if (published_any_ && now - last_published_ < interval_) return Outcome::pass;
        const cv::Mat& picture = scaled_to_width(frame.image, width_, scaled_);
        if (!media::encode_jpeg(picture, quality_, jpeg_)) throw BadFrame("live_view: JPEG encoding failed");
        stream_->publish(std::string(jpeg_.begin(), jpeg_.end()));
        last_published_ = now;
        published_any_ = true;
        return Outcome::pass;
    }

    void close() override {
        if (server_ && stream_) server_->remove_stream(stream_);
        stream_.reset();
        server_.reset();  // the last stage to close stops the server
    }

private:
    live::LiveViewServer::Settings settings_;
    std::string stream_name_;
    std::string hls_;
    double max_fps_;
    int width_;
    int quality_;
    const Clock* clock_ = nullptr;
    std::shared_ptr<live::LiveViewServer> server_;
    std::shared_ptr<live::LatestPicture> stream_;
    std::shared_ptr<live::StreamActivity> activity_;  // the frames reaching this stage, for the stream's status
    Duration interval_{};
    TimePoint last_published_{};
    bool published_any_ = false;
    cv::Mat scaled_;
    std::vector<uchar> jpeg_;
};

// The declarations of this file's stage types (listed after the earlier families).
const bool live_view_declared = [] {
    using K = OptionKind;
    (void)declare_stage(
        {"live_view", "Serve the frames passing here as MJPEG and snapshots (a 'signal lost' picture while there are "
                      "none), each stream's status (state, frames/s, latency, drops), and live stats as JSON and "
                      "Prometheus",
         "- { type: live_view, listen: 127.0.0.1:8080, hls: \"live/{input}.m3u8\" }", {.needs_ordered_input = true},
         {{"listen", K::text, "127.0.0.1:8080",
           "Address to serve on (host:port); off loopback (0.0.0.0: other machines) a token is required"},
          {"stream", K::text, "", "Name of this input's stream (default: the input's name)"},
          {"hls", K::text, "",
           "HLS playlist (.m3u8) a stream_out stage from: packets writes (same path as its to:, {input} allowed): "
           "served under /hls/ and shown on the page beside the MJPEG picture, the camera's own H.264"},
          {"max_fps", K::number, "15", "Most pictures a second sent to viewers (0 = every frame)", 0, 1000},
          {"width", K::integer, "0", "Width of the pictures (height follows); 0 keeps the frame's size", 0, 8192},
          {"quality", K::integer, "80", "JPEG quality", 1, 100},
          {"write_timeout", K::duration, "2s",
           "An answer, or one picture of a stream, not taken within this is cut (the viewer disconnected)", 0.1, 60},
          {"request_timeout", K::duration, "5s",
           "A request (line and headers) must arrive whole within this of connecting, however it trickles in", 0.05,
           60},
          {"max_viewers", K::integer, "16", "Most viewers at once; more get 503 (other pages are still served)", 1,
           256},
          {"max_per_client", K::integer, "8", "Most connections at once from one address; more get 429", 1, 1024},
          {"token", K::text, "",
           "Secret every request must carry (?token=, Authorization: Bearer, or basic auth password); needed off "
           "loopback. Prefer the FRAMEPIPE_LIVE_TOKEN environment variable, which keeps it out of pipeline files"}},
         factory_of<LiveView>(), 600});
    return true;
}();

}  // namespace
}  // namespace framepipe::stages
