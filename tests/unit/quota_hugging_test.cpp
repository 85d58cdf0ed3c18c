// quota_hugging (issue 15): a rate held flat at the key's own ceiling with 429s at its edge; a
// steady pipeline that is never throttled, and people's days, are not; a cluster's keys held
// under their limits together are high.
#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

RuleSet hugging_rules() {
  RuleSet r = only("quota_hugging");
  r.clusters.enabled = false;
  return r;
}

double metric(const Finding& f, std::string_view name) {
  for (const Metric& m : f.metrics)
    if (m.name == name) return m.value;
  return -1;
}

/// `per_hour(h)` requests in each of 30 hours, evenly spaced; every `throttle_every`-th a 429
/// (0: none).
void add_key(Stream& s, std::vector<Event>& out, std::string_view key, double (*per_hour)(int),
             int throttle_every, int64_t offset) {
  int n = 0;
  for (int h = 0; h < 30; ++h) {
    int count = static_cast<int>(per_hour(h));
    for (int i = 0; i < count; ++i) {
      Event e = s.event(t0 + h * ns_per_hour + i * ns_per_hour / count + offset, key);
      if (throttle_every && ++n % throttle_every == 0) e.status = 429, e.completion_tokens = {};
      out.push_back(e);
    }
  }
}

std::vector<Event> sorted(std::vector<Event> events) {
  std::stable_sort(events.begin(), events.end(),
                   [](const Event& a, const Event& b) { return a.timestamp_ns < b.timestamp_ns; });
  return events;
}

}  // namespace

TEST_CASE("a key held at its ceiling with 429s at the edge is quota hugging, medium alone",
          "[quota]") {
  Stream s;
  std::vector<Event> events;
  add_key(
      s, events, "hugger", [](int) { return 40.0; }, 50, 0);
  add_key(
      s, events, "batch", [](int) { return 40.0; }, 0, ns_per_second);
  // People: busy by day, quiet at night, and throttled now and then at the peak.
  add_key(
      s, events, "people",
      [](int h) { return 25 + 60 * std::pow(std::sin(3.14159 * (h % 24) / 24), 2); }, 60,
      2 * ns_per_second);
  Recorder rec;
  DetectionEngine engine(hugging_rules(), {}, rec);
  for (const Event& e : sorted(events)) engine.on_event(e);
  engine.finish();
  const Finding* f = rec.first("quota_hugging");
  REQUIRE(f != nullptr);
  CHECK(f->key == "hugger");
  CHECK(f->severity == Severity::medium);
  CHECK(f->score <= 0.6);
  CHECK(metric(*f, "windows") >= 18);
  CHECK(metric(*f, "ceiling_share") == Approx(1.0).margin(0.05));
  CHECK(metric(*f, "throttled_429") > 0);
  CHECK_THAT(f->reason, Catch::Contains("of its ceiling of 40 requests per 1h"));
  for (const Finding& x : rec.findings) CHECK(x.key == "hugger");
}

TEST_CASE("a cluster's keys each held under a limit are high together", "[quota][linker]") {
  Stream s;
  std::vector<Event> events;
  // A key there from the start (the wave comes after the logs settled), then twelve keys of one
  // wave with one system prompt, each held at 30 requests an hour.
  for (int i = 0; i < 200; ++i) events.push_back(s.event(t0 + i * 10 * ns_per_minute, "early"));
  for (int k = 0; k < 12; ++k) {
    int n = 0;
    int64_t begin = t0 + 2 * ns_per_hour + k * 20 * ns_per_second;
    std::string key = fmt::format("hug-{:02d}", k);
    for (int i = 0; i < 30 * 30; ++i) {
      Event e = s.event(begin + i * 2 * ns_per_minute, key, 700);
      e.ip = s.keep(fmt::format("203.{}.{}.7", k, k));
      e.user_agent = "bot/1.0";
      e.prompt = s.keep_parts({{PromptRole::system, "You are a meticulous dataset assistant."},
                               {PromptRole::user, s.keep(fmt::format("Item {} of {}", i, k))}});
      if (++n % 40 == 0) e.status = 429, e.completion_tokens = {};
      events.push_back(e);
    }
  }
  RuleSet rules = only("quota_hugging");
  Recorder rec;
  DetectionEngine engine(rules, {}, rec);
  for (const Event& e : sorted(events)) engine.on_event(e);
  engine.finish();
  const Finding* pooled = nullptr;
  for (const Finding& f : rec.findings)
    if (f.key_kind == "cluster" && f.rule == "quota_hugging") pooled = &f;
  REQUIRE(pooled != nullptr);
  CHECK(pooled->score > 0.75);
  CHECK(metric(*pooled, "keys_throttled_share") == Approx(1.0));
  CHECK_THAT(pooled->reason, Catch::Contains("100% of its 12 keys throttled"));
}
