// Dormant accounts: a key quiet for longer than dormant_after is judged as dormant when it comes
// back, whether the engine still holds it or idle expiry forgot it. Regression: the labelled
// sample's camp-dormant_burst-0 (samples/campaigns.jsonl.zst) was judged as a new account in the
// warm-up, held to three times the dormant bar.
#include "test_util.h"

#include <exfilscan/engine/engine.h>

#include <catch2/catch.hpp>

#include <map>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

constexpr int64_t t0 = 1793577600LL * ns_per_second;  // 2026-11-02T00:00:00Z

std::string line(int64_t ts, const std::string& key, int64_t completion) {
  return fmt::format(
      R"({{"timestamp":{}.{:09},"request_id":"r{}-{}","api_key_id":"{}","endpoint":"/v1/chat/completions","response":{{"status":200,"usage":{{"prompt_tokens":20,"completion_tokens":{}}}}}}})"
      "\n",
      ts / ns_per_second, ts % ns_per_second, key, ts / ns_per_second, key, completion);
}

struct Recorder : FindingSink {
  std::vector<Finding> findings;
  void on_finding(const Finding& f) override { findings.push_back(f); }
};

/// volume_spike alone, on top of the built-in rules.
RuleSet volume_rules(const std::string& toml = "") {
  RuleSet r = default_rules();
  r.prompt_templating.enabled = r.distillation_sweep.enabled = r.logit_probe.enabled = false;
  r.thresholds.clear();
  merge_rules(r, toml, "test.toml");
  return r;
}

/// Reads `text` as a log file into `engine`, through the real reader.
void scan(const std::string& text, DetectionEngine& engine) {
  TempFile file(text);
  BadLineLog log({}, stderr);
  ReadResult r = read_inputs({file.path()}, {}, engine, log);
  REQUIRE(r.failure == ReadFailure::none);
  REQUIRE(log.total() == 0);
}

