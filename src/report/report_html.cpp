// The run report as a page a person would rather look at than read: the verdict, latency over time, where each
// frame's time goes per stage, throughput, edge depths and stage load over time, and the tables. Inline SVG only.
#include "html_text.hpp"
#include "verdict_text.hpp"

#include <framepipe/error.hpp>
#include <framepipe/report_io.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
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

// The page draws at most this many columns over time, whatever the run's length: a 1-hour run's page is as quick to
// open as a 10-second one's. Samples falling in one column are summarised (the worst of them, where that matters).
constexpr std::size_t kColumns = 480;

// Which timeline samples fall in each column: [first, last) per column.
std::vector<std::pair<std::size_t, std::size_t>> columns_of(std::size_t samples) {
    std::vector<std::pair<std::size_t, std::size_t>> columns;
    const std::size_t count = std::min(samples, kColumns);
    for (std::size_t c = 0; c < count; ++c) columns.emplace_back(c * samples / count, (c + 1) * samples / count);
    return columns;
}

// A heat strip: one row per item (an edge, a stage), time along x, each column coloured by the row's level in it
// (0..1: how full the edge was, how busy the stage was), the worst sample of the column. Levels are shown in five
// steps; neighbouring columns of one step are drawn as one rectangle, so the page stays small.
struct StripRow {
    std::string label;
    std::vector<double> level;  // per column, 0..1
};
const char* const kHeat[] = {"#eef2f7", "#fde7b0", "#f9b163", "#ec6b3f", "#b2182b"};
int heat_step(double level) {
    if (level <= 0.001) return 0;
    if (level < 0.34) return 1;
    if (level < 0.67) return 2;
    if (level < 0.999) return 3;
    return 4;
}
std::string heat_strip(const std::string& title, const std::vector<StripRow>& rows, double seconds,
                       const std::array<const char*, 5>& legend) {
    const int w = 820, left = 230, right = 12, top = 30, row_h = 18, legend_h = 34;
    const int h = top + row_h * static_cast<int>(rows.size()) + legend_h;
    const double width = w - left - right;
    std::string svg = fmt::format(R"(<svg width="{}" height="{}" viewBox="0 0 {} {}" role="img"><text x="10" y="18" class="title">{}</text>)",
                                  w, h, w, h, html_escaped(title));
    for (std::size_t r = 0; r < rows.size(); ++r) {
        const StripRow& row = rows[r];
        const double y = top + row_h * static_cast<double>(r);
        svg += fmt::format(R"(<text x="{}" y="{:.1f}" class="label" text-anchor="end">{}</text>)", left - 8, y + 13,
                           html_escaped(row.label));
        const double column_w = row.level.empty() ? width : width / static_cast<double>(row.level.size());
        for (std::size_t c = 0; c < row.level.size();) {
            const int step = heat_step(row.level[c]);
            std::size_t end = c + 1;
            double worst = row.level[c];
            while (end < row.level.size() && heat_step(row.level[end]) == step) worst = std::max(worst, row.level[end++]);
            svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{}" fill="{}"><title>{:.0f}%</title></rect>)",
                               left + column_w * static_cast<double>(c), y + 2, column_w * static_cast<double>(end - c) + 0.3,
                               row_h - 3, kHeat[step], 100 * worst);
            c = end;
        }
    }
    const double axis_y = top + row_h * static_cast<double>(rows.size()) + 12;
    const auto [x_top, x_step] = nice_axis(seconds);
    for (double x = 0; x <= seconds + 1e-9 && x_top > 0; x += x_step)
        svg += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" class="tick" text-anchor="middle">{:g}</text>)",
                           left + width * x / std::max(seconds, 1e-9), axis_y, x);
    svg += fmt::format(R"(<text x="{}" y="{:.1f}" class="tick" text-anchor="end">seconds</text>)", left - 8, axis_y);
    for (std::size_t i = 0; i < legend.size(); ++i) {
        const double x = left + 130.0 * static_cast<double>(i);
        svg += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="14" height="11" fill="{}"/><text x="{:.1f}" y="{:.1f}" class="legend">{}</text>)",
                           x, axis_y + 8, kHeat[i], x + 18, axis_y + 18, legend[i]);
    }
    return svg + "</svg>";
}

