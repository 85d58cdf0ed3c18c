// The hourly series of an account's summary, for the HTML report's timeline (issue 19): only for
// accounts at medium and above, clock hours of this run, at most max_hourly_counts of them.
#include "engine_test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Threshold rules only: more than 50 requests in an hour is medium.
RuleSet busy_is_medium() {
  RuleSet r = only("none");
  merge_rules(r, R"([[threshold]]
id = "busy"
window = "1h"
condition = "count > 50"
severity = "medium"
)",
              "test");
  return r;
}

const AccountSummary& summary_of(const std::vector<AccountSummary>& ranking, std::string_view key) {
  for (const AccountSummary& a : ranking)
    if (a.key == key) return a;
  FAIL("no summary for " << key);
  return ranking.front();
}

}  // namespace

TEST_CASE("accounts at medium carry their traffic per clock hour", "[engine][hourly]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(busy_is_medium(), {}, rec);
  // "busy": 10 requests at 00:30, 60 in the next hour (from 01:10), none at 02:00, 5 at 03:00.
  for (int i = 0; i < 10; ++i)
    engine.on_event(s.event(t0 + 30 * ns_per_minute + i * ns_per_second, "busy", 7));
  for (int i = 0; i < 60; ++i)
    engine.on_event(s.event(t0 + 70 * ns_per_minute + i * 30 * ns_per_second, "busy", 10));
  engine.on_event(s.event(t0 + 60 * ns_per_minute + 20 * ns_per_second, "quiet", 1));
  for (int i = 0; i < 5; ++i)
    engine.on_event(s.event(t0 + 180 * ns_per_minute + i * ns_per_second, "busy", 1));
  engine.finish();
  std::vector<AccountSummary> ranking = engine.ranking(10);
  const AccountSummary& busy = summary_of(ranking, "busy");
  CHECK(busy.severity == Severity::medium);
  REQUIRE(busy.hourly.size() == 3);
  CHECK(busy.hourly[0].hour_ns == t0);
  CHECK(busy.hourly[0].requests == 10);
  CHECK(busy.hourly[0].completion_tokens == 70);
  CHECK(busy.hourly[1].hour_ns == t0 + ns_per_hour);
  CHECK(busy.hourly[1].requests == 60);
  CHECK(busy.hourly[1].completion_tokens == 600);
  CHECK(busy.hourly[2].hour_ns == t0 + 3 * ns_per_hour);
  CHECK(busy.hourly[2].requests == 5);
  // Below medium: no series (the other reports never see one).
  CHECK(summary_of(ranking, "quiet").hourly.empty());
}

TEST_CASE("the hourly series keeps the latest hours, late events in their own",
          "[engine][hourly]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(busy_is_medium(), {}, rec);
  int64_t hours = static_cast<int64_t>(max_hourly_counts) + 10;
  for (int64_t h = 0; h < hours; ++h) {
    bool last = h == hours - 1;
    for (int i = 0; i < (last ? 60 : 1); ++i)
      engine.on_event(
          s.event(t0 + h * ns_per_hour + (last ? 1 : 10) * ns_per_minute + i * ns_per_second, "k"));
  }
  // Late by 4 minutes (within max_skew), into the hour before.
  engine.on_event(s.event(t0 + (hours - 1) * ns_per_hour - 2 * ns_per_minute, "k"));
  engine.finish();
  std::vector<AccountSummary> ranking = engine.ranking(0);
  const AccountSummary& k = summary_of(ranking, "k");
  REQUIRE(k.hourly.size() == max_hourly_counts);
  CHECK(k.hourly.front().hour_ns == t0 + 10 * ns_per_hour);
  CHECK(k.hourly.back().hour_ns == t0 + (hours - 1) * ns_per_hour);
  CHECK(k.hourly.back().requests == 60);
  CHECK(k.hourly[k.hourly.size() - 2].requests == 2);
}
