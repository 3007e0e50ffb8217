// What the process publishes on MQTT for its cameras (StatusTopics): each camera's signal when it changes, and the
// statistics of every camera once per interval with rates over that interval, in simulated time, without a broker;
// and the process-wide status connection shared by the stages that acquire it.
#include "stages/mqtt/mqtt_run_status.hpp"
#include "support/process.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

using namespace framepipe;
using namespace framepipe::stages;
using namespace std::chrono_literals;

namespace {

SourceReport camera(const std::string& name, std::uint64_t captured, bool lost = false) {
    SourceReport source;
    source.name = name;
    source.live = true;
    source.captured = captured;
    source.delivered = captured;
    source.signal_lost = lost;
    return source;
}

RunReport report_of(std::vector<SourceReport> sources) {
    RunReport report;
    report.sources = std::move(sources);
    return report;
}

std::vector<std::string> topics_of(const std::vector<MqttMessage>& messages) {
    std::vector<std::string> topics;
    for (const MqttMessage& m : messages) topics.push_back(m.topic + " " + (m.topic.ends_with("stats") ? "" : m.payload));
    return topics;
}

}  // namespace

TEST_CASE("mqtt status: a camera's signal is published once when it is lost and once when it is back, retained") {
    const TimePoint start{1s};
    StatusTopics topics("fp", 10s, start);
    CHECK(topics.observe(report_of({camera("gate", 10)}), start + 1s, 0).empty());  // first seen, with signal
    const auto lost = topics.observe(report_of({camera("gate", 10, true)}), start + 2s, 0);
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].topic == "fp/gate/signal");
    CHECK(lost[0].payload == "lost");
    CHECK(lost[0].retain);
    CHECK(topics.observe(report_of({camera("gate", 10, true)}), start + 3s, 0).empty());  // still lost: nothing new
    const auto back = topics.observe(report_of({camera("gate", 20)}), start + 4s, 0);
    CHECK(topics_of(back) == std::vector<std::string>{"fp/gate/signal back"});
}

TEST_CASE("mqtt status: a camera first seen without signal is published as lost") {
    const TimePoint start{1s};
    StatusTopics topics("fp", 10s, start);
    CHECK(topics_of(topics.observe(report_of({camera("gate", 0, true)}), start + 1s, 0)) ==
          std::vector<std::string>{"fp/gate/signal lost"});
}

TEST_CASE("mqtt status: statistics of every camera once per interval, with the rates of that interval and the final "
          "statistics at the end") {
    const TimePoint start{1s};
    StatusTopics topics("fp", 10s, start);
    CHECK(topics.observe(report_of({camera("gate", 100), camera("yard", 50)}), start + 9s, 0).empty());
    const auto first = topics.observe(report_of({camera("gate", 250), camera("yard", 250)}), start + 10s, 3);
    REQUIRE(first.size() == 1);
    CHECK(first[0].topic == "fp/stats");
    CHECK_FALSE(first[0].retain);
    const nlohmann::json stats = nlohmann::json::parse(first[0].payload);
    CHECK(stats["cameras"]["gate"]["camera_fps"] == doctest::Approx(25.0));  // 250 frames in 10 s
    CHECK(stats["cameras"]["yard"]["process_fps"] == doctest::Approx(25.0));
    CHECK(stats["cameras"]["gate"]["captured"] == 250);
    CHECK(stats["service"]["uptime"] == doctest::Approx(10.0));
    CHECK(stats["service"]["final"] == false);
    CHECK(stats["mqtt_dropped"] == 3);

    CHECK(topics.observe(report_of({camera("gate", 300), camera("yard", 300)}), start + 15s, 3).empty());
    const auto second = topics.observe(report_of({camera("gate", 350), camera("yard", 250)}), start + 20s, 3);
    REQUIRE(second.size() == 1);
    const nlohmann::json later = nlohmann::json::parse(second[0].payload);
    CHECK(later["cameras"]["gate"]["camera_fps"] == doctest::Approx(10.0));  // 100 more in the second 10 s
    CHECK(later["cameras"]["yard"]["camera_fps"] == doctest::Approx(0.0));   // none

    const auto final = topics.observe(report_of({camera("gate", 360), camera("yard", 250)}), start + 22s, 3, true);
    REQUIRE(final.size() == 1);
    const nlohmann::json last = nlohmann::json::parse(final[0].payload);
    CHECK(last["service"]["final"] == true);
    CHECK(last["cameras"]["gate"]["camera_fps"] == doctest::Approx(5.0));  // 10 in 2 s
}

TEST_CASE("mqtt status: one status connection per broker and prefix, shared by every stage that acquires it from any "
          "thread, ended by the last release; its watcher steps in simulated time") {
    const int port = framepipe::test::free_port();  // no broker there: messages wait in the outbox
    ManualClock clock;
    LiveReport live;
    live.publish(report_of({camera("gate", 10)}));
    MqttRunStatus::Settings settings;
    settings.broker.port = port;
    settings.client_id = "test";
    settings.prefix = "fp";
    std::stop_source abort;
    abort.request_stop();  // release() does not linger for a broker that is not there

    std::shared_ptr<MqttRunStatus> first = MqttRunStatus::acquire(settings, &live, clock);
    std::weak_ptr<MqttRunStatus> watch = first;
    REQUIRE(clock.wait_for_sleepers(1));  // the watcher waits for its next second
    std::vector<std::thread> threads;
    std::atomic<int> same{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            // Each thread a pipeline of its own: its live report ends with it, after its release (ASan checks that
            // the watcher never reads it after that).
            for (int i = 0; i < 50; ++i) {
                LiveReport own;
                own.publish(report_of({camera(fmt::format("cam{}", t), static_cast<std::uint64_t>(i), i % 2 == 0)}));
                std::shared_ptr<MqttRunStatus> mine = MqttRunStatus::acquire(settings, &own, clock);
                if (mine == watch.lock()) same.fetch_add(1);
                live.publish(report_of({camera("gate", 10 + static_cast<std::uint64_t>(i), i % 2 == 0)}));
                CHECK(MqttRunStatus::release(mine, &own, abort.get_token()) == 0);  // not the last: nothing to report
                CHECK_FALSE(mine);
            }
        });
    for (int step = 0; step < 20; ++step) {  // the watcher reads the live report while the others come and go
        clock.advance_to_next_wake();
        REQUIRE(clock.wait_for_sleepers(1));
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(same.load() == 200);
    settings.prefix = "other";
    std::shared_ptr<MqttRunStatus> other = MqttRunStatus::acquire(settings, &live, clock);
    CHECK(other != first);
    (void)MqttRunStatus::release(other, &live, abort.get_token());
    CHECK(MqttRunStatus::release(first, &live, abort.get_token()) > 0);  // the last: its messages never reached a broker
    CHECK(watch.expired());
}
