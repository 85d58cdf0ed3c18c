// Calibrated severity bars: the score mapping, the engine under learnt bars (what a detector holds
// under high stays there), the histograms and the bars learnt from them, the rules file written.
#include "engine_test_util.h"

#include <exfilscan/rules/calibration.h>

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// One logit_bias probe a little past its bar (no cap: its score rises with the maps it sends).
std::vector<Finding> probe(const SeverityBars& bars) {
  Stream s;
  Recorder rec;
  RuleSet rules = only("logit_probe");
  rules.logit_probe.bars = bars;
  DetectionEngine engine(rules, {}, rec);
  for (int i = 0; i < 25; ++i) {
    Event e = s.event(t0 + i * 30 * ns_per_second, "prober", 1);
    e.params.logprobs = true;
    e.params.logit_bias_entries = 1;
    e.params.logit_bias_hash = 1000 + static_cast<uint64_t>(i);
    e.prompt_tokens = 7;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

/// The volume spike of engine_test.cpp: a spike alone is held at medium.
std::vector<Finding> spike(const SeverityBars& bars) {
  Stream s;
  Recorder rec;
  RuleSet rules = only("volume_spike");
  rules.volume_spike.bars = bars;
  DetectionEngine engine(rules, {}, rec);
  for (int h = 0; h < 24; ++h)
    for (int i = 0; i < 20; ++i)
      engine.on_event(s.event(t0 + h * ns_per_hour + i * 3 * ns_per_minute, "k"));
  int64_t burst = t0 + 24 * ns_per_hour;
  for (int i = 0; i < 600; ++i) engine.on_event(s.event(burst + i * 6 * ns_per_second, "k", 800));
  engine.finish();
  return rec.findings;
}

Severity strongest(const std::vector<Finding>& findings) {
  Severity s = Severity::info;
  for (const Finding& f : findings) s = std::max(s, f.severity);
  return s;
}

bool has_metric(const Finding& f, std::string_view name) {
  for (const Metric& m : f.metrics)
    if (m.name == name) return true;
  return false;
}

}  // namespace

TEST_CASE("calibrated bars map scores onto the severity scale", "[calibration]") {
  SeverityBars builtin{0.5, 0.75};
  for (double x : {0.0, 0.1, 0.5, 0.6123456789, 0.75, 0.99, 1.0})
    CHECK(calibrated_score(x, builtin) == x);  // exactly
  SeverityBars learnt{0.4, 0.6};
  CHECK(calibrated_score(0.4, learnt) == Approx(0.5));
  CHECK(calibrated_score(0.6, learnt) == Approx(0.75));
  CHECK(calibrated_score(1.0, learnt) == Approx(1.0));
  CHECK(calibrated_score(0.2, learnt) == Approx(0.25));
  CHECK(severity_of_score(calibrated_score(0.59, learnt)) == Severity::medium);
  CHECK(severity_of_score(calibrated_score(0.61, learnt)) == Severity::high);
  double last = -1;
  for (int i = 0; i <= 100; ++i) {
    double y = calibrated_score(i / 100.0, learnt);
    CHECK(y >= last);
    last = y;
  }
  // A bar at 1: only a full score is high.
  CHECK(calibrated_score(0.99, {0.5, 1.0}) < 0.75);
  CHECK(calibrated_score(1.0, {0.5, 1.0}) == Approx(0.75));
}

TEST_CASE("the engine judges with calibrated bars", "[calibration][engine]") {
  std::vector<Finding> builtin = probe({0.5, 0.75});
  REQUIRE(!builtin.empty());
  for (const Finding& f : builtin) CHECK(!has_metric(f, "raw_score"));
  double top = 0;
  for (const Finding& f : builtin) top = std::max(top, f.score);
  REQUIRE(top < 0.95);
  // Bars under the probe's score: its findings rise; bars above it: they fall.
  std::vector<Finding> lowered = probe({0.3, 0.5});
  CHECK(strongest(lowered) > strongest(builtin));
  REQUIRE(!lowered.empty());
  CHECK(has_metric(lowered.back(), "raw_score"));
  std::vector<Finding> raised = probe({0.95, 0.99});
  CHECK(strongest(raised) < strongest(builtin));
}

TEST_CASE("what a detector holds under high stays there under lowered bars", "[calibration]") {
  // A spike alone is medium at most, however low the bars are set.
  std::vector<Finding> lowered = spike({0.3, 0.55});
  REQUIRE(!lowered.empty());
  for (const Finding& f : lowered) {
    CHECK(f.severity == Severity::medium);
    CHECK(f.score <= 0.74);
  }
}

TEST_CASE("score histograms count accounts and name the highest", "[calibration]") {
  ScoreHistograms h({"a", "b"}, 2);
  h.add("k1", {{"a", 0.8}, {"threshold_rule", 0.95}});
  h.add("k2", {{"a", 0.6}, {"b", 0.7}});
  h.add("k3", {{"a", 0.8}});
  h.add_quiet(97);
  CHECK(h.accounts() == 100);
  CHECK(h.fired(0) == 3);
  CHECK(h.fired(1) == 1);
  CHECK(h.at_or_above(0, 750) == 2);
  CHECK(h.at_or_above(0, 600) == 3);  // a score at a bin's edge is in that bin
  CHECK(h.quantile(0, 0.5) == 0);
  CHECK(h.quantile(0, 1) == Approx(0.8));
  REQUIRE(h.top(0).size() == 2);
  CHECK(h.top(0)[0].rule == "k1");  // ties: key order
  CHECK(h.top(0)[1].rule == "k3");
}

TEST_CASE("learnt bars keep the target share of accounts under high", "[calibration]") {
  // 20,000 accounts: detector "a" scores a tail of 200 over 0.5 to 0.9, "b" 20 at 0.95.
  ScoreHistograms h({"a", "b"});
  for (int i = 0; i < 200; ++i) h.add(fmt::format("a{:03}", i), {{"a", 0.5 + 0.4 * i / 199.0}});
  for (int i = 0; i < 20; ++i) h.add(fmt::format("b{:02}", i), {{"b", 0.95}});
  h.add_quiet(20000 - 220);
  CalibrationOptions o;
  o.target_fpr = 0.001;  // 20 accounts at high, over both detectors
  CalibrationResult r = learn_bars(h, o);
  REQUIRE(r.detectors.size() == 2);
  const DetectorBars& a = r.detectors[0];
  const DetectorBars& b = r.detectors[1];
  CHECK(a.at_high + b.at_high <= 20);
  CHECK(a.bars.high > 0.75);  // the tail of "a" lifts its bar over the built-in one
  CHECK(b.bars.high > 0.95);  // the 20 of "b" alone would use the whole target
  CHECK(a.bars.medium < a.bars.high);
  CHECK(a.at_medium <= 200);
  // The accounts that lifted a bar over the built-in one are named.
  bool named = false;
  for (const std::string& w : r.warnings) named |= w.find("\"a199\"") != std::string::npos;
  CHECK(named);

  // Quiet known-good traffic lowers the bars, never under the floor.
  ScoreHistograms quiet({"a"});
  quiet.add("x", {{"a", 0.52}});
  quiet.add_quiet(19999);
  CalibrationResult q = learn_bars(quiet, o);
  CHECK(q.detectors[0].bars.high == Approx(o.min_high_bar));
  CHECK(q.detectors[0].bars.medium == Approx(o.min_medium_bar));
  CHECK(q.warnings.empty());
}

TEST_CASE("too few accounts for the target are refused, or widened", "[calibration]") {
  ScoreHistograms h({"a"});
  h.add_quiet(1000);
  CalibrationOptions o;
  o.target_fpr = 0.0001;
  REQUIRE_THROWS_AS(learn_bars(h, o), CalibrationError);
  try {
    learn_bars(h, o);
  } catch (const CalibrationError& e) {
    CHECK_THAT(e.what(), Catch::Contains("1,000 accounts cannot calibrate a target of 0.01%"));
    CHECK_THAT(e.what(), Catch::Contains("--widen"));
  }
  o.widen = true;
  CalibrationResult r = learn_bars(h, o);
  CHECK(r.target_fpr == Approx(0.01));
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains("widened to 1%"));
  // The share used is the one said, not rounded to a whole percent (10 / 445 is 2.2%).
  ScoreHistograms few({"a"});
  few.add_quiet(445);
  CalibrationResult w = learn_bars(few, o);
  REQUIRE(w.warnings.size() == 1);
  CHECK_THAT(w.warnings[0], Catch::Contains("widened to 2.2%"));
  CHECK_THAT(calibrated_rules_toml(default_rules(), w, {"exfilscan test", "n", "a", "b", 1, 0}),
             Catch::Contains("at most 2.2% of these accounts reach high and 22% medium"));
  ScoreHistograms tiny({"a"});
  tiny.add_quiet(20);
  CHECK_THROWS_AS(learn_bars(tiny, o), CalibrationError);  // not even at 10%
}

