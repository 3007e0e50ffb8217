// The run report as a page a person would rather look at than read: the verdict, latency over time, where each
// frame's time goes per stage, throughput, edge depths and stage load over time, and the tables. Inline SVG only.
#include "html_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

namespace framepipe {
namespace {

const char* const kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
const char* color(std::size_t i) { return kPalette[i % std::size(kPalette)]; }

// A "nice" upper bound and step for an axis.
std::pair<double, double> nice_axis(double max) {
    if (max <= 0) return {1, 0.25};
    const double magnitude = std::pow(10.0, std::floor(std::log10(max)));
    for (double step : {0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0}) {
        const double s = step * magnitude;
        if (max / s <= 5) return {std::ceil(max / s) * s, s};
    }
    return {max, max / 4};
}

struct Series {
    std::string label;
    std::string color;
    std::vector<std::pair<double, double>> points;
    bool dashed = false;
};

std::string line_chart(const std::string& title, const std::string& y_unit, const std::vector<Series>& series,
                       double y_floor_max = 0) {
    const int w = 820, h = 250, left = 60, right = 170, top = 30, bottom = 36;
    double x_max = 0, y_max = y_floor_max;
    for (const Series& s : series)
        for (auto [x, y] : s.points) x_max = std::max(x_max, x), y_max = std::max(y_max, y);
    const auto [y_top, y_step] = nice_axis(y_max);
    const auto [x_top, x_step] = nice_axis(x_max);
    const auto px = [&, x_top = x_top](double x) { return left + (w - left - right) * (x_top > 0 ? x / x_top : 0); };
    const auto py = [&, y_top = y_top](double y) {
        return h - bottom - (h - top - bottom) * (y_top > 0 ? y / y_top : 0);
    };
    std::string svg = fmt::format(R"(<svg width="{}" height="{}" viewBox="0 0 {} {}" role="img"><text x="{}" y="18" class="title">{}</text>)",
                                  w, h, w, h, left, html_escaped(title));
    for (double y = 0; y <= y_top + 1e-9; y += y_step)
        svg += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" class="grid"/><text x="{}" y="{:.1f}" class="tick" text-anchor="end">{:g}</text>)",
                           left, w - right, py(y), py(y), left - 6, py(y) + 4, y);
    for (double x = 0; x <= x_top + 1e-9; x += x_step)
        svg += fmt::format(R"(<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{:g}</text>)", px(x), h - bottom + 16, x);
    svg += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="middle">seconds</text><text x="14" y="{}" class="tick" transform='rotate(-90 14 {})' text-anchor="middle">{}</text>)",
                       (left + w - right) / 2, h - 4, (top + h - bottom) / 2, (top + h - bottom) / 2, html_escaped(y_unit));
    for (std::size_t i = 0; i < series.size(); ++i) {
        const Series& s = series[i];
        if (s.points.empty()) continue;
        std::string path;
        for (auto [x, y] : s.points) path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px(x), py(y));
        svg += fmt::format(R"(<path d="{}" fill="none" stroke="{}" stroke-width="1.8"{}/>)", path, s.color,
                           s.dashed ? R"( stroke-dasharray="5,3")" : "");
        const double ly = top + 14.0 * static_cast<double>(i);
        svg += fmt::format(R"(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="2"{}/><text x="{}" y="{:.1f}" class="legend">{}</text>)",
                           w - right + 10, w - right + 28, ly, ly, s.color, s.dashed ? R"( stroke-dasharray="5,3")" : "",
                           w - right + 32, ly + 4, html_escaped(s.label));
    }
    return svg + "</svg>";
}

