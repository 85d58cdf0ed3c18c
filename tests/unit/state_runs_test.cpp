// Chained --state runs as the reports show them (issue 19): account rows hold this run's traffic
// and the carried totals apart, the run row counts this run's accounts, and --min-severity
// reports what was written and what it held back. Fed through the real reader.
#include <exfilscan/engine/engine.h>
#include <exfilscan/report/report.h>

#include "test_util.h"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Threshold rules only: a request with 5000 completion tokens or more is low, 3 requests in
/// 10 minutes high.
RuleSet rules() {
  RuleSet r = empty_rules();
  merge_rules(r, R"([[threshold]]
id = "long"
condition = "sum(completion_tokens) >= 5000"
window = "1m"
severity = "low"
[[threshold]]
id = "burst"
condition = "count >= 3"
window = "10m"
severity = "high"
)",
              "test.toml");
  return r;
}

std::string line(const char* time, const char* key, int completion) {
  return fmt::format(
      R"({{"timestamp":"2026-11-0{}Z","api_key_id":"{}","response":{{"usage":{{"prompt_tokens":10,"completion_tokens":{}}}}}}})"
      "\n",
      time, key, completion);
}

struct Run {
  std::string jsonl;
  EngineStats stats;
  std::string state;
};

/// One --state run over `text`: the JSON lines it writes and the state it leaves.
Run run(const std::string& text, const std::string& state, Severity min_severity = Severity::info) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  ReportOptions options;
  options.min_severity = min_severity;
  auto reporter = make_reporter(ReportFormat::jsonl, options, mem);
  DetectionEngine engine(rules(), {}, *reporter);
  if (!state.empty()) {
    StateReader in(state);
    engine.load_state(in);
  }
  TempFile file(text);
  BadLineLog log({}, stderr);
  ReadResult r = read_inputs({file.path()}, {}, engine, log);
  REQUIRE(r.failure == ReadFailure::none);
  engine.finish(false);
  RunTotals totals{r.stats.lines, r.stats.events, 0, engine.stats()};
  reporter->finish(engine.ranking(20), totals);
  Run out;
  out.stats = engine.stats();
  StateWriter w;
  engine.save_state(w);
  out.state = w.data();
  reporter.reset();
  std::fclose(mem);
  out.jsonl.assign(buf, size);
  std::free(buf);
  return out;
}

/// The line that holds `needle`.
std::string row(const std::string& jsonl, std::string_view needle) {
  size_t at = jsonl.find(needle);
  REQUIRE(at != std::string::npos);
  size_t begin = jsonl.rfind('\n', at);
  begin = begin == std::string::npos ? 0 : begin + 1;
  return jsonl.substr(begin, jsonl.find('\n', at) - begin);
}

}  // namespace

TEST_CASE("with a state, account rows are this run's, the totals apart (issue 19)",
          "[report][state]") {
  // Day 1: "busy" fires burst; "idle" sends one request and nothing on day 2. An event further
  // than max_skew ahead of the clock waits for a later one to confirm it: z's on day 2 is held.
  std::string day1 = line("2T10:00:00", "busy", 100) + line("2T10:01:00", "busy", 100) +
                     line("2T10:02:00", "busy", 100) + line("2T10:03:00", "idle", 100) +
                     line("2T10:04:00", "z", 1);
  std::string day2 = line("3T09:00:00", "busy", 200) + line("3T09:30:00", "other", 50) +
                     line("3T09:40:00", "busy", 200) + line("3T09:50:00", "z", 1);
  Run first = run(day1, "");
  CHECK(first.stats.accounts_seen == 3);
  Run second = run(day2, first.state);

  CHECK(row(second.jsonl, R"("key":"busy")") ==
        R"({"type":"account","key":"busy","key_kind":"api_key","risk":0.8,"severity":"high",)"
        R"("requests":2,"prompt_tokens":20,"completion_tokens":400,)"
        R"("first_seen":"2026-11-03T09:00:00.000Z","last_seen":"2026-11-03T09:40:00.000Z",)"
        R"("top_rule":"burst","rules":["burst"],"suppressed_findings":0,"total_requests":5,)"
        R"("total_prompt_tokens":50,"total_completion_tokens":700,)"
        R"("total_first_seen":"2026-11-02T10:00:00.000Z",)"
        R"("total_last_seen":"2026-11-03T09:40:00.000Z"})");
  CHECK(row(second.jsonl, R"("key":"other")").find(R"("requests":1,)") != std::string::npos);
  // No request in this run and no finding: not among the busiest of it.
  CHECK(second.jsonl.find(R"("key":"idle")") == std::string::npos);
  // busy came from the state, other is new; z's event waits for the next run.
  CHECK(second.stats.accounts_seen == 2);
  CHECK(second.stats.events_held == 1);
  std::string run_row = row(second.jsonl, R"("type":"run")");
  CHECK(run_row.find(R"("accounts":2,)") != std::string::npos);
  CHECK(run_row.find(R"("accounts_held":4,)") != std::string::npos);
}

TEST_CASE("with a state, a flagged account with no request in this run has no times in it",
          "[report][state]") {
  std::string day1 = line("2T10:00:00", "busy", 100) + line("2T10:01:00", "busy", 100) +
                     line("2T10:02:00", "busy", 100) + line("2T10:03:00", "z", 1);
  Run second =
      run(line("3T09:00:00", "other", 50) + line("3T09:01:00", "y", 1), run(day1, "").state);
  std::string busy = row(second.jsonl, R"("key":"busy")");
  CHECK(busy.find(R"("requests":0,"prompt_tokens":0,"completion_tokens":0,)"
                  R"("first_seen":null,"last_seen":null,)") != std::string::npos);
  CHECK(busy.find(R"("total_requests":3,)") != std::string::npos);
  CHECK(row(second.jsonl, R"("type":"run")").find(R"("accounts":2,)") != std::string::npos);
}

TEST_CASE("under a minimum severity, the run row counts what was written and what was held back",
          "[report]") {
  std::string text = line("2T10:00:00", "a", 6000) + line("2T10:01:00", "a", 100) +
                     line("2T10:02:00", "a", 100) + line("2T11:00:00", "b", 7000) +
                     line("2T11:01:00", "z", 1);
  Run shown = run(text, "", Severity::high);
  CHECK(shown.stats.findings == 3);  // the engine counts all three
  size_t written = 0;
  for (size_t at = 0; (at = shown.jsonl.find(R"("type":"finding")", at)) != std::string::npos; ++at)
    ++written;
  CHECK(written == 1);
  std::string run_row = row(shown.jsonl, R"("type":"run")");
  CHECK(run_row.find(R"("findings":1,"suppressed_findings":0,"findings_by_severity":)"
                     R"({"info":0,"low":0,"medium":0,"high":1,"critical":0},)") !=
        std::string::npos);
  CHECK(run_row.find(R"("min_severity":"high","findings_held_back":2,)"
                     R"("findings_held_back_by_severity":)"
                     R"({"info":0,"low":2,"medium":0,"high":0,"critical":0},)") !=
        std::string::npos);
}
