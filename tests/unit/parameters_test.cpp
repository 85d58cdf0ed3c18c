// The engine's and the detectors' thresholds that were bare numbers in the code reach them from
// the rules: the same stream, judged under other values, says otherwise.
#include "test_util.h"

#include <exfilscan/engine/engine.h>

#include <catch2/catch.hpp>

#include <map>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

constexpr int64_t t0 = 1793577600LL * ns_per_second;  // 2026-11-02T00:00:00Z

/// 300 chat requests from one key within an hour, each a distinct prompt; every tenth asks for
/// logprobs.
std::string stream() {
  std::string text;
  for (int i = 0; i < 300; ++i) {
    int64_t ts = t0 + i * 10 * ns_per_second;
    text += fmt::format(
        R"({{"timestamp":{},"request_id":"r{}","api_key_id":"k","endpoint":"/v1/chat/completions",)"
        R"("request":{{"model":"m","logprobs":{},"messages":[{{"role":"user","content":"Explain topic number {} in detail"}}]}},)"
        R"("response":{{"status":200,"usage":{{"prompt_tokens":20,"completion_tokens":500}}}}}})"
        "\n",
        ts / ns_per_second, i, i % 10 == 0 ? "true" : "false", i);
  }
  return text;
}

/// Each detector's metrics for the key's window, as `explain` reports them when it closes.
std::map<std::string, std::map<std::string, double>> explained(const std::string& toml) {
  RuleSet rules = default_rules();
  merge_rules(rules, toml, "test.toml");
  std::map<std::string, std::map<std::string, double>> out;
  EngineOptions options;
  options.explain_key = "k";
  options.explain = [&](const Explanation& e) {
    for (const Metric& m : e.metrics) out[e.detector][m.name] = m.value;
  };
  struct : FindingSink {
    void on_finding(const Finding&) override {}
  } ignore;
  DetectionEngine engine(rules, options, ignore);
  TempFile file(stream());
  BadLineLog log({}, stderr);
  REQUIRE(read_inputs({file.path()}, {}, engine, log).failure == ReadFailure::none);
  REQUIRE(log.total() == 0);
  engine.finish();
  return out;
}

}  // namespace

TEST_CASE("which prompts are analysed comes from the settings", "[parameters]") {
  // Built in: past the first 5 requests (a quarter of the smallest min_requests, 20), the next
  // 200 in full, then every 4th request's: 200 + 24 of the 300.
  CHECK(explained("")["prompt_templating"]["prompts_analysed"] == 224);
  // From the first request, 100 in full, then every other one: 100 + 100.
  CHECK(explained("[settings]\ntext_analysis_start = 0\ntext_full_analysis = 100\n"
                  "text_sample_every = 2\n")["prompt_templating"]["prompts_analysed"] == 200);
}

TEST_CASE("the sweep's sampling share counts fully where the rules say", "[parameters]") {
  // A tenth of the requests ask for logprobs: half of the built-in 20 %, all of 10 %.
  CHECK(explained("")["distillation_sweep"]["sampling"] == Approx(0.5));
  CHECK(
      explained("[detectors.distillation_sweep]\nsampling_full_share = 0.1\n")["distillation_sweep"]
                                                                              ["sampling"] ==
      Approx(1));
  // Coverage of the window's sixtieths counts only once cadence_min_slices have elapsed: the
  // stream spans 50 minutes (50 sixtieths), all with traffic.
  double built_in = explained("")["distillation_sweep"]["cadence"];
  double later = explained(
      "[detectors.distillation_sweep]\ncadence_min_slices = 60\n")["distillation_sweep"]["cadence"];
  CHECK(built_in - later == Approx(0.5));
}
