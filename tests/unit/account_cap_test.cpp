// max_accounts bounds the live accounts at every event, not only at the hourly upkeep, the same
// way for any number of shards; the "accounts" total counts distinct keys (issue 17, item 8).

#include "engine_test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

struct Flood {
  std::string findings;
  EngineStats stats;
  std::string state;
};

/// `keys` distinct keys, one request each, all inside one hour, `passes` times over; one
/// steady key among them that a threshold rule flags.
Flood flood(size_t keys, int passes, size_t shards) {
  RuleSet rules = only_thresholds(R"([[threshold]]
id = "busy"
window = "10m"
condition = "count > 40"
severity = "high"
)");
  rules.settings.max_accounts = 10'000;
  EngineOptions options;
  options.shards = shards;
  Recorder rec;
  DetectionEngine engine(rules, options, rec);
  Stream s;
  std::vector<Event> batch;
  int64_t step = ns_per_hour / static_cast<int64_t>(keys * static_cast<size_t>(passes) + 1);
  int64_t t = t0;
  for (int p = 0; p < passes; ++p) {
    for (size_t k = 0; k < keys; ++k, t += step) {
      batch.push_back(s.event(t, fmt::format("flood-{:06}", k)));
      if (k % 100 == 0) batch.push_back(s.event(t, "steady"));
      if (batch.size() >= 4096) {
        engine.on_events(batch);
        batch.clear();
        s = Stream{};  // the engine keeps nothing the stream owns
      }
    }
  }
  engine.on_events(batch);
  StateWriter w;
  engine.save_state(w);
  engine.finish();
  Flood f;
  for (const Finding& x : rec.findings) f.findings += describe(x);
  f.stats = engine.stats();
  f.state = w.data();
  return f;
}

}  // namespace

TEST_CASE("a flood of keys in one hour never holds more than max_accounts (issue 17)",
          "[engine][cap]") {
  Flood one = flood(100'000, 1, 1);
  CHECK(one.stats.accounts_peak <= 10'000);
  CHECK(one.stats.accounts_peak >= 9'000);
  CHECK(one.stats.accounts_active <= 10'000);
  CHECK(one.stats.accounts_seen == 100'001);
  CHECK(one.stats.accounts_evicted >= 90'001);
  CHECK(one.findings.find("busy steady") != std::string::npos);  // the busy key stays judged
  Flood two = flood(100'000, 1, 2);
  CHECK(two.findings == one.findings);
  CHECK(two.state == one.state);
  CHECK(two.stats.accounts_peak == one.stats.accounts_peak);
  CHECK(two.stats.accounts_evicted == one.stats.accounts_evicted);
}

TEST_CASE("a key evicted and back counts once in the accounts total (issue 17)", "[engine][cap]") {
  for (size_t shards : {1, 3}) {
    Flood f = flood(15'000, 2, shards);
    CHECK(f.stats.accounts_seen == 15'001);  // it used to count each re-creation: 30,001
    CHECK(f.stats.accounts_peak <= 10'000);
    CHECK(f.stats.forgotten_dropped == 0);
  }
}