// The sample's shape, scaled down: a key sends 8 requests over a day, then nothing for 9 days.
// Then 300 accounts send one window of 10,000 completion tokens each, 10 s apart (the 200th
// window, counting the key's 8, closes at t0 + 1910 s: the population is usable from then, and
// the 6 hours after are its warm-up). Three hours in, the key comes back with 50,000 tokens in 4
// minutes: 4.7x the population's p99. A dormant account must do 3x it; a new one in the warm-up
// 9x.
std::string before_the_burst() {
  std::string text;
  for (int i = 0; i < 8; ++i)
    text += line(t0 - 9 * ns_per_day + i * 3 * ns_per_hour, "sleeper", 100);
  for (int i = 0; i < 300; ++i)
    text += line(t0 + i * 10 * ns_per_second, fmt::format("bg{}", i), 10'000);
  return text;
}

std::string the_burst() {
  std::string text;
  int64_t back = t0 + 3 * ns_per_hour;
  for (int i = 0; i < 40; ++i) text += line(back + i * 6 * ns_per_second, "sleeper", 1250);
  return text;
}

const Finding* spike(const Recorder& rec) {
  for (const Finding& f : rec.findings)
    if (f.rule == "volume_spike" && f.key == "sleeper") return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("a key forgotten by idle expiry comes back as dormant, not new", "[dormant]") {
  Recorder rec;
  DetectionEngine engine(volume_rules(), {}, rec);
  scan(before_the_burst() + the_burst(), engine);
  engine.finish();
  CHECK(engine.stats().accounts_expired == 1);  // idle_expiry (8 days) forgot it
  const Finding* f = spike(rec);
  REQUIRE(f);
  CHECK_THAT(f->reason, Catch::Contains("after 8 quiet days, 3x the p99 of all accounts"));
}

TEST_CASE("a key quiet past its history's reach is dormant while it is still held", "[dormant]") {
  // Kept for 30 days, the key's windows are older than the week of history its baseline reads:
  // how long it was quiet must not depend on them.
  Recorder rec;
  DetectionEngine engine(volume_rules("[settings]\nidle_expiry = \"30d\"\n"), {}, rec);
  scan(before_the_burst() + the_burst(), engine);
  engine.finish();
  CHECK(engine.stats().accounts_expired == 0);
  const Finding* f = spike(rec);
  REQUIRE(f);
  CHECK_THAT(f->reason, Catch::Contains("after 8 quiet days, 3x the p99 of all accounts"));
}

TEST_CASE("a key first seen in the warm-up is still held to the warm-up's bar", "[dormant]") {
  // The same burst from a key never seen before: 9x the p99 needed, 4.7x done.
  Recorder rec;
  DetectionEngine engine(volume_rules(), {}, rec);
  std::string burst = the_burst();
  for (size_t at; (at = burst.find("sleeper")) != std::string::npos;)
    burst.replace(at, 7, "newkey");
  scan(before_the_burst() + burst, engine);
  engine.finish();
  for (const Finding& f : rec.findings) CHECK(f.key != "newkey");
}

TEST_CASE("a forgotten key carried in the state comes back as dormant in the next run",
          "[dormant][state]") {
  Recorder rec;
  StateWriter saved;
  {
    DetectionEngine day1(volume_rules(), {}, rec);
    scan(before_the_burst(), day1);
    day1.finish(false);
    day1.save_state(saved);
  }
  DetectionEngine day2(volume_rules(), {}, rec);
  StateReader r(saved.data());
  day2.load_state(r);
  scan(the_burst(), day2);
  day2.finish();
  const Finding* f = spike(rec);
  REQUIRE(f);
  CHECK_THAT(f->reason, Catch::Contains("after 8 quiet days"));
}

TEST_CASE("idle_expiry may not forget a key before it counts as dormant", "[dormant][rules]") {
  RuleSet r = default_rules();
  CHECK_THROWS_WITH(merge_rules(r, "[settings]\nidle_expiry = \"2d\"\n", "x.toml"),
                    Catch::StartsWith("x.toml:2: settings.idle_expiry: 2d is shorter than "
                                      "detectors.volume_spike.dormant_after (7d)"));
  CHECK_THROWS_WITH(
      merge_rules(r, "\n[detectors.volume_spike]\ndormant_after = \"9d\"\n", "y.toml"),
      Catch::StartsWith("y.toml:3: detectors.volume_spike.dormant_after: "));
  // Together, or without volume_spike, it is fine.
  merge_rules(
      r, "[settings]\nidle_expiry = \"2d\"\n[detectors.volume_spike]\ndormant_after = \"1d\"\n",
      "z.toml");
  CHECK(r.settings.idle_expiry_ns == 2 * ns_per_day);
  RuleSet off = default_rules();
  merge_rules(off, "[settings]\nidle_expiry = \"1d\"\n[detectors.volume_spike]\nenabled = false\n",
              "w.toml");
  CHECK(off.settings.idle_expiry_ns == ns_per_day);
}

TEST_CASE("forgotten keys stay within max_accounts, the longest forgotten dropped, counted",
          "[dormant]") {
  // Five keys send one request each, an hour apart; the fourth and the fifth each evict the
  // least recently seen (max_accounts holds at every event), and 9 days later the other three
  // expire. Of the five forgotten, the 3
  // forgotten last are remembered: k4 comes back dormant, k1 as new. Every bar is the
  // population's p99 alone, so both fire and their reasons say how they were judged.
  RuleSet rules = volume_rules(R"(
[settings]
max_accounts = 3
[detectors.volume_spike]
min_requests = 1
min_completion_tokens = 1
min_population_windows = 1
new_account_ratio = 1
warmup_ratio = 1
)");
  std::string text;
  for (int i = 0; i < 5; ++i) text += line(t0 + i * ns_per_hour, fmt::format("k{}", i), 100);
  int64_t later = t0 + 9 * ns_per_day;
  text += line(later, "clock", 100);
  text += line(later + ns_per_minute, "k1", 1'000'000);
  text += line(later + 2 * ns_per_minute, "k4", 1'000'000);
  for (size_t shards : {1, 4}) {
    Recorder rec;
    EngineOptions options;
    options.shards = shards;
    DetectionEngine engine(rules, options, rec);
    scan(text, engine);
    engine.finish();
    EngineStats stats = engine.stats();
    CHECK(stats.accounts_evicted == 2);
    CHECK(stats.accounts_expired == 3);
    CHECK(stats.forgotten_dropped == 2);
    std::map<std::string, std::string> reasons;
    for (const Finding& f : rec.findings) reasons[f.key] = f.reason;
    CHECK_THAT(reasons["k4"], Catch::Contains("after 8 quiet days"));
    CHECK_THAT(reasons["k1"], Catch::Contains("from a new account"));
  }
}
