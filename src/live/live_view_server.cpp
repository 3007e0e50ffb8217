#include "live_view_server.hpp"

#include "../report/html_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace framepipe::live {
namespace {

constexpr const char* kBoundary = "framepipe";
constexpr std::chrono::milliseconds kViewerPoll{250};      // how often a waiting viewer checks for the server's end
constexpr std::chrono::milliseconds kSnapshotWait{2000};   // how long /snapshot.jpg waits for a fresh picture

std::string url_encoded(const std::string& text) {
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
        else out += fmt::format("%{:02X}", c);
    }
    return out;
}

}  // namespace

struct LiveViewServer::Impl {
    Settings settings;
    std::string address;  // host:port as asked, the registry's key
    httplib::Server server;
    std::thread listener;
    int port = 0;
    std::atomic<const LiveReport*> report{nullptr};
    std::atomic<int> viewers{0};

    mutable std::mutex streams_mutex;
    std::vector<std::shared_ptr<LatestPicture>> streams;

    [[nodiscard]] std::shared_ptr<LatestPicture> find(const httplib::Request& request, httplib::Response& response) const {
        const std::lock_guard lock(streams_mutex);
        if (streams.empty()) {
            response.status = 404;
            response.set_content("no stream: the pipeline has not opened a live_view stage (yet)\n", "text/plain");
            return nullptr;
        }
        if (!request.has_param("name")) return streams.front();
        const std::string name = request.get_param_value("name");
        for (const auto& stream : streams)
            if (stream->name() == name) return stream;
        std::vector<std::string> names;
        for (const auto& stream : streams) names.push_back(stream->name());
        response.status = 404;
        response.set_content(fmt::format("no stream named '{}'; streams: {}\n", name, fmt::join(names, ", ")),
                             "text/plain");
        return nullptr;
    }

    void serve_stream(const httplib::Request& request, httplib::Response& response) {
        const std::shared_ptr<LatestPicture> stream = find(request, response);
        if (!stream) return;
        if (viewers.fetch_add(1) >= settings.max_viewers) {
            viewers.fetch_sub(1);
            response.status = 503;
            response.set_content(fmt::format("too many viewers (at most {})\n", settings.max_viewers), "text/plain");
            return;
        }
        stream->viewer_joined();
        struct Viewer {
            std::uint64_t last = 0;
            bool finished = false;
        };
        auto viewer = std::make_shared<Viewer>();
        response.set_header("Cache-Control", "no-cache, no-store, must-revalidate");
        response.set_header("Pragma", "no-cache");
        response.set_content_provider(
            fmt::format("multipart/x-mixed-replace; boundary={}", kBoundary),
            [stream, viewer](std::size_t, httplib::DataSink& sink) {
                const LatestPicture::Picture picture = stream->wait_newer(viewer->last, kViewerPoll);
                if (!picture.jpeg) {
                    if (stream->closed()) {
                        viewer->finished = true;
                        sink.done();
                    }
                    return true;  // nothing new yet; httplib checks for its own shutdown and calls again
                }
                const std::string head = fmt::format("--{}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                                                     kBoundary, picture.jpeg->size());
                if (!sink.write(head.data(), head.size()) || !sink.write(picture.jpeg->data(), picture.jpeg->size()) ||
                    !sink.write("\r\n", 2))
                    return false;  // the viewer is gone or did not read within the write timeout
                stream->parts_sent(1, viewer->last == 0 ? 0 : picture.number - viewer->last - 1);
                viewer->last = picture.number;
                return true;
            },
            [this, stream, viewer](bool /*success*/) {
                stream->viewer_left(!viewer->finished);
                viewers.fetch_sub(1);
            });
    }

    void serve_snapshot(const httplib::Request& request, httplib::Response& response) const {
        const std::shared_ptr<LatestPicture> stream = find(request, response);
        if (!stream) return;
        LatestPicture::Picture picture = stream->latest();
        if (!stream->closed()) {
            stream->snapshot_waiting(+1);  // the stage encodes its next frame for us
            LatestPicture::Picture fresh = stream->wait_newer(picture.number, kSnapshotWait);
            stream->snapshot_waiting(-1);
            if (fresh.jpeg) picture = std::move(fresh);
        }
        if (!picture.jpeg) {
            response.status = 503;
            response.set_content("no picture yet: no frame has reached the live_view stage\n", "text/plain");
            return;
        }
        response.set_header("Cache-Control", "no-cache, no-store, must-revalidate");
        response.set_content(*picture.jpeg, "image/jpeg");
    }

    [[nodiscard]] std::string metrics() const {
        std::string text;
        if (const LiveReport* live = report.load())
            if (const auto latest = live->latest()) text = report_to_prometheus(*latest);
        const std::lock_guard lock(streams_mutex);
        struct Family {
            const char* name;
            const char* type;
            const char* help;
            double (*value)(const LatestPicture::Counters&);
        };
        static const Family families[] = {
            {"framepipe_live_view_viewers", "gauge", "Viewers connected to the stream now.",
             [](const LatestPicture::Counters& c) { return double(c.viewers); }},
            {"framepipe_live_view_pictures_total", "counter", "Pictures encoded for viewers.",
             [](const LatestPicture::Counters& c) { return double(c.published); }},
            {"framepipe_live_view_parts_sent_total", "counter", "Pictures written to viewers (all viewers).",
             [](const LatestPicture::Counters& c) { return double(c.sent); }},
            {"framepipe_live_view_pictures_skipped_total", "counter", "Pictures viewers skipped: they were not ready.",
             [](const LatestPicture::Counters& c) { return double(c.skipped); }},
            {"framepipe_live_view_viewers_dropped_total", "counter",
             "Viewers disconnected: gone, or not reading within the write timeout.",
             [](const LatestPicture::Counters& c) { return double(c.viewers_dropped); }},
        };
        for (const Family& f : families) {
            text += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
            for (const auto& stream : streams)
                text += fmt::format("{}{{stream=\"{}\"}} {}\n", f.name, prometheus_label_value(stream->name()),
                                    f.value(stream->counters()));
        }
        return text;
    }

    [[nodiscard]] std::string index_page() const {
        std::string cards;
        {
            const std::lock_guard lock(streams_mutex);
            for (const auto& stream : streams) {
                const std::string q = url_encoded(stream->name());
                cards += fmt::format(
                    "<figure><img src=\"/stream.mjpg?name={0}\" alt=\"{1}\"><figcaption>{1} · "
                    "<a href=\"/snapshot.jpg?name={0}\">snapshot</a></figcaption></figure>\n",
                    q, html_escaped(stream->name()));
            }
        }
        if (cards.empty()) cards = "<p>No stream yet.</p>";
        return fmt::format(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>framepipe live view</title><style>"
            "body{{font:14px sans-serif;margin:1em;background:#111;color:#ddd}}a{{color:#8cf}}"
            "figure{{display:inline-block;margin:0 1em 1em 0}}img{{max-width:48vw;background:#000}}</style></head>"
            "<body><h1>framepipe live view</h1>{}<p><a href=\"/stats.json\">stats.json</a> · "
            "<a href=\"/metrics\">metrics</a></p></body></html>\n",
            cards);
    }

    void add_routes() {
        server.Get("/", [this](const httplib::Request&, httplib::Response& r) {
            r.set_content(index_page(), "text/html; charset=utf-8");
        });
        server.Get("/stream.mjpg", [this](const httplib::Request& q, httplib::Response& r) { serve_stream(q, r); });
        server.Get("/snapshot.jpg", [this](const httplib::Request& q, httplib::Response& r) { serve_snapshot(q, r); });
        server.Get("/stats.json", [this](const httplib::Request&, httplib::Response& r) {
            const LiveReport* live = report.load();
            const auto latest = live != nullptr ? live->latest() : nullptr;
            if (!latest) {
                r.status = 503;
                r.set_content("{\"error\": \"the run has not started\"}\n", "application/json");
                return;
            }
            r.set_header("Cache-Control", "no-cache");
            r.set_content(report_to_json(*latest), "application/json");
        });
        server.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
            r.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
        });
    }
};