// Horizontal bars, one per stage: mean wait in the edge (light) then mean service (dark).
std::string breakdown_chart(const SourceReport& s) {
    const int w = 820, row = 24, left = 150, right = 200, top = 30;
    const int h = top + row * static_cast<int>(s.stages.size()) + 30;
    double total_max = 0;
    for (const StageReport& st : s.stages) total_max = std::max(total_max, in_ms(st.wait.mean) + in_ms(st.service.mean));
    const auto [x_top, x_step] = nice_axis(total_max);
    const auto px = [&, x_top = x_top](double v) { return (w - left - right) * (x_top > 0 ? v / x_top : 0); };
    std::string svg = fmt::format(R"(<svg width="{}" height="{}" viewBox="0 0 {} {}" role="img"><text x="{}" y="18" class="title">{}: where a frame's time goes, per stage (mean ms: waiting in the edge, then processing)</text>)",
                                  w, h, w, h, 10, html_escaped(s.name));
    for (double x = 0; x <= x_top + 1e-9; x += x_step)
        svg += fmt::format(R"(<line x1="{:.1f}" x2="{:.1f}" y1="{}" y2="{}" class="grid"/><text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{:g}</text>)",
                           left + px(x), left + px(x), top - 4, h - 24, left + px(x), h - 10, x);
    for (std::size_t i = 0; i < s.stages.size(); ++i) {
        const StageReport& st = s.stages[i];
        const double y = top + row * static_cast<double>(i);
        const double wait = in_ms(st.wait.mean), service = in_ms(st.service.mean);
        svg += fmt::format(R"(<text x="{}" y="{:.1f}" class="label" text-anchor="end">{}</text>)", left - 8, y + 15, html_escaped(st.name));
        svg += fmt::format(R"(<rect x="{}" y="{:.1f}" width="{:.1f}" height="16" fill="{}" opacity="0.35"><title>wait {:.2f} ms</title></rect>)",
                           left, y + 3, px(wait), color(i), wait);
        svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="16" fill="{}"><title>service {:.2f} ms</title></rect>)",
                           left + px(wait), y + 3, std::max(px(service), 0.5), color(i), service);
        svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tick">{:.2f} + {:.2f} ms, busy {:.0f}%</text>)",
                           left + px(wait + service) + 6, y + 15, wait, service, 100 * st.utilisation);
    }
    return svg + "</svg>";
}

std::string table(const SourceReport& s) {
    std::string out = R"(<table><tr><th>stage</th><th>workers</th><th>processed</th><th>filtered</th><th>rejected</th><th>dropped</th><th>service p50 / p95 / p99 ms</th><th>wait p50 / p95 / p99 ms</th><th>busy</th><th>fps</th></tr>)";
    for (const StageReport& st : s.stages)
        out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f} / {:.2f} / {:.2f}</td><td>{:.2f} / {:.2f} / {:.2f}</td><td>{:.0f}%</td><td>{:.1f}</td></tr>",
                           html_escaped(st.name), st.concurrency, st.processed, st.filtered_total(), st.rejected_total(),
                           st.dropped(), in_ms(st.service.p50), in_ms(st.service.p95), in_ms(st.service.p99),
                           in_ms(st.wait.p50), in_ms(st.wait.p95), in_ms(st.wait.p99), 100 * st.utilisation, st.fps);
    out += R"(</table><table><tr><th>edge</th><th>capacity</th><th>policy</th><th>pushed</th><th>dropped</th><th>peak</th><th>full</th><th>producer blocked</th></tr>)";
    for (const EdgeReport& e : s.edges)
        out += fmt::format("<tr><td>{} &rarr; {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}%</td><td>{:.2f} s</td></tr>",
                           html_escaped(e.from), html_escaped(e.to), e.capacity, to_string(e.overflow), e.pushed, e.dropped(),
                           e.peak_depth, 100 * e.full_share, in_seconds(e.blocked_time));
    out += "</table>";
    const std::vector<FrameLoss> losses = losses_of(s);
    if (!losses.empty()) {
        out += "<ul class=\"losses\">";
        for (const FrameLoss& loss : losses)
            out += fmt::format("<li><b>{} {}</b> at {}: {}</li>", loss.frames,
                               loss.kind == CounterRole::drop     ? "dropped"
                               : loss.kind == CounterRole::filter ? "filtered"
                                                                  : "rejected",
                               html_escaped(loss.where), html_escaped(loss.why));
        out += "</ul>";
    }
    return out;
}

}  // namespace

