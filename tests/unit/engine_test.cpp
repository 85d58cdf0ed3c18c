// The detection engine on synthetic event streams: windows, detectors, episodes, rules.
#include "engine_test_util.h"

#include "engine/account_state.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

TEST_CASE("volume spike against the account's own baseline", "[engine][volume]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("volume_spike"), {}, rec);
  // 24 quiet hours: 20 requests of 100 tokens an hour.
  for (int h = 0; h < 24; ++h)
    for (int i = 0; i < 20; ++i)
      engine.on_event(s.event(t0 + h * ns_per_hour + i * 3 * ns_per_minute, "k"));
  CHECK(rec.findings.empty());
  // Then 600 requests of 800 tokens within an hour: 480k tokens, far above 2k per hour.
  int64_t burst = t0 + 24 * ns_per_hour;
  for (int i = 0; i < 600; ++i) engine.on_event(s.event(burst + i * 6 * ns_per_second, "k", 800));
  engine.finish();
  // It may escalate once within the burst (low, then medium); never above medium.
  REQUIRE(rec.count("volume_spike") >= 1);
  CHECK(rec.count("volume_spike") <= 2);
  for (const Finding& g : rec.findings) CHECK(g.severity <= Severity::medium);
  const Finding& f = *rec.first("volume_spike");
  CHECK(f.key == "k");
  CHECK(f.key_kind == "api_key");
  CHECK(f.detected_at_ns >= burst);
  CHECK(f.detected_at_ns < burst + ns_per_hour);
  CHECK_THAT(f.reason, Catch::Contains("its own baseline"));
  CHECK(f.sample_request_ids.size() == 5);
}

TEST_CASE("an account's history keeps only what its baseline can use", "[engine][volume][state]") {
  // A key busy 8 hours a day: a week of it is 56 windows, well under the 168 kept at most. The
  // saved state after 10 days and after 20 has the same size (only times and ids differ).
  auto state_after = [](int days) {
    Stream s;
    Recorder rec;
    DetectionEngine engine(only("volume_spike"), {}, rec);
    for (int d = 0; d < days; ++d)
      for (int h = 9; h < 17; ++h)
        for (int i = 0; i < 10; ++i)
          engine.on_event(s.event(t0 + d * ns_per_day + h * ns_per_hour + i * 5 * ns_per_minute,
                                  "office", 100 + 10 * (d % 3)));
    StateWriter w;
    engine.save_state(w);
    return w.data().size();
  };
  // (Under 25 days: the population, this one account's windows, is still short of 200.)
  size_t ten_days = state_after(10);
  CHECK(state_after(20) == ten_days);
  CHECK(state_after(5) < ten_days);  // not yet a week of history
}

TEST_CASE("a steady heavy account is not a spike", "[engine][volume]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("volume_spike"), {}, rec);
  for (int h = 0; h < 48; ++h)
    for (int i = 0; i < 400; ++i)
      engine.on_event(s.event(t0 + h * ns_per_hour + i * 9 * ns_per_second, "big", 700));
  engine.finish();
  // Only the first hours, before its baseline exists, are judged as a new account.
  for (const Finding& f : rec.findings) CHECK(f.detected_at_ns < t0 + 13 * ns_per_hour);
  CHECK(rec.count("volume_spike") <= 1);
}

TEST_CASE("a finding fires once per episode and again after the cooldown", "[engine]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("logit_probe");
  DetectionEngine engine(rules, {}, rec);
  auto probe_hour = [&](int64_t start) {
    for (int i = 0; i < 100; ++i) {
      Event e = s.event(start + i * 30 * ns_per_second, "prober", 1);
      e.params.logprobs = true;
      e.params.logit_bias_entries = 1;
      e.params.logit_bias_hash = 1000 + static_cast<uint64_t>(i);
      e.prompt_tokens = 7;
      engine.on_event(e);
    }
  };
  probe_hour(t0);
  probe_hour(t0 + ns_per_hour);       // the same episode: no second finding at the same severity
  probe_hour(t0 + 12 * ns_per_hour);  // after 6h of quiet: a new episode
  engine.finish();
  CHECK(rec.count("logit_probe") >= 2);
  CHECK(rec.count("logit_probe") <= 4);  // escalations within an episode may add one each
  // In each episode findings come only when the severity rises.
  Severity last = Severity::info;
  int64_t episode = 0;
  for (const Finding& f : rec.findings) {
    int64_t e = f.detected_at_ns >= t0 + 12 * ns_per_hour;
    if (e != episode) last = Severity::info, episode = e;
    CHECK(f.severity > last);
    last = f.severity;
  }
  CHECK(rec.findings.back().detected_at_ns >= t0 + 12 * ns_per_hour);
}

