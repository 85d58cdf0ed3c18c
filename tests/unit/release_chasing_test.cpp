// release_chasing (issue 15): a key that moves most of its traffic to a model within hours of the
// model's first appearance in the logs, with sweep evidence; early adopters stay quiet.
#include "engine_test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

RuleSet chasing_rules() {
  RuleSet r = only("release_chasing");
  r.clusters.enabled = false;
  return r;
}

/// Every key of the test's log: a steady background on the old models from the start, a sweep
/// that moves to "model-new" an hour after it first appears (at 30 h), a person who moves too,
/// and a sweep that moves to "model-early", first seen in the logs' first hour.
struct Log {
  Stream s;
  std::vector<std::vector<PromptPart>> prompts;
  std::vector<Event> events;
  void add(int64_t ts, std::string_view key, std::string_view model, std::string text,
           int64_t completion, int turns) {
    Event e = s.event(ts, key, completion);
    e.model = s.keep(std::string(model));
    std::vector<PromptPart> parts(1);
    parts[0] = {PromptRole::user, s.keep(std::move(text))};
    e.prompt = s.keep_parts(std::move(parts));
    e.turns = turns;
    events.push_back(e);
  }
};

Log make_log() {
  Log log;
  const int64_t minute = ns_per_minute;
  for (int64_t m = 0; m < 48 * 60; m += 2) {
    int64_t ts = t0 + m * minute;
    log.add(ts, "background", m % 4 ? "model-old" : "model-other", "hello again", 80, 3);
    if (m == 60) log.add(ts + 1, "background", "model-early", "hi", 20, 3);
    if (m >= 30 * 60 && m % 20 == 0) log.add(ts + 2, "first-user", "model-new", "hi", 20, 3);
    bool moved = m >= 31 * 60;
    log.add(ts + 3, "chaser", moved ? "model-new" : "model-old",
            fmt::format("Explain step by step how to solve problem {} of set {}", m, m % 7), 900,
            1);
    log.add(ts + 4, "person", moved ? "model-new" : "model-old",
            fmt::format("lol my cat did {} weird things today, thoughts?", m % 5), 60, 4);
    log.add(ts + 5, "early-chaser", m >= 31 * 60 ? "model-early" : "model-old",
            fmt::format("Write a detailed essay on topic {} number {}", m % 13, m), 900, 1);
  }
  return log;
}

std::string run(const Log& log, size_t shards, Recorder& rec) {
  EngineOptions options;
  options.shards = shards;
  DetectionEngine engine(chasing_rules(), options, rec);
  for (const Event& e : log.events) engine.on_event(e);
  engine.finish();
  std::string out;
  for (const Finding& f : rec.findings) out += describe(f);
  return out;
}

}  // namespace

TEST_CASE("a sweep that moves to a new model within hours is release chasing", "[release]") {
  Log log = make_log();
  Recorder rec;
  run(log, 1, rec);
  const Finding* f = rec.first("release_chasing");
  REQUIRE(f != nullptr);
  CHECK(f->key == "chaser");
  CHECK(f->score >= 0.75);
  CHECK_THAT(f->reason, Catch::Contains("to model-new 1 hours after the model first appeared"));
  auto metric = [&](std::string_view name) {
    for (const Metric& m : f->metrics)
      if (m.name == name) return m.value;
    return -1.0;
  };
  CHECK(metric("moved_share") == Approx(1.0));
  CHECK(metric("lag_hours") == Approx(1.0).margin(0.1));
  CHECK(metric("sweep_score") >= 0.5);
  // The person moved as fast and as much, and a model seen in the logs' first hour was there
  // before them: neither is a release chase.
  for (const Finding& x : rec.findings) {
    CHECK(x.key != "person");
    CHECK(x.key != "early-chaser");
  }
}

TEST_CASE("a model's first appearance is the same for any number of shards", "[release]") {
  Log log = make_log();
  Recorder one, three;
  std::string a = run(log, 1, one);
  CHECK_FALSE(a.empty());
  CHECK(run(log, 3, three) == a);
}

TEST_CASE("a state saved mid-way keeps the models' first appearances", "[release][state]") {
  Log log = make_log();
  Recorder whole;
  std::string expected = run(log, 1, whole);
  // Cut after the release, before the chaser moved: the next run must still know it.
  Recorder first, second;
  DetectionEngine a(chasing_rules(), {}, first);
  size_t cut = 0;
  while (log.events[cut].timestamp_ns < t0 + 30 * ns_per_hour + 30 * ns_per_minute) ++cut;
  for (size_t i = 0; i < cut; ++i) a.on_event(log.events[i]);
  a.finish(false);
  StateWriter w;
  a.save_state(w);
  DetectionEngine b(chasing_rules(), {}, second);
  StateReader r(w.data());
  b.load_state(r);
  for (size_t i = cut; i < log.events.size(); ++i) b.on_event(log.events[i]);
  b.finish();
  std::string got;
  for (const Finding& f : first.findings) got += describe(f);
  for (const Finding& f : second.findings) got += describe(f);
  CHECK(got == expected);
}
