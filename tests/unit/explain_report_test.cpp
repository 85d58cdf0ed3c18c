// explain's output (issue 19): the bar each "no" missed, estimates bounded by their counts,
// JSON lines, --only-flagged. Fed through the real reader.
#include <exfilscan/engine/engine.h>
#include <exfilscan/report/explain_report.h>

#include "test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

struct Explained {
  std::vector<Explanation> raw;  // as the engine told them
  std::string text, jsonl;
};

/// Explains `key` over `log` under `rules`, in both formats.
Explained explain(const std::string& log, const std::string& key, const RuleSet& rules,
                  bool only_flagged = false) {
  Explained out;
  for (ExplainFormat format : {ExplainFormat::text, ExplainFormat::jsonl}) {
    ExplainOptions options;
    options.format = format;
    options.only_flagged = only_flagged;
    ExplainReport report(options, rules, key);
    EngineOptions engine_options;
    engine_options.explain_key = key;
    engine_options.explain = [&](const Explanation& e) {
      if (format == ExplainFormat::text) out.raw.push_back(e);
      report.on_explanation(e);
    };
    DetectionEngine engine(rules, engine_options, report);
    TempFile file(log);
    BadLineLog bad({}, stderr);
    ReaderOptions reader;
    reader.parser.read_prompt_text = true;
    ReadResult r = read_inputs({file.path()}, reader, engine, bad);
    REQUIRE(r.failure == ReadFailure::none);
    engine.finish();
    std::vector<AccountSummary> ranking = engine.ranking(SIZE_MAX);
    const AccountSummary* account = nullptr;
    for (const AccountSummary& a : ranking)
      if (a.key == key) account = &a;
    REQUIRE(account);
    std::string text = report.finish(account, engine.threshold_peaks(key), GroupBy::api_key,
                                     {r.stats.lines, r.stats.events, 0});
    (format == ExplainFormat::text ? out.text : out.jsonl) = text;
  }
  return out;
}

/// One line of a probe: the same prompt, logit_bias map number `i`, a one-token answer.
std::string probe(int i, const char* key = "prober") {
  return fmt::format(
      R"({{"timestamp":"2026-11-02T10:{:02d}:{:02d}.{:03d}Z","api_key_id":"{}",)"
      R"("request":{{"model":"gpt-4o","logprobs":true,"max_tokens":1,"logit_bias":{{"{}":-100}},)"
      R"("messages":[{{"role":"user","content":"Say yes"}}]}},)"
      R"("response":{{"status":200,"usage":{{"prompt_tokens":5,"completion_tokens":1}}}}}})"
      "\n",
      i / 60 % 60, i % 60, i % 1000, key, 1000 + i);
}

std::string plain(int i, const char* key) {
  return fmt::format(
      R"({{"timestamp":"2026-11-02T11:{:02d}:00Z","api_key_id":"{}","request":{{"model":"gpt-4o",)"
      R"("messages":[{{"role":"user","content":"hello {}"}}]}},)"
      R"("response":{{"status":200,"usage":{{"prompt_tokens":5,"completion_tokens":30}}}}}})"
      "\n",
      i, key, i);
}

RuleSet probe_only() {
  RuleSet r = default_rules();
  r.volume_spike.enabled = r.prompt_templating.enabled = r.distillation_sweep.enabled = false;
  r.release_chasing.enabled = r.quota_hugging.enabled = false;
  r.thresholds.clear();
  return r;
}

const Explanation* verdict(const std::vector<Explanation>& v, std::string_view detector) {
  for (const Explanation& e : v)
    if (e.detector == detector) return &e;
  return nullptr;
}

double metric_of(const Explanation& e, std::string_view name) {
  for (const Metric& m : e.metrics)
    if (m.name == name) return m.value;
  FAIL("no metric " << name);
  return 0;
}

}  // namespace

TEST_CASE("explain shows no estimate larger than the count it is drawn from (issue 19)",
          "[explain]") {
  // 470 maps on one prompt: the sketch estimates more distinct maps than there were probes; the
  // detector bounds its estimate by its count, so findings and explain both show 470.
  std::string log;
  constexpr int n = 470;
  for (int i = 0; i < n; ++i) log += probe(i);
  Explained e = explain(log, "prober", probe_only());
  const Explanation* raw = verdict(e.raw, "logit_probe");
  REQUIRE(raw);
  CHECK(metric_of(*raw, "probe_requests") == n);
  CHECK(metric_of(*raw, "max_distinct_biases_per_prompt") == n);
  CHECK_THAT(e.text, Catch::Contains(fmt::format(
                         "probe_requests={} max_distinct_biases_per_prompt={} span_hours=", n, n)));
  CHECK_THAT(
      e.jsonl,
      Catch::Contains(fmt::format(
          R"("metrics":{{"probe_requests":{},"max_distinct_biases_per_prompt":{},"span_hours":)", n,
          n)));
}