namespace {
std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<LiveViewServer>>& registry() {
    static std::map<std::string, std::weak_ptr<LiveViewServer>> servers;
    return servers;
}
}  // namespace

std::shared_ptr<LiveViewServer> LiveViewServer::acquire(const Settings& settings, const LiveReport* report) {
    const std::string address = fmt::format("{}:{}", settings.host, settings.port);
    const std::lock_guard lock(registry_mutex);
    std::shared_ptr<LiveViewServer> server;
    if (settings.port != 0) server = registry()[address].lock();
    if (!server) {
        auto impl = std::make_unique<Impl>();
        impl->settings = settings;
        impl->address = address;
        // Each viewer holds a thread for as long as it watches; page, snapshot and metrics requests need a few more.
        const auto threads = static_cast<std::size_t>(settings.max_viewers) + 4;
        impl->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
        const auto timeout = settings.write_timeout;
        impl->server.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
        impl->server.set_keep_alive_timeout(1);
        impl->server.set_read_timeout(2, 0);  // a client that sends its request slowly cannot hold a thread for long
        impl->add_routes();
        if (settings.port == 0) impl->port = impl->server.bind_to_any_port(settings.host);
        else if (impl->server.bind_to_port(settings.host, settings.port)) impl->port = settings.port;
        if (impl->port <= 0)
            throw Error(fmt::format("live view: cannot listen on {} (is another program using the port? choose "
                                    "another with listen: host:port)",
                                    address));
        Impl& started = *impl;
        impl->listener = std::thread([&started] { started.server.listen_after_bind(); });
        while (!impl->server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        server.reset(new LiveViewServer(std::move(impl)));
        if (settings.port != 0) registry()[address] = server;
        spdlog::info("live view: {}", server->url());
    }
    const LiveReport* none = nullptr;
    if (report != nullptr) server->impl_->report.compare_exchange_strong(none, report);
    return server;
}

LiveViewServer::LiveViewServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LiveViewServer::~LiveViewServer() {
    {
        const std::lock_guard lock(impl_->streams_mutex);
        for (const auto& stream : impl_->streams) stream->close();
    }
    impl_->server.stop();
    impl_->listener.join();
}

std::shared_ptr<LatestPicture> LiveViewServer::add_stream(const std::string& name) {
    const std::lock_guard lock(impl_->streams_mutex);
    const std::string base = name.empty() ? "stream" : name;
    std::string unique = base;
    for (int n = 2; std::any_of(impl_->streams.begin(), impl_->streams.end(),
                                [&](const auto& s) { return s->name() == unique; });
         ++n)
        unique = fmt::format("{}-{}", base, n);
    auto stream = std::make_shared<LatestPicture>(unique);
    impl_->streams.push_back(stream);
    return stream;
}

void LiveViewServer::remove_stream(const std::shared_ptr<LatestPicture>& stream) {
    stream->close();
    const std::lock_guard lock(impl_->streams_mutex);
    std::erase(impl_->streams, stream);
}

int LiveViewServer::port() const noexcept { return impl_->port; }
std::string LiveViewServer::url() const { return fmt::format("http://{}:{}/", impl_->settings.host, impl_->port); }

}  // namespace framepipe::live
