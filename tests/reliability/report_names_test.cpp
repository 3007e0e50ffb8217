// Names that are not UTF-8 (file names are bytes) in the report's JSON and Prometheus text: escaped as \xHH by the one
// helper (src/report/text_escape.hpp), never a failed or invalid report.
#include "report/text_escape.hpp"
#include "support/command.hpp"

#include <framepipe/report_io.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace framepipe;
using framepipe::test::contains;

TEST_CASE("names: Prometheus labels and the JSON report escape bytes that are not UTF-8 instead of failing") {
    RunReport report;
    report.finished = true;
    SourceReport source;
    source.name = "cam\xff\x01";
    report.sources.push_back(source);
    const std::string metrics = report_to_prometheus(report);
    CHECK(is_displayable(metrics));
    CHECK(contains(metrics, "framepipe_source_frames_captured_total{source=\"cam\\\\xff\\\\x01\"} 0"));
    std::string json;
    CHECK_NOTHROW(json = report_to_json(report));
    CHECK(nlohmann::json::parse(json).at("sources").at(0).at("name") == "cam\\xff\\x01");
    CHECK(displayable("ok \xc3\xa9 \xed\xa0\x80 \xf4\x90\x80\x80") == "ok \xc3\xa9 \\xed\\xa0\\x80 \\xf4\\x90\\x80\\x80");
    CHECK(displayable(displayable("\xe9")) == "\\xe9");
}

TEST_CASE("names: displayable keeps valid UTF-8 and, in text, line breaks; a name keeps no control character") {
    CHECK(displayable("line one\nline two\tend") == "line one\nline two\tend");
    CHECK(displayable_name("two\nlines\x1b[31m") == "two\\x0alines\\x1b[31m");
    CHECK(displayable("cut \xe2\x82") == "cut \\xe2\\x82");  // a three-byte character cut short
    CHECK(displayable("\xc0\xaf") == "\\xc0\\xaf");         // an overlong '/'
}
