// Dormant accounts: a key quiet for longer than dormant_after is judged as dormant when it comes
// back. Regression: the labelled sample's camp-dormant_burst-0 (samples/campaigns.jsonl.zst) was
// judged as a new account in the warm-up, held to three times the dormant bar.
#include "test_util.h"

#include <exfilscan/engine.h>

#include <catch2/catch.hpp>

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