TEST_CASE("threshold rules slide over their window", "[engine][threshold]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("none");
  merge_rules(rules, R"([[threshold]]
id = "many_429"
filter = { status = 429 }
window = "10m"
condition = "count > 50"
severity = "high"
)",
              "test");
  DetectionEngine engine(rules, {}, rec);
  // 50 throttled requests in 10 minutes: not over.
  for (int i = 0; i < 50; ++i) {
    Event e = s.event(t0 + i * 12 * ns_per_second, "k");
    e.status = 429;
    engine.on_event(e);
  }
  CHECK(rec.findings.empty());
  // The 51st inside the same 10 minutes crosses it.
  Event e = s.event(t0 + 9 * ns_per_minute + 59 * ns_per_second, "k");
  e.status = 429;
  engine.on_event(e);
  REQUIRE(rec.count("many_429") == 1);
  CHECK(rec.findings[0].severity == Severity::high);
  CHECK(rec.findings[0].metrics[0].value == 51);
  // 200 OK responses do not count.
  for (int i = 0; i < 100; ++i)
    engine.on_event(s.event(t0 + 10 * ns_per_minute + i * ns_per_second, "other"));
  CHECK(rec.count("many_429") == 1);
}

TEST_CASE("distinct() counts values in the window per group", "[engine][threshold]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("none");
  merge_rules(
      rules,
      "[[threshold]]\nid=\"fanout\"\ngroup_by=\"ip24\"\ncondition=\"distinct(api_key) >= 5\"\n",
      "t");
  DetectionEngine engine(rules, {}, rec);
  for (int i = 0; i < 5; ++i) {
    Event e = s.event(t0 + i * ns_per_minute, fmt::format("key{}", i % 4));
    e.ip = s.keep(fmt::format("203.0.113.{}", i));
    engine.on_event(e);
  }
  CHECK(rec.findings.empty());  // 4 keys so far
  Event e = s.event(t0 + 6 * ns_per_minute, "key9");
  e.ip = "203.0.113.200";
  engine.on_event(e);
  REQUIRE(rec.findings.size() == 1);
  CHECK(rec.findings[0].key == "203.0.113.0/24");
  CHECK(rec.findings[0].key_kind == "ip24");
}

TEST_CASE("a threshold finding's reason reads as a sentence (issue 19)", "[engine][threshold]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only_thresholds(R"([[threshold]]
id = "models"
description = "3+ models in an hour"
condition = "distinct(model) > 2"
[[threshold]]
id = "busy"
window = "10m"
condition = "count > 3"
)"),
                         {}, rec);
  for (int i = 0; i < 4; ++i) {
    Event e = s.event(t0 + i * ns_per_minute, "k");
    e.model = s.keep(fmt::format("m{}", i % 3));
    engine.on_event(e);
  }
  REQUIRE(rec.first("models"));
  CHECK(rec.first("models")->reason == "3+ models in an hour: distinct(model) is 3 (limit 2)");
  REQUIRE(rec.first("busy"));
  CHECK(rec.first("busy")->reason == "count > 3 in 10m: count is 4");
}

TEST_CASE("late events within the skew count, older ones are counted apart", "[engine]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("none"), {}, rec);
  engine.on_event(s.event(t0 + 2 * ns_per_hour, "k"));
  engine.on_event(s.event(t0 + 2 * ns_per_hour - 2 * ns_per_minute, "k"));  // within 5 min
  engine.on_event(s.event(t0 + ns_per_hour, "k"));                          // an hour late
  engine.finish();
  CHECK(engine.stats().late_events == 1);
  auto ranking = engine.ranking(10);
  REQUIRE(ranking.size() == 1);
  CHECK(ranking[0].requests == 2);
}