// The page's verdict: per limit what it is, the figure it was decided on and what to try; then where frames went.
std::string verdict_box(const RunReport& report) {
    const bool several = report.sources.size() > 1;
    std::string box;
    for (const Limit& l : report.limits)
        box += fmt::format(R"(<p class="limit"><b>{}</b><br><span class="figure">Measured: {}</span><br><span class="try">Try: {}</span></p>)",
                           html_escaped(limit_headline(l, several)), html_escaped(l.figure), html_escaped(l.advice));
    if (report.limits.empty() && !report.verdict.empty())
        box += fmt::format("<p>{}</p>", html_escaped(report.verdict.substr(0, report.verdict.find('\n'))));
    for (const std::string& sentence : loss_sentences(report)) box += fmt::format("<p>{}</p>", html_escaped(sentence));
    return box.empty() ? std::string() : fmt::format(R"(<div class="verdict"><b>Verdict.</b>{}</div>)", box);
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
                               loss.word(),
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
    body += verdict_box(report);
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
    const auto columns = columns_of(report.timeline.size());
    const double run_seconds = report.timeline.empty() ? in_seconds(report.wall_time) : in_seconds(report.timeline.back().at);
    for (std::size_t i = 0; i < report.sources.size(); ++i) {
        Series p50{report.sources[i].name + " p50", color(i), {}, false};
        Series p99{report.sources[i].name + " p99", color(i), {}, true};
        Series fps{report.sources[i].name, color(i), {}, false};
        double previous_t = 0;
        std::uint64_t previous_delivered = 0;
        for (const auto& [first, last] : columns) {  // per column: the worst latency, the rate over the column
            Duration worst_p50{}, worst_p99{};
            const TimelineSample* end = nullptr;
            for (std::size_t k = first; k < last; ++k) {
                if (i >= report.timeline[k].sources.size()) continue;
                const TimelineSource& t = report.timeline[k].sources[i];
                worst_p50 = std::max(worst_p50, t.end_to_end_p50);
                worst_p99 = std::max(worst_p99, t.end_to_end_p99);
                end = &report.timeline[k];
            }
            if (end == nullptr) continue;
            const double seconds = in_seconds(end->at);
            if (worst_p50 > Duration::zero()) {
                p50.points.emplace_back(seconds, in_ms(worst_p50));
                p99.points.emplace_back(seconds, in_ms(worst_p99));
            }
            const std::uint64_t delivered = end->sources[i].delivered;
            if (seconds > previous_t)
                fps.points.emplace_back(seconds, static_cast<double>(delivered - previous_delivered) / (seconds - previous_t));
            previous_t = seconds;
            previous_delivered = delivered;
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
        std::vector<StripRow> depth, busy;
        for (std::size_t e = 0; e < s.edges.size() && e < s.stages.size(); ++e) {
            StripRow d{fmt::format("{} -> {} ({})", s.edges[e].from, s.edges[e].to, s.edges[e].capacity), {}};
            StripRow b{s.stages[e].name, {}};
            const double capacity = static_cast<double>(std::max<std::size_t>(s.edges[e].capacity, 1));
            for (const auto& [first, last] : columns) {
                double full = 0, load = 0;
                for (std::size_t k = first; k < last; ++k) {
                    const TimelineSample& sample = report.timeline[k];
                    if (i >= sample.sources.size() || e >= sample.sources[i].edge_depth.size()) continue;
                    full = std::max(full, std::min(sample.sources[i].edge_depth[e] / capacity, 1.0));
                    load = std::max(load, static_cast<double>(sample.sources[i].stage_busy[e]));
                }
                d.level.push_back(full);
                b.level.push_back(load);
            }
            depth.push_back(std::move(d));
            busy.push_back(std::move(b));
        }
        body += heat_strip("How full each edge was (frames waiting / capacity; the fullest moment of each column)", depth,
                           run_seconds, {"empty", "up to a third", "up to two thirds", "almost full", "full"});
        body += heat_strip("How busy each stage was (share of its workers' time spent processing)", busy, run_seconds,
                           {"idle", "under 34%", "under 67%", "under 100%", "100%"});
        body += table(s);
    }
    const std::string page = fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 860px; color: #222; }}
h1 {{ font-size: 22px; margin-bottom: 2px; }} h2 {{ font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
.meta {{ color: #666; margin-top: 0; }}
.verdict {{ background: #fff6e0; border-left: 4px solid #f28e2b; padding: 8px 12px; margin: 12px 0; }}
.verdict p {{ margin: 6px 0; }} .verdict .figure {{ color: #444; }} .verdict .try {{ color: #2d5f2e; }}
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