void write_report_html(const RunReport& report, const std::string& path, const std::string& title) {
    std::string body;
    body += fmt::format("<h1>{}</h1><p class=\"meta\">wall time {:.2f} s &middot; {} worker threads &middot; {}{}</p>",
                        html_escaped(title), in_seconds(report.wall_time), report.threads,
                        report.balanced() ? "every frame accounted for" : "ACCOUNTING DOES NOT ADD UP",
                        report.stopped ? " &middot; stopped on request" : "");
    if (!report.verdict.empty()) {
        std::string verdict = html_escaped(report.verdict);
        for (std::size_t at = 0; (at = verdict.find('\n', at)) != std::string::npos;) verdict.replace(at, 1, "<br>");
        body += fmt::format("<div class=\"verdict\"><b>Verdict.</b> {}</div>", verdict);
    }
    if (report.error) body += fmt::format("<div class=\"error\"><b>Error.</b> {}</div>", html_escaped(report.error->describe()));
    body += "<table><tr><th>input</th><th>kind</th><th>captured</th><th>delivered</th><th>filtered</th><th>rejected</th><th>dropped</th><th>fps</th><th>end-to-end p50 / p95 / p99 / max ms</th></tr>";
    for (const SourceReport& s : report.sources)
        body += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{:.1f} / {:.1f} / {:.1f} / {:.1f}</td></tr>",
                            html_escaped(s.name), s.live ? "live" : "file", s.captured, s.delivered, s.filtered(),
                            s.rejected(), s.dropped(), s.fps(),
                            in_ms(s.end_to_end.p50), in_ms(s.end_to_end.p95), in_ms(s.end_to_end.p99),
                            in_ms(s.end_to_end.max));
    body += "</table>";

    // Latency and throughput over time, every source on one chart.
    std::vector<Series> latency, throughput;
    for (std::size_t i = 0; i < report.sources.size(); ++i) {
        Series p50{report.sources[i].name + " p50", color(i), {}, false};
        Series p99{report.sources[i].name + " p99", color(i), {}, true};
        Series fps{report.sources[i].name, color(i), {}, false};
        double previous_t = 0;
        std::uint64_t previous_delivered = 0;
        for (const TimelineSample& sample : report.timeline) {
            if (i >= sample.sources.size()) continue;
            const TimelineSource& t = sample.sources[i];
            const double seconds = in_seconds(sample.at);
            if (t.end_to_end_p50 > Duration::zero()) {
                p50.points.emplace_back(seconds, in_ms(t.end_to_end_p50));
                p99.points.emplace_back(seconds, in_ms(t.end_to_end_p99));
            }
            if (seconds > previous_t)
                fps.points.emplace_back(seconds, static_cast<double>(t.delivered - previous_delivered) / (seconds - previous_t));
            previous_t = seconds;
            previous_delivered = t.delivered;
        }
        latency.push_back(std::move(p50));
        latency.push_back(std::move(p99));
        throughput.push_back(std::move(fps));
    }
    body += "<h2>Over time</h2>";
    body += line_chart("End-to-end latency: capture to the end of the last stage (p50 solid, p99 dashed)", "ms", latency);
    body += line_chart("Frames delivered per second", "frames/s", throughput);
    for (std::size_t i = 0; i < report.sources.size(); ++i) {
        const SourceReport& s = report.sources[i];
        body += fmt::format("<h2>{}</h2>", html_escaped(s.name));
        body += breakdown_chart(s);
        std::vector<Series> depth, busy;
        for (std::size_t e = 0; e < s.edges.size(); ++e) {
            Series d{s.edges[e].to, color(e), {}, false};
            Series b{s.stages[e].name, color(e), {}, false};
            for (const TimelineSample& sample : report.timeline) {
                if (i >= sample.sources.size() || e >= sample.sources[i].edge_depth.size()) continue;
                const double seconds = in_seconds(sample.at);
                d.points.emplace_back(seconds, sample.sources[i].edge_depth[e]);
                b.points.emplace_back(seconds, 100.0 * sample.sources[i].stage_busy[e]);
            }
            depth.push_back(std::move(d));
            busy.push_back(std::move(b));
        }
        body += line_chart("Frames waiting in the edge into each stage", "frames", depth, 1);
        body += line_chart("Stage load: share of its workers' time spent processing", "%", busy, 100);
        body += table(s);
    }
    const std::string page = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 860px; color: #222; }}
h1 {{ font-size: 22px; margin-bottom: 2px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
.meta {{ color: #666; margin-top: 0; }}
.verdict {{ background: #fff6e0; border-left: 4px solid #f28e2b; padding: 8px 12px; margin: 12px 0; }}
.error {{ background: #fde8e8; border-left: 4px solid #e15759; padding: 8px 12px; margin: 12px 0; }}
table {{ border-collapse: collapse; margin: 12px 0; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #e4e4e4; padding: 3px 9px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
svg {{ display: block; margin: 10px 0; }}
.title {{ font-size: 13px; font-weight: 600; fill: #333; }} .tick {{ font-size: 11px; fill: #666; }}
.label {{ font-size: 12px; fill: #333; }} .legend {{ font-size: 11px; fill: #333; }}
.grid {{ stroke: #eee; }}
</style></head><body>
{}
<p class="meta">Made by framepipe from its run report (framepipe-report/3).</p>
</body></html>
)",
                                         html_escaped(title), body);
    std::ofstream out(path);
    out << page;
    if (!out) throw Error(fmt::format("cannot write '{}'", path));
}

}  // namespace framepipe
