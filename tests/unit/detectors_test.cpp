// Detectors as the engine sees them: each keeps its own per-account part of the state, saved
// under its name.

#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <functional>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

RuleSet without_thresholds() {
  RuleSet r = default_rules();
  r.thresholds.clear();
  return r;
}

/// One account with a window of logit probes, saved.
std::string probed_state(const RuleSet& rules) {
  Stream s;
  Recorder rec;
  DetectionEngine engine(rules, {}, rec);
  std::vector<PromptPart> parts(1);
  parts[0] = {PromptRole::user, "Say yes or no"};
  for (int i = 0; i < 30; ++i) {
    Event e = s.event(t0 + i * ns_per_second, "prober", 1);
    e.prompt = parts;
    e.params.logprobs = true;
    e.params.logit_bias_entries = 3;
    e.params.logit_bias_hash = 1000 + static_cast<uint64_t>(i);
    engine.on_event(e);
  }
  StateWriter w;
  engine.save_state(w);
  return w.data();
}

bool holds(const std::string& bytes, std::string_view what) {
  return bytes.find(what) != std::string::npos;
}

}  // namespace

TEST_CASE("a detector's part of the state is saved under its name", "[engine][state]") {
  RuleSet rules = without_thresholds();
  CHECK(holds(probed_state(rules), "distillation_sweep"));  // the parts of the key's traffic
  rules.distillation_sweep.max_segments = 0;
  std::string saved = probed_state(rules);
  CHECK(holds(saved, "logit_probe"));
  CHECK_FALSE(holds(saved, "distillation_sweep"));  // without parts it keeps nothing
  Recorder rec;
  DetectionEngine loaded(rules, {}, rec);
  StateReader in(saved);
  loaded.load_state(in);
  StateWriter again;
  loaded.save_state(again);
  CHECK(again.data() == saved);
}

TEST_CASE("a detector turned off drops its part when a state loads", "[engine][state]") {
  std::string saved = probed_state(without_thresholds());
  RuleSet off = without_thresholds();
  off.logit_probe.enabled = false;
  Recorder rec;
  DetectionEngine loaded(off, {}, rec);
  StateReader in(saved);
  loaded.load_state(in);
  StateWriter again;
  loaded.save_state(again);
  CHECK_FALSE(holds(again.data(), "logit_probe"));
}

TEST_CASE("a part of a detector this build lacks is refused, by name", "[engine][state]") {
  std::string saved = probed_state(without_thresholds());
  size_t at = saved.find("logit_probe");
  REQUIRE(at != std::string::npos);
  saved.replace(at, 11, "logit_prob2");
  Recorder rec;
  DetectionEngine loaded(without_thresholds(), {}, rec);
  StateReader in(saved);
  try {
    loaded.load_state(in);
    FAIL("loaded");
  } catch (const StateError& e) {
    CHECK(std::string(e.what()).find("'logit_prob2'") != std::string::npos);
  }
}

TEST_CASE("a format 4 account's baseline and probes go to their detectors", "[engine][state]") {
  // The engine's part of an empty state (formats 8 and 4 agree there, but for what formats 6
  // to 8 added at the end), then one account as
  // format 4 wrote it: the window held logit_probe's counts, the account volume_spike's history.
  Recorder rec;
  DetectionEngine fresh(without_thresholds(), {}, rec);
  StateWriter empty;
  fresh.save_state(empty);
  const std::string& e = empty.data();
  StateWriter a;
  a.str("old-key");
  a.str("");
  for (int64_t v : {t0, t0 + 10 * ns_per_second, int64_t{-1}, t0 - ns_per_hour}) a.i64(v);
  for (uint64_t v : {30, 100, 30, 0, 0}) a.u64(v);  // requests, tokens, suppressed, hours
  // The window: its times and slice, 17 counts (probe_requests the 10th), temperatures and
  // gaps, three empty sketches, one prompt's logit_bias sketch, no sample ids or prompts.
  for (int64_t v : {t0, t0 + 10 * ns_per_second, ns_per_minute, t0}) a.i64(v);
  for (int i = 0; i < 17; ++i) a.u64(i == 0 ? 30 : i == 9 ? 30 : 0);
  for (double v : {1e9, -1.0, 0.0, 0.0}) a.f64(v);
  for (int i = 0; i < 3; ++i) a.u64(0);
  a.u64(1);
  a.u64(42);  // the prompt
  a.u64(3);
  for (uint64_t h : {5, 6, 7}) a.u64(h);
  for (int i = 0; i < 10; ++i) a.str("");
  a.u64(2);  // the history: two windows
  for (int64_t h = 2; h >= 1; --h) a.i64(t0 - h * ns_per_hour), a.u64(10), a.u64(500);
  a.u8(0);   // no template miner
  a.u64(0);  // no firings
  std::string v4 = e.substr(0, 48);
  StateWriter one;
  one.u64(1);
  // Formats 6 to 8 added the held events and the room, the logs' start and clusters, then the
  // models' first appearances.
  v4 += one.data() + a.data() + e.substr(56, e.size() - 56 - 64);

  DetectionEngine loaded(without_thresholds(), {}, rec);
  StateReader in(v4, 4);
  loaded.load_state(in);
  CHECK(loaded.stats().accounts_seen == 0);
  StateWriter now;
  loaded.save_state(now);
  CHECK(holds(now.data(), "volume_spike"));
  CHECK(holds(now.data(), "logit_probe"));
  // And it reads back as it was written.
  DetectionEngine again(without_thresholds(), {}, rec);
  StateReader in5(now.data());
  again.load_state(in5);
  StateWriter twice;
  again.save_state(twice);
  CHECK(twice.data() == now.data());
}