TEST_CASE("a detector at a full score on too many accounts is said", "[calibration]") {
  ScoreHistograms h({"logit_probe"});
  for (int i = 0; i < 50; ++i) h.add(fmt::format("k{}", i), {{"logit_probe", 1.0}});
  h.add_quiet(19950);
  CalibrationResult r = learn_bars(h, {});
  CHECK(r.detectors[0].saturated);
  CHECK(r.detectors[0].bars.high == 1.0);
  // Its file still loads: the medium bar stays under the high one, within what rules accept.
  CalibrationSource src{"exfilscan test", "full", "a", "b", 1, 0};
  RuleSet loaded = compile_complete_rules(calibrated_rules_toml(default_rules(), r, src), "c.toml");
  CHECK(loaded.logit_probe.bars.high == 1.0);
  bool said = false;
  for (const std::string& w : r.warnings) said |= w.find("no bar holds it") != std::string::npos;
  CHECK(said);
}

TEST_CASE("scores held under high count at medium only", "[calibration]") {
  // 100 of 20,000 accounts spike: held at medium (a spike alone), they cannot reach high under any
  // bars, so they take none of the share at high.
  ScoreHistograms h({"volume_spike", "b"});
  for (int i = 0; i < 100; ++i) h.add(fmt::format("v{:03}", i), {{"volume_spike", 0, 0.65}});
  for (int i = 0; i < 200; ++i) h.add(fmt::format("b{:03}", i), {{"b", 0.5 + 0.4 * i / 199.0}});
  h.add_quiet(20000 - 300);
  CalibrationResult r = learn_bars(h, {});
  const DetectorBars& v = r.detectors[0];
  CHECK(v.fired == 100);
  CHECK(v.at_high == 0);
  CHECK(v.bars.high == Approx(CalibrationOptions{}.min_high_bar));
  CHECK(v.at_medium == 100);
  CHECK(v.max == Approx(0.65));
  CHECK(r.detectors[1].at_high > 10);  // the whole share at high is b's
  CHECK(r.detectors[1].at_high <= 20);
  // From the engine: a spike's verdicts are held, so its strongest score that may reach high is 0.
  ScoreHistograms from_engine({"volume_spike"});
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("volume_spike"), {}, rec);
  for (int hour = 0; hour < 24; ++hour)
    for (int i = 0; i < 20; ++i)
      engine.on_event(s.event(t0 + hour * ns_per_hour + i * 3 * ns_per_minute, "k"));
  for (int i = 0; i < 600; ++i)
    engine.on_event(s.event(t0 + 24 * ns_per_hour + i * 6 * ns_per_second, "k", 800));
  engine.finish();
  REQUIRE(!rec.findings.empty());
  std::vector<AccountSummary> ranking = engine.ranking(0);
  REQUIRE(ranking.size() == 1);
  REQUIRE(ranking[0].rule_scores.size() == 1);
  CHECK(ranking[0].rule_scores[0].score == 0);
  CHECK(ranking[0].rule_scores[0].medium_score >= rec.findings.front().score);
  CHECK(ranking[0].rule_scores[0].medium_score <= default_rules().volume_spike.max_score);
}