TEST_CASE("a detector's no shows the bar it missed", "[explain]") {
  RuleSet rules = default_rules();
  Explanation e;
  e.detector = "logit_probe";
  e.metrics = {{"probe_requests", 12}, {"max_distinct_biases_per_prompt", 12}};
  MissedBar bar = missed_bar(rules, e);
  CHECK(bar.metric == "max_distinct_biases_per_prompt");
  CHECK(bar.value == 12);
  CHECK(bar.bar == static_cast<double>(rules.logit_probe.min_distinct_biases));
  CHECK_THAT(bar.text, Catch::StartsWith(fmt::format("max_distinct_biases_per_prompt 12 < {}",
                                                     rules.logit_probe.min_distinct_biases)));
  e.detector = "volume_spike";
  e.metrics = {{"requests", 3}, {"completion_tokens", 90}};
  CHECK(missed_bar(rules, e).metric == "requests");
  e.metrics = {{"requests", 500},
               {"completion_tokens", 90'000},
               {"baseline_completion_tokens", 10'000},
               {"ratio_to_bar", 0.5}};
  bar = missed_bar(rules, e);
  CHECK(bar.metric == "completion_tokens");
  CHECK(bar.bar == 180'000);
  e.detector = "prompt_templating";
  e.metrics = {{"prompts_analysed", 500}, {"top_template_share", 0}, {"distinct_fills", 0}};
  CHECK(missed_bar(rules, e).text == fmt::format("top_template_share 0 < {} (no template found)",
                                                 rules.prompt_templating.min_share));
  e.detector = "distillation_sweep";
  e.metrics = {{"requests", 5000}, {"score", 0.25}};
  CHECK(missed_bar(rules, e).metric == "score");
  e.fired = true;  // a yes, or a detector that is off, missed nothing
  CHECK(missed_bar(rules, e).text.empty());
  e.fired = false;
  e.enabled = false;
  CHECK(missed_bar(rules, e).text.empty());
}

TEST_CASE("explain as JSON lines: account, windows, verdicts, thresholds, run", "[explain]") {
  std::string log;
  for (int i = 0; i < 5; ++i) log += plain(i, "quiet");
  RuleSet rules = probe_only();
  merge_rules(rules, "[[threshold]]\nid = \"busy\"\ncondition = \"count > 100\"\n", "test");
  Explained e = explain(log, "quiet", rules);
  std::vector<std::string> lines;
  for (size_t from = 0, nl; (nl = e.jsonl.find('\n', from)) != std::string::npos; from = nl + 1)
    lines.push_back(e.jsonl.substr(from, nl - from));
  REQUIRE(lines.size() == 10);  // the account, a window, six verdicts, a threshold, the run
  CHECK_THAT(lines[0], Catch::StartsWith(R"({"type":"account","key":"quiet",)"));
  CHECK(lines[1] == R"({"type":"window","window_start":"2026-11-02T11:00:00.000Z",)"
                    R"("window_end":"2026-11-02T11:04:00.000Z","flagged":false})");
  CHECK_THAT(lines[2], Catch::StartsWith(R"({"type":"verdict","detector":"volume_spike",)"
                                         R"("window_start":"2026-11-02T11:00:00.000Z",)"
                                         R"("enabled":false,"fired":false,"score":0,)"));
  CHECK_THAT(lines[5], Catch::Contains(R"("missed":{"metric":"max_distinct_biases_per_prompt",)"
                                       R"("value":0,"bar":)"));
  CHECK(lines[8] == R"({"type":"threshold","rule":"busy","measure":"count","window":"1h",)"
                    R"("highest":5,"comparison":">","limit":100,"fired":false})");
  CHECK(lines[9] ==
        R"({"type":"run","lines":5,"events":5,"skipped_lines":0,"windows":1,"windows_shown":1})");
}

TEST_CASE("explain --only-flagged leaves out the windows where nothing fired", "[explain]") {
  // A quiet window at 10:00, a probing one at 12:00.
  std::string log;
  for (int i = 0; i < 5; ++i) log += plain(i, "k");
  for (int i = 0; i < 60; ++i) {
    std::string line = probe(i, "k");
    line.replace(line.find("T10:"), 4, "T12:");
    log += line;
  }
  Explained all = explain(log, "k", probe_only());
  Explained flagged = explain(log, "k", probe_only(), true);
  CHECK_THAT(all.text, Catch::Contains("2 windows (each"));
  CHECK_THAT(all.text, Catch::Contains("\nwindow 2026-11-02T11:00:00.000Z"));
  CHECK_THAT(flagged.text, Catch::Contains("2 windows, 1 flagged (each"));
  CHECK_THAT(flagged.text, !Catch::Contains("\nwindow 2026-11-02T11:00:00.000Z"));
  CHECK_THAT(flagged.text, Catch::Contains("\nwindow 2026-11-02T12:00:00.000Z"));
  CHECK_THAT(flagged.text, Catch::Contains("FIRES"));
  CHECK_THAT(flagged.jsonl, Catch::Contains(R"("windows":2,"windows_shown":1})"));
}