namespace {

/// `state` with detector `name`'s part (there once) rewritten by `edit`.
std::string edit_part(const std::string& state, const std::string& name,
                      const std::function<std::string(std::string)>& edit) {
  size_t at = state.find(name);
  REQUIRE(at != std::string::npos);
  REQUIRE(state.find(name, at + 1) == std::string::npos);
  size_t length_at = at + name.size();
  StateReader length(std::string_view(state).substr(length_at, 8));
  uint64_t size = length.u64();
  std::string part = edit(state.substr(length_at + 8, size));
  StateWriter prefix;
  prefix.u64(part.size());
  return state.substr(0, length_at) + prefix.data() + part + state.substr(length_at + 8 + size);
}

/// `bytes` less the `n` bytes from `from` (counted from the end), which must be zeros.
std::string drop_zeros(std::string bytes, size_t from_end, size_t n) {
  REQUIRE(bytes.size() >= from_end);
  size_t at = bytes.size() - from_end;
  REQUIRE(at + n <= bytes.size());
  CHECK(bytes.substr(at, n) == std::string(n, '\0'));
  return bytes.erase(at, n);
}

/// The engine loads `old` as format `version` and saves it as `now`.
void loads_as(const RuleSet& rules, const std::string& old, uint32_t version,
              const std::string& now) {
  Recorder rec;
  DetectionEngine loaded(rules, {}, rec);
  StateReader in(old, version);
  loaded.load_state(in);
  StateWriter again;
  loaded.save_state(again);
  CHECK(again.data() == now);
  // Read as this build's format, the parts are short: refused, not misread.
  DetectionEngine strict(rules, {}, rec);
  StateReader as_now(old);
  CHECK_THROWS_AS(strict.load_state(as_now), StateError);
}

}  // namespace

TEST_CASE("a format 11 state's distillation_sweep part, segments alone, still loads",
          "[engine][state]") {
  // Format 12 ends the part with whether it holds a cluster's shared prompts (here not: 0).
  RuleSet rules = without_thresholds();
  rules.prompt_templating.enabled = false;  // (format 13 changed its part)
  std::string now = probed_state(rules);
  std::string v11 = edit_part(now, "distillation_sweep",
                              [](std::string p) { return drop_zeros(std::move(p), 1, 1); });
  loads_as(rules, v11, 11, now);
}

TEST_CASE("a format 12 state's prompt_templating part, without slot answers, still loads",
          "[engine][state]") {
  // Format 13 added the answers against their slots' fills: after each of a shape's counts
  // (one shape here: its window's counts and slot answers, its life's, then the templates'
  // count), and the key's two at the end. Nothing fit a template, so all are zeros.
  RuleSet rules = without_thresholds();
  std::string now = probed_state(rules);
  const size_t slot = 6 * 8 + 2 * 8, counts = 3 * 8 + 8;
  std::string v12 = edit_part(now, "prompt_templating", [&](std::string p) {
    p = drop_zeros(std::move(p), 2 * slot, 2 * slot);          // the key's
    p = drop_zeros(std::move(p), 8 + slot, slot);              // the life's
    return drop_zeros(std::move(p), 8 + counts + slot, slot);  // the window's
  });
  loads_as(rules, v12, 12, now);
}