TEST_CASE("accounts named in warnings cannot drive a terminal", "[calibration]") {
  // Keys come from the logs: a C1 CSI (U+009B) or an ESC in one is not written as it is.
  ScoreHistograms h({"a"});
  for (int i = 0; i < 100; ++i) h.add(fmt::format("k{:03}", i), {{"a", 0.8}});
  h.add(
      "k\xc2\x9b"
      "2J\x1b[31m",
      {{"a", 0.99}});
  h.add_quiet(19899);
  CalibrationResult r = learn_bars(h, {});
  bool named = false;
  for (const std::string& w : r.warnings) {
    named |= w.find("\"k\\xc2\\x9b2J\\x1b[31m\" 0.99") != std::string::npos;
    CHECK(w.find("\xc2\x9b") == std::string::npos);
    CHECK(w.find('\x1b') == std::string::npos);
  }
  CHECK(named);
}

TEST_CASE("a saturated detector leaves the target to the others", "[calibration]") {
  // "a" is at a full score on 50 of 20,000 accounts: no bar holds it to 20. "b" has a tail of 200
  // from 0.5 to 0.9: its bar should still let up to the target reach high, not rise above its
  // highest score because "a" alone is over the whole target.
  ScoreHistograms h({"a", "b"});
  for (int i = 0; i < 50; ++i) h.add(fmt::format("a{:02}", i), {{"a", 1.0}});
  for (int i = 0; i < 200; ++i) h.add(fmt::format("b{:03}", i), {{"b", 0.5 + 0.4 * i / 199.0}});
  h.add_quiet(20000 - 250);
  CalibrationResult r = learn_bars(h, {});
  CHECK(r.detectors[0].saturated);
  CHECK(r.detectors[0].bars.high == 1.0);
  CHECK(!r.detectors[1].saturated);
  CHECK(r.detectors[1].at_high > 10);
  CHECK(r.detectors[1].at_high <= 20);
  CHECK(r.detectors[1].bars.high < 0.9);
}