TEST_CASE("idle accounts expire and the account cap evicts, both counted", "[engine]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("none");
  rules.settings.idle_expiry_ns = 2 * ns_per_hour;
  rules.settings.max_accounts = 10;
  DetectionEngine engine(rules, {}, rec);
  for (int i = 0; i < 30; ++i)
    engine.on_event(s.event(t0 + i * ns_per_second, fmt::format("a{}", i)));
  // The cap holds at every event (issue 17): from the 11th key on, each new one evicts the
  // least recently seen, and at the cap a sixteenth (here one) is kept free.
  CHECK(engine.stats().accounts_evicted == 20);
  CHECK(engine.stats().accounts_active == 10);
  // An hour ahead of the clock: each time a second event confirms it.
  engine.on_event(s.event(t0 + ns_per_hour + ns_per_minute, "late-comer"));
  engine.on_event(s.event(t0 + ns_per_hour + ns_per_minute + ns_per_second, "late-comer"));
  CHECK(engine.stats().accounts_evicted == 22);  // room for late-comer, then one kept free
  CHECK(engine.stats().accounts_active == 9);
  engine.on_event(s.event(t0 + 4 * ns_per_hour, "late-comer"));
  engine.on_event(s.event(t0 + 4 * ns_per_hour + ns_per_second, "late-comer"));
  CHECK(engine.stats().accounts_expired == 9);  // late-comer too: idle 3 hours, then back
  CHECK(engine.stats().accounts_active == 1);
  CHECK(engine.stats().accounts_seen == 31);  // distinct keys: late-comer counts once
  CHECK(engine.stats().accounts_peak == 10);
}

TEST_CASE("a threshold rule firing on a key's first event counts towards its account",
          "[engine][threshold]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only_thresholds(R"([[threshold]]
id = "huge_answer"
condition = "sum(completion_tokens) > 50000"
severity = "medium"
)"),
                         {}, rec);
  engine.on_event(s.event(t0, "k", 60000));  // the account is new at this very event
  engine.finish();  // (a first event waits for a second to confirm the clock, or the end)
  REQUIRE(rec.count("huge_answer") == 1);
  CHECK(rec.findings[0].account_risk > 0);
  auto ranking = engine.ranking(0);
  REQUIRE(ranking.size() == 1);
  CHECK(ranking[0].key == "k");
  CHECK(ranking[0].rules == std::vector<std::string>{"huge_answer"});
}

TEST_CASE("summaries of idle flagged accounts stay within max_accounts, counted",
          "[engine][shards]") {
  // Keys flagged once and then forgotten (key rotation under a cron chain) must not grow the
  // state without end: over max_accounts, the summaries that would rank lowest go.
  for (size_t shards : {1, 3}) {
    Stream s;
    Recorder rec;
    RuleSet rules = only_thresholds(R"([[threshold]]
id = "any"
window = "10m"
condition = "count > 0"
severity = "low"
)");
    rules.settings.idle_expiry_ns = 2 * ns_per_hour;
    rules.settings.max_accounts = 3;
    EngineOptions options;
    options.shards = shards;
    DetectionEngine engine(rules, options, rec);
    for (int i = 0; i < 10; ++i)  // the same score: more completion tokens rank higher
      engine.on_event(s.event(t0 + i * ns_per_second, fmt::format("k{}", i), 100 * (i + 1)));
    engine.on_event(s.event(t0 + 5 * ns_per_hour, "later"));
    engine.finish();
    CHECK(engine.stats().summaries_dropped == 7);
    std::vector<std::string> ranked;
    for (const AccountSummary& a : engine.ranking(0)) ranked.push_back(a.key);
    CHECK(ranked == std::vector<std::string>{"k9", "k8", "k7", "later"});
  }
}

TEST_CASE("events without the group-by field are counted, not attributed", "[engine]") {
  Stream s;
  Recorder rec;
  EngineOptions by_org;
  by_org.group_by = GroupBy::org;
  DetectionEngine engine(only("none"), by_org, rec);
  engine.on_event(s.event(t0, "k"));
  engine.finish();
  CHECK(engine.stats().events_without_account == 1);
  CHECK(engine.ranking(10).empty());
}

