// The longer horizons: evidence pooled over a day of windows and over a template's life, and
// whether answers are the product for their length.

#include "engine/account_state.h"
#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <cmath>

using namespace exfilscan;
using namespace exfilscan::test;
using exfilscan::detail::LengthPairs;
using exfilscan::detail::PooledEvidence;
using exfilscan::detail::WindowEvidence;

namespace {

const char* verbs[] = {"Explain", "Describe", "Summarize", "Compare", "List", "Write"};
const char* topics[] = {"rivers",   "volcanoes", "jazz",     "tax law", "orbits",  "bread", "chess",
                        "glaciers", "poetry",    "vaccines", "bridges", "markets", "tides"};
const char* forms[] = {"for a child", "in three points", "with an example", "briefly",
                       "as a story",  "for an expert",   "with a table"};

/// `per_hour` instruction-style prompts an hour, evenly spaced, for `hours`.
std::vector<Finding> slow_sweep(const RuleSet& rules, int per_hour, int hours) {
  Stream s;
  Recorder rec;
  DetectionEngine engine(rules, {}, rec);
  std::vector<PromptPart> parts(1);
  int64_t gap = ns_per_hour / per_hour;
  for (int i = 0; i < per_hour * hours; ++i) {
    Event e = s.event(t0 + i * gap, "slow", 700);
    parts[0] = {PromptRole::user,
                s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

double metric(const Finding& f, std::string_view name) {
  for (const Metric& m : f.metrics)
    if (m.name == name) return m.value;
  return -1;
}

}  // namespace

TEST_CASE("a slow sweep's hours add up on the day horizon", "[engine][horizons]") {
  // 8 an hour never reach the sweep's 60 requests in one window; over a day they do.
  std::vector<Finding> day = slow_sweep(only("distillation_sweep"), 8, 30);
  REQUIRE_FALSE(day.empty());
  const Finding& f = day.front();
  CHECK(f.rule == "distillation_sweep");
  CHECK(metric(f, "requests") >= 60);
  CHECK(metric(f, "span_hours") > 6);
  CHECK(f.reason.find("hours") != std::string::npos);  // it says over what span

  // With the day horizon as short as the window (and a history of an hour), it says nothing.
  RuleSet window_only = only("distillation_sweep");
  merge_rules(window_only, "[settings]\nday = \"1h\"\nhistory_half_life = \"1h\"\n", "test");
  CHECK(slow_sweep(window_only, 8, 30).empty());
}

TEST_CASE("windows leave the day horizon a day after they started", "[engine][horizons]") {
  // 8 an hour for 6 hours (48 requests: under the minimum), a day and a half of quiet, then 8
  // an hour again: the old hours are gone from the day, so nothing reaches 60 there (the
  // history, with a half-life of an hour here, has forgotten them too).
  Stream s;
  Recorder rec;
  RuleSet rules = only("distillation_sweep");
  merge_rules(rules, "[settings]\nhistory_half_life = \"1h\"\n", "test");
  DetectionEngine engine(rules, {}, rec);
  std::vector<PromptPart> parts(1);
  auto send = [&](int64_t start, int n) {
    for (int i = 0; i < n; ++i) {
      Event e = s.event(start + i * (ns_per_hour / 8), "gappy", 700);
      parts[0] = {PromptRole::user,
                  s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
      e.prompt = parts;
      engine.on_event(e);
    }
  };
  send(t0, 48);
  send(t0 + 36 * ns_per_hour, 48);
  engine.finish();
  CHECK(rec.findings.empty());
}

TEST_CASE("a template filled a few times an hour for a day is templating", "[engine][horizons]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 6 * 24; ++i) {  // 6 an hour: never 20 prompts in one window
    Event e = s.event(t0 + i * (ns_per_hour / 6), "stamper", 600);
    parts[0] = {
        PromptRole::user,
        s.keep(fmt::format("Answer in full with sources. Question: what shaped {} {} in {}?",
                           topics[i % 13], forms[i % 7], 1800 + i))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  const Finding* f = rec.first("prompt_templating");
  REQUIRE(f);
  CHECK(metric(*f, "prompts_analysed") >= 20);
  CHECK(f->reason.find("over") != std::string::npos);
  CHECK(f->template_text.find("<*>") != std::string::npos);
}

namespace {

/// A templated pipeline whose answers are `answer(i, input)` tokens for inputs of varying length.
std::vector<Finding> templated(const std::function<int64_t(int, size_t)>& answer) {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 300; ++i) {
    // Inputs from a few words to a few hundred bytes.
    std::string text;
    for (int w = 0; w < 3 + (i * 7) % 60; ++w)
      text += fmt::format("{}{} ", topics[(i + w) % 13], w);
    size_t input = text.size() / 4;
    Event e = s.event(t0 + i * 10 * ns_per_second, "pipe", answer(i, input));
    parts[0] = {PromptRole::user, s.keep("Render this passage in German: " + text)};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

double best_score(const std::vector<Finding>& fs) {
  double best = 0;
  for (const Finding& f : fs) best = std::max(best, f.score);
  return best;
}

}  // namespace

TEST_CASE("short answers that follow their input's length are the product", "[engine][horizons]") {
  // A translation: about as long as what it was given, however short.
  double translation =
      best_score(templated([](int, size_t input) { return static_cast<int64_t>(20 + input); }));
  // A one-line summary: about the same length whatever it reads.
  double summary = best_score(templated([](int i, size_t) { return int64_t{35 + i % 15}; }));
  const TemplatingRule& rule = default_rules().prompt_templating;
  CHECK(summary <= rule.max_score_short_outputs);
  CHECK(translation > rule.max_score_short_outputs);
}

TEST_CASE("answers several times as long as what they answer are the product",
          "[engine][horizons]") {
  // A worked answer to a one-line problem: under long_completion_tokens, and its length does
  // not follow the problem's; a label or a one-line extract never is that long for its input.
  auto run = [](int64_t answer_from, int64_t answer_spread, int64_t prompt_tokens = 50) {
    Stream s;
    Recorder rec;
    DetectionEngine engine(only("prompt_templating"), {}, rec);
    std::vector<PromptPart> parts(1);
    for (int i = 0; i < 300; ++i) {
      Event e = s.event(t0 + i * 10 * ns_per_second, "pipe", answer_from + i * 7 % answer_spread);
      e.prompt_tokens = prompt_tokens;
      parts[0] = {PromptRole::user,
                  s.keep(fmt::format("Problem: how do {} shape {} {}?\nSolution:", topics[i % 13],
                                     topics[(i * 5 + 2) % 13], forms[i % 7]))};
      e.prompt = parts;
      engine.on_event(e);
    }
    engine.finish();
    return best_score(rec.findings);
  };
  const TemplatingRule& rule = default_rules().prompt_templating;
  double worked = run(120, 120);  // 120 to 240 tokens for about 12 asked
  double labelled = run(3, 4);
  INFO("worked " << worked << ", labelled " << labelled);
  CHECK(worked > rule.max_score_short_outputs);
  CHECK(labelled > 0);
  CHECK(labelled <= rule.max_score_short_outputs);
  // The same line over a document the log counts in the prompt's tokens: no longer a line.
  double read = run(120, 120, 400);
  CHECK(read > 0);
  CHECK(read <= rule.max_score_short_outputs);
}

TEST_CASE("answer lengths that follow prompt lengths correlate", "[horizons]") {
  LengthPairs follows, flat, few;
  for (int i = 1; i <= 50; ++i) {
    follows.add(10.0 * i, 9.0 * i + 3);
    flat.add(10.0 * i, 40 + (i % 3));
  }
  few.add(10, 10);
  few.add(20, 20);
  CHECK(follows.correlation() > 0.99);
  CHECK(std::fabs(flat.correlation()) < 0.3);
  CHECK(few.correlation() == 0);  // under 3 pairs
  LengthPairs halves = follows;
  halves = LengthPairs{};
  for (int i = 1; i <= 25; ++i) halves.add(10.0 * i, 9.0 * i + 3);
  LengthPairs rest;
  for (int i = 26; i <= 50; ++i) rest.add(10.0 * i, 9.0 * i + 3);
  halves.merge(rest);
  CHECK(halves.correlation() == Approx(follows.correlation()));
}

TEST_CASE("pooled gaps are those of one sequence", "[horizons]") {
  // Two windows' gaps (Welford each) pooled give the mean and variance of all the gaps.
  std::vector<double> a = {10, 12, 9, 11, 30}, b = {100, 80, 120};
  auto window = [](const std::vector<double>& gaps) {
    WindowEvidence e;
    double mean = 0, m2 = 0, n = 0;
    for (double g : gaps) {
      n += 1;
      double d = g - mean;
      mean += d / n;
      m2 += d * (g - mean);
    }
    e.gaps = static_cast<float>(n);
    e.gap_mean = static_cast<float>(mean);
    e.gap_m2 = static_cast<float>(m2);
    return e;
  };
  PooledEvidence pooled;
  pooled.add(window(a));
  pooled.add(window(b));
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  double mean = 0, var = 0;
  for (double g : all) mean += g / static_cast<double>(all.size());
  for (double g : all) var += (g - mean) * (g - mean) / static_cast<double>(all.size());
  CHECK(pooled.gaps == 8);
  CHECK(pooled.gap_mean == Approx(mean));
  CHECK(pooled.gap_variation(1) == Approx(std::sqrt(var) / mean));
  CHECK(pooled.gap_variation(9) == -1);  // too few gaps
}

namespace {

/// An application's key over a day: a system prompt, many end users, chat; with `injected`, a
/// sweep of one request in ten with neither system prompt nor end users.
std::vector<Finding> app_key(const RuleSet& rules, bool injected) {
  Stream s;
  Recorder rec;
  DetectionEngine engine(rules, {}, rec);
  std::vector<PromptPart> app(2), sweep(1);
  for (int i = 0; i < 24 * 120; ++i) {  // two a minute for a day
    int64_t ts = t0 + i * 30 * ns_per_second;
    if (injected && i % 10 == 0) {
      Event e = s.event(ts, "app-key", 700);
      sweep[0] = {PromptRole::user,
                  s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
      e.prompt = sweep;
      engine.on_event(e);
      continue;
    }
    Event e = s.event(ts, "app-key", 80 + i % 50);
    app[0] = {PromptRole::system, "You are the support assistant of Acme Parcels."};
    app[1] = {PromptRole::user, s.keep(fmt::format("hi, my parcel {} is late again, {}?", i,
                                                   i % 3 ? "any news" : "where is it"))};
    e.prompt = app;
    e.turns = 1 + i % 4;
    e.end_user = s.keep(fmt::format("customer-{}", i % 400));
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

}  // namespace

TEST_CASE("a sweep in a tenth of an application's key is found in its part", "[engine][horizons]") {
  RuleSet rules = only("distillation_sweep");
  CHECK(app_key(rules, false).empty());
  std::vector<Finding> found = app_key(rules, true);
  REQUIRE_FALSE(found.empty());
  const Finding& f = found.front();
  CHECK(f.reason.find("of the key's traffic (no system prompt, no end users)") !=
        std::string::npos);
  CHECK(metric(f, "segment_share") == Approx(0.1).margin(0.02));
  // Without parts, the key's totals average it away.
  merge_rules(rules, "[detectors.distillation_sweep]\nmax_segments = 0\n", "test");
  CHECK(app_key(rules, true).empty());
}

TEST_CASE("a sweep too slow for a day adds up over the history", "[engine][horizons]") {
  // 2 an hour: 48 a day, under the sweep's 60 requests; over days the decayed history holds them.
  std::vector<Finding> slow = slow_sweep(only("distillation_sweep"), 2, 24 * 5);
  REQUIRE_FALSE(slow.empty());
  CHECK(metric(slow.front(), "span_hours") > 24);
  // With a half-life of an hour, the history holds little more than the last hours.
  RuleSet short_memory = only("distillation_sweep");
  merge_rules(short_memory, "[settings]\nhistory_half_life = \"1h\"\n", "test");
  CHECK(slow_sweep(short_memory, 2, 24 * 5).empty());
}

// Found by review (issue 14): each failed before its fix.

TEST_CASE("a temperature a live run takes never makes its state unloadable", "[engine][state]") {
  Stream s;
  Recorder rec;
  RuleSet rules = default_rules();
  DetectionEngine day1(rules, {}, rec);
  for (int i = 0; i < 3; ++i) {
    Event e = s.event(t0 + i * 2 * ns_per_hour, "warm", 100);
    e.params.temperature = i == 0 ? -2.0 : 1e300;
    day1.on_event(e);
  }
  StateWriter w;
  day1.save_state(w);
  DetectionEngine day2(rules, {}, rec);
  StateReader in(w.data());
  CHECK_NOTHROW(day2.load_state(in));
}

TEST_CASE("equal lengths correlate with nothing", "[horizons]") {
  // Fixed-length prompts with fixed-length answers: no spread, no correlation, however the
  // sums round.
  for (int n : {20, 97, 400}) {
    LengthPairs flat;
    for (int i = 0; i < n; ++i) flat.add(37, 32);
    CHECK(flat.correlation() == 0);
  }
  LengthPairs any;
  for (int i = 1; i < 300; ++i) any.add(10.0 + i % 7, 30.0 + (i * 13) % 11);
  CHECK(std::fabs(any.correlation()) <= 1);
}

TEST_CASE("a classifier with fixed-length prompts is no translation", "[engine][horizons]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 400; ++i) {
    Event e = s.event(t0 + i * 9 * ns_per_second, "classifier", 32);
    parts[0] = {PromptRole::user,
                s.keep(fmt::format("Classify support ticket {} by urgency", 100000 + i))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  for (const Finding& f : rec.findings)
    CHECK(f.score <= default_rules().prompt_templating.max_score_short_outputs);
}

TEST_CASE("parts of a key with steady health checks score a number", "[engine][horizons]") {
  // Two clients at 62 an hour each, no prompts: the gaps' variance must not go negative.
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("distillation_sweep"), {}, rec);
  int64_t gap = ns_per_hour / 62;
  for (int i = 0; i < 62 * 6; ++i)
    for (const char* agent : {"probe-a", "probe-b"}) {
      Event e = s.event(t0 + i * gap + (agent[6] == 'b' ? gap / 2 : 0), "health", 2);
      e.user_agent = agent;
      engine.on_event(e);
    }
  engine.finish();
  for (const Finding& f : rec.findings) CHECK(std::isfinite(f.score));
  CHECK(rec.count("distillation_sweep") == 0);
}

TEST_CASE("a part's day holds no window older than a day", "[engine][horizons]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("distillation_sweep");
  merge_rules(rules, "[settings]\nhistory_half_life = \"1h\"\n", "test");
  DetectionEngine engine(rules, {}, rec);
  std::vector<PromptPart> sweep(1), app(2);
  auto sweep_at = [&](int64_t ts, int i) {
    Event e = s.event(ts, "mixed", 700);
    e.user_agent = "script";
    sweep[0] = {PromptRole::user,
                s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
    e.prompt = sweep;
    engine.on_event(e);
  };
  for (int i = 0; i < 50; ++i) sweep_at(t0 + i * 30 * ns_per_second, i);
  int64_t later = t0 + 72 * ns_per_hour;
  for (int i = 0; i < 120; ++i) {
    Event e = s.event(later + i * 25 * ns_per_second, "mixed", 90);
    e.user_agent = "app";
    app[0] = {PromptRole::system, "You are the assistant of Acme."};
    app[1] = {PromptRole::user, s.keep(fmt::format("hello again {}", i))};
    e.prompt = app;
    engine.on_event(e);
    if (i % 8 == 0) sweep_at(later + i * 25 * ns_per_second + 1, i);
  }
  engine.finish();
  for (const Finding& f : rec.findings) CHECK(metric(f, "span_hours") < 25);
}

TEST_CASE("the longer horizons are judged every so often, and at every window's close",
          "[engine][horizons]") {
  // Judged once an hour (the window's close), the slow sweep is found as when judged every
  // ten minutes: its evidence is the same, only found up to an hour later.
  RuleSet hourly = only("distillation_sweep");
  merge_rules(hourly, "[settings]\nlong_horizon_every = \"1h\"\n", "test");
  std::vector<Finding> often = slow_sweep(only("distillation_sweep"), 8, 30);
  std::vector<Finding> rarely = slow_sweep(hourly, 8, 30);
  REQUIRE_FALSE(often.empty());
  REQUIRE_FALSE(rarely.empty());
  CHECK(rarely.front().detected_at_ns >= often.front().detected_at_ns);
  CHECK(rarely.front().detected_at_ns - often.front().detected_at_ns <= ns_per_hour);
  RuleSet bad = only("distillation_sweep");
  CHECK_THROWS_AS(merge_rules(bad, "[settings]\nlong_horizon_every = \"2h\"\n", "test"),
                  RulesError);
}