TEST_CASE("the calibrated rules file loads and carries its bars and name", "[calibration]") {
  ScoreHistograms h({"distillation_sweep", "volume_spike"});
  for (int i = 0; i < 100; ++i)
    h.add(fmt::format("k{}", i), {{"distillation_sweep", 0.6 + 0.003 * i}});
  h.add_quiet(19900);
  CalibrationResult r = learn_bars(h, {});
  CalibrationSource src{"exfilscan test",
                        "nightly \"A\"\nnext",
                        "2026-11-01T00:00:00Z",
                        "2026-11-08T00:00:00Z",
                        123,
                        0};
  std::string text = calibrated_rules_toml(default_rules(), r, src);
  CHECK_THAT(text, Catch::Contains("# Calibrated by exfilscan test on 20,000 accounts"));
  CHECK_THAT(text,
             Catch::Contains("Scan with `exfilscan scan --rules THIS_FILE` (accounts by api_key"));
  src.group_by = "org";  // bars learnt on orgs judge orgs: the file says how to scan with it
  CHECK_THAT(calibrated_rules_toml(default_rules(), r, src),
             Catch::Contains("`exfilscan scan --group-by org --rules THIS_FILE`"));
  RuleSet loaded = compile_complete_rules(text, "calibrated.toml");
  CHECK(loaded.distillation_sweep.bars.high == Approx(r.detectors[0].bars.high));
  CHECK(loaded.distillation_sweep.bars.high > 0.75);
  CHECK(loaded.volume_spike.bars.high == Approx(CalibrationOptions{}.min_high_bar));
  CHECK(loaded.calibration.name == "nightly \"A\"\nnext");
  CHECK(loaded.calibration.accounts == 20000);
  CHECK(loaded.calibration.target_fpr == Approx(0.001));
  // Read on top of the built-in rules, as scan --rules does.
  RuleSet merged = default_rules();
  merge_rules(merged, text, "calibrated.toml");
  CHECK(merged.distillation_sweep.bars == loaded.distillation_sweep.bars);
}

TEST_CASE("severity bars are checked when rules are read", "[calibration][rules]") {
  RuleSet r = default_rules();
  CHECK_THROWS_WITH(
      merge_rules(r, "[detectors.logit_probe]\nmedium_bar = 0.8\nhigh_bar = 0.7\n", "t.toml"),
      Catch::Contains("high_bar: above medium_bar"));
  CHECK_THROWS_WITH(merge_rules(r, "[detectors.logit_probe]\nhigh_bar = 1.5\n", "t.toml"),
                    Catch::Contains("expected a number from 0.1 to 1"));
  CHECK_THROWS_WITH(merge_rules(r, "[calibration]\nname = 3\n", "t.toml"),
                    Catch::Contains("expected a string"));
}

TEST_CASE("a sweep shorter than short_sweep gets no sustained bonus", "[calibration][detectors]") {
  // 400 requests in 20 minutes, long answers: sustained by count, but a one-off eval by its
  // length. It stays under max_score_short_sweep with no bonus (as before bars were learnt), and
  // is held under high, whether or not it reached the cap.
  auto run = [](double bonus) {
    Stream s;
    Recorder rec;
    RuleSet rules = only("distillation_sweep");
    rules.distillation_sweep.min_score = 0.2;  // metadata only: a low score that still fires
    rules.distillation_sweep.sustained_bonus = bonus;
    DetectionEngine engine(rules, {}, rec);
    for (int i = 0; i < 400; ++i) engine.on_event(s.event(t0 + i * 3 * ns_per_second, "k", 2000));
    engine.finish();
    REQUIRE(!rec.findings.empty());
    std::vector<AccountSummary> ranking = engine.ranking(0);
    REQUIRE(ranking.size() == 1);
    return ranking[0].rule_scores.at(0);
  };
  RuleScore with = run(0.1), without = run(0);
  CHECK(with.medium_score == without.medium_score);  // the strongest score of the run
  CHECK(with.medium_score < 0.7);
  CHECK(with.score == 0);  // held under high: no score that may reach it
}