TEST_CASE("a steady instruction sweep with long answers is a distillation sweep",
          "[engine][sweep]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("distillation_sweep"), {}, rec);
  std::vector<PromptPart> parts(1);
  // Many different tasks (no dominant template), as instruction sets are.
  const char* verbs[] = {"Explain", "Describe", "Summarize", "Compare", "List", "Write"};
  const char* topics[] = {"rivers",  "volcanoes", "jazz",     "tax law", "orbits",
                          "bread",   "chess",     "glaciers", "poetry",  "vaccines",
                          "bridges", "markets",   "tides"};
  const char* forms[] = {"for a child", "in three points", "with an example", "briefly",
                         "as a story",  "for an expert",   "with a table"};
  for (int i = 0; i < 900; ++i) {  // one every 4 s for an hour
    Event e = s.event(t0 + i * 4 * ns_per_second, "sweeper", 700);
    parts[0] = {PromptRole::user,
                s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  REQUIRE(rec.count("distillation_sweep") >= 1);
  const Finding& f = rec.findings.back();  // the latest verdict: a full window behind it
  auto metric = [&](std::string_view name) {
    for (const Metric& m : f.metrics)
      if (m.name == name) return m.value;
    return -1.0;
  };
  CHECK(metric("instruction_share") == 1);
  CHECK(metric("single_turn_share") == 1);
  CHECK(metric("long_completion") == 1);
  CHECK(metric("gap_variation") < 0.5);  // a machine's steady rate
  // Instruction style, diversity, single turns, long answers and a steady rate: medium on its
  // own at first, as a writing product can look like this; high once the same goes on past
  // sustained_ratio times the minimum evidence (900 requests over an hour).
  CHECK(rec.findings.front().severity == Severity::medium);
  CHECK(rec.findings.front().metrics.front().value < 300);  // requests
  CHECK(rec.findings.back().severity == Severity::high);
  // The same from an application (a system prompt, many end users) scores the same: raw API use
  // is no evidence (issue 13: backends send no system prompt and no users as often as scripts).
  Recorder app_rec;
  DetectionEngine app(only("distillation_sweep"), {}, app_rec);
  std::vector<PromptPart> app_parts(2);
  for (int i = 0; i < 900; ++i) {
    Event e = s.event(t0 + i * 4 * ns_per_second, "app", 700);
    app_parts[0] = {PromptRole::system, "You are the writing assistant of Acme Docs."};
    app_parts[1] = {PromptRole::user,
                    s.keep(fmt::format("{} {} {}", verbs[i % 6], topics[i % 13], forms[i % 7]))};
    e.prompt = app_parts;
    e.end_user = s.keep(fmt::format("user-{}", i % 37));
    app.on_event(e);
  }
  app.finish();
  REQUIRE_FALSE(app_rec.findings.empty());
  CHECK(app_rec.findings.back().score == Approx(rec.findings.back().score));
  Recorder cot_rec;
  DetectionEngine cot_engine(only("distillation_sweep"), {}, cot_rec);
  for (int i = 0; i < 900; ++i) {
    Event e = s.event(t0 + i * 4 * ns_per_second, "cot", 700);
    parts[0] = {PromptRole::user, s.keep(fmt::format("{} {} {}. Think step by step.", verbs[i % 6],
                                                     topics[i % 13], forms[i % 7]))};
    e.prompt = parts;
    cot_engine.on_event(e);
  }
  cot_engine.finish();
  REQUIRE_FALSE(cot_rec.findings.empty());
  CHECK(cot_rec.findings.back().severity >= Severity::high);
  // A one-off burst under half an hour stays medium at most.
  Recorder short_rec;
  DetectionEngine short_engine(only("distillation_sweep"), {}, short_rec);
  for (int i = 0; i < 400; ++i) {
    Event e = s.event(t0 + i * 3 * ns_per_second, "eval", 700);
    parts[0] = {PromptRole::user, s.keep(fmt::format("Solve problem {} step by step.", i))};
    e.prompt = parts;
    short_engine.on_event(e);
  }
  short_engine.finish();
  for (const Finding& g : short_rec.findings) CHECK(g.severity <= Severity::medium);
}

TEST_CASE("diverse multi-turn chat at the same volume is no sweep", "[engine][sweep]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("distillation_sweep"), {}, rec);
  std::vector<PromptPart> parts(2);
  for (int i = 0; i < 900; ++i) {
    Event e = s.event(t0 + (i * 4 + (i % 7) * (i % 5)) * ns_per_second, "chat-app", 150);
    parts[0] = {PromptRole::system, "You are the assistant of the Acme app."};
    parts[1] = {PromptRole::user,
                s.keep(fmt::format("hey so about my order {} it still hasn't come, any idea? {}", i,
                                   i % 13))};
    e.prompt = parts;
    e.turns = 1 + i % 4;
    engine.on_event(e);
  }
  engine.finish();
  CHECK(rec.count("distillation_sweep") == 0);
}

TEST_CASE("the detectors' window is configurable", "[engine]") {
  Stream s;
  Recorder rec;
  RuleSet rules = only("logit_probe");
  merge_rules(rules, "[settings]\nwindow = \"10m\"\n", "t");
  DetectionEngine engine(rules, {}, rec);
  // 15 distinct biases in each of two 10-minute windows: the probe's run adds up over windows
  // and fires in the second, whose start is 10 minutes in.
  for (int i = 0; i < 30; ++i) {
    Event e = s.event(t0 + i * 40 * ns_per_second, "p", 1);
    e.params.logprobs = true;
    e.params.logit_bias_entries = 1;
    e.params.logit_bias_hash = 7000 + static_cast<uint64_t>(i);
    engine.on_event(e);
  }
  engine.finish();
  REQUIRE(!rec.findings.empty());
  CHECK(rec.findings[0].window_start_ns == t0 + 10 * ns_per_minute);
  CHECK_THROWS_WITH(merge_rules(rules, "[settings]\nwindow = \"2d\"\n", "t"),
                    Catch::Contains("from 10m to 24h"));
}

TEST_CASE("one event from a broken clock does not expire everyone", "[engine]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("none"), {}, rec);
  for (int i = 0; i < 10; ++i)
    engine.on_event(s.event(t0 + i * ns_per_minute, fmt::format("k{}", i)));
  engine.on_event(s.event(t0 + 365 * ns_per_day, "k0"));  // a year ahead
  engine.on_event(s.event(t0 + 11 * ns_per_minute, "k1"));
  CHECK(engine.stats().accounts_expired == 0);
  CHECK(engine.stats().accounts_active == 10);
}

TEST_CASE("a window's median is its own, never the last window's", "[engine]") {
  // The median is kept between requests; a new window with as many requests must not get the
  // old one's.
  exfilscan::detail::WindowStats w;
  w.clear(0, ns_per_hour);
  for (double v : {10.0, 10.0, 10.0}) w.completion.add(v);
  double first = w.median_completion();
  w.clear(ns_per_hour, ns_per_hour);
  for (double v : {5000.0, 5000.0, 5000.0}) w.completion.add(v);
  CHECK(w.median_completion() > 100 * first);
  w.completion.add(5000);
  CHECK(w.median_completion() > 100 * first);
}

TEST_CASE("the population is usable from the close of its 200th window, in event time",
          "[engine][volume]") {
  // 300 accounts with one window each (10,000 tokens), starting 10 s apart: the 200th window
  // closes at t0 + 1990 s. The first 6 hours after that are the warm-up, when a new account
  // must do 9x the population's p99 rather than 3x. Two new accounts send 5x: the one first
  // seen inside the warm-up is not a spike, the one after it is.
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("volume_spike"), {}, rec);
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i)
    events.push_back(s.event(t0 + i * 10 * ns_per_second, fmt::format("bg{}", i), 10'000));
  int64_t since = t0 + 1990 * ns_per_second, warmup = 6 * ns_per_hour;
  for (auto [key, first] : {std::pair{"inside", since + warmup - 10 * ns_per_minute},
                            std::pair{"after", since + warmup + 10 * ns_per_minute}})
    for (int i = 0; i < 40; ++i)  // 50,000 tokens in 40 requests within 4 minutes
      events.push_back(s.event(first + i * 6 * ns_per_second, key, 1250));
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.timestamp_ns < b.timestamp_ns; });
  for (const Event& e : events) engine.on_event(e);
  engine.finish();
  CHECK(rec.count("volume_spike") == 1);
  REQUIRE(rec.first("volume_spike"));
  CHECK(rec.first("volume_spike")->key == "after");
}

TEST_CASE("a probe's distinct maps never exceed its requests (issue 19)", "[engine][probe]") {
  // Distinct counts are sketch estimates: past the sketch's exact range explain read "405
  // different logit_bias maps" for 400 requests. What is reported is bounded by what was counted.
  for (uint64_t seed = 0; seed < 40; ++seed) {
    int n = 400;
    Stream s;
    Recorder rec;
    std::vector<Explanation> seen;
    EngineOptions options;
    options.explain_key = "prober";
    options.explain = [&](const Explanation& e) { seen.push_back(e); };
    DetectionEngine engine(only("logit_probe"), options, rec);
    for (int i = 0; i < n; ++i) {
      Event e = s.event(t0 + i * (ns_per_hour / (n + 1)), "prober", 1);
      e.params.logprobs = true;
      e.params.logit_bias_entries = 1;
      e.params.logit_bias_hash = mix64(seed * 100000 + static_cast<uint64_t>(i));
      e.prompt_tokens = 7;
      engine.on_event(e);
    }
    engine.finish();
    size_t checked = 0;
    for (const Explanation& e : seen) {
      if (e.detector != "logit_probe") continue;
      double requests = -1, maps = -1;
      for (const Metric& m : e.metrics) {
        if (m.name == "probe_requests") requests = m.value;
        if (m.name == "max_distinct_biases_per_prompt") maps = m.value;
      }
      CHECK(maps <= requests);
      ++checked;
    }
    CHECK(checked == 1);
  }
}

namespace {

/// Logit-bias probes of `prompts` prompts, `per_hour` maps each an hour, for `hours` hours from
/// `start`; distinct maps throughout.
void slow_probe(DetectionEngine& engine, Stream& s, int64_t start, int prompts, int per_hour,
                int hours, uint64_t& next_map) {
  for (int h = 0; h < hours; ++h)
    for (int i = 0; i < per_hour; ++i)
      for (int p = 0; p < prompts; ++p) {
        int64_t t =
            start + h * ns_per_hour + (i * prompts + p) * (ns_per_hour / (per_hour * prompts));
        Event e = s.event(t, "slow", 1);
        e.params.logprobs = true;
        e.params.logit_bias_entries = 1;
        e.params.logit_bias_hash = mix64(++next_map);
        std::vector<PromptPart> parts{{PromptRole::user, s.keep(fmt::format("question {}", p))}};
        e.prompt = s.keep_parts(parts);
        engine.on_event(e);
      }
}

}  // namespace

TEST_CASE("a logit probe spread thin over hours adds up (issue 14)", "[engine][probe]") {
  // 3 prompts, 5 maps each an hour: never 20 maps of one prompt in an hour, 30 in six.
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("logit_probe"), {}, rec);
  uint64_t maps = 0;
  slow_probe(engine, s, t0, 3, 5, 6, maps);
  engine.finish();
  REQUIRE(rec.count("logit_probe") >= 1);
  const Finding& f = *rec.first("logit_probe");
  CHECK(f.detected_at_ns >= t0 + 3 * ns_per_hour);
  CHECK_THAT(f.reason, Catch::Contains("over 3 hours") || Catch::Contains("over 4 hours"));
}

TEST_CASE("a logit probe that pauses a day starts over", "[engine][probe]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("logit_probe"), {}, rec);
  uint64_t maps = 0;
  slow_probe(engine, s, t0, 1, 5, 3, maps);                   // 15 maps
  slow_probe(engine, s, t0 + 2 * ns_per_day, 1, 5, 3, maps);  // 15 more, two days on
  engine.finish();
  CHECK(rec.findings.empty());
}

TEST_CASE("a classifier's one fixed logit_bias map is no probe, and costs no state",
          "[engine][probe]") {
  auto state_bytes = [](RuleSet rules, Recorder& rec) {
    Stream s;
    DetectionEngine engine(rules, {}, rec);
    for (int i = 0; i < 5000; ++i) {
      Event e = s.event(t0 + i * 60 * ns_per_second, "classifier", 1);
      e.params.logprobs = true;
      e.params.logit_bias_entries = 2;
      e.params.logit_bias_hash = 42;  // the label tokens, the same map for every message
      std::vector<PromptPart> parts{{PromptRole::user, s.keep(fmt::format("Is this spam? {}", i))}};
      e.prompt = s.keep_parts(parts);
      engine.on_event(e);
    }
    engine.finish(false);
    StateWriter w;
    engine.save_state(w);
    return w.data().size();
  };
  Recorder rec, none;
  size_t with_probe = state_bytes(only("logit_probe"), rec);
  size_t without = state_bytes(only("none"), none);
  CHECK(rec.findings.empty());
  // Each window's prompts are forgotten when it closes: the open window's alone are kept.
  CHECK(with_probe < without + 60 * 600);
}
