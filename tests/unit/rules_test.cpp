#include <exfilscan/rules.h>

#include <catch2/catch.hpp>

using namespace exfilscan;

TEST_CASE("the built-in rules compile", "[rules]") {
  RuleSet r = default_rules();
  CHECK(r.settings.cooldown_ns == 6 * ns_per_hour);
  CHECK(r.volume_spike.enabled);
  CHECK(r.volume_spike.ratio == 10);
  CHECK(r.prompt_templating.min_share == 0.5);
  CHECK(r.distillation_sweep.weights.long_completion == 0.20);
  CHECK(r.logit_probe.min_distinct_biases == 20);
  REQUIRE(r.thresholds.size() == 3);
  const ThresholdRule& t = r.thresholds[0];
  CHECK(t.id == "throttle_storm");
  CHECK(t.filter.statuses == std::vector<int64_t>{429});
  CHECK(t.window_ns == 10 * ns_per_minute);
  CHECK(t.aggregate == Aggregate::count);
  CHECK(t.limit == 500);
  CHECK_FALSE(t.inclusive);
  CHECK(r.thresholds[1].aggregate == Aggregate::sum);
  CHECK(r.thresholds[1].field == "completion_tokens");
  CHECK(r.thresholds[2].group_by == GroupBy::ip24);
  CHECK(r.thresholds[2].field == "api_key");
}

TEST_CASE("a rules file changes values key by key and adds thresholds", "[rules]") {
  RuleSet r = default_rules();
  merge_rules(r, R"(
[detectors.volume_spike]
ratio = 4
[allow]
keys = ["key-ci"]
[[threshold]]
id = "throttle_storm"
condition = "count >= 100"
filter = { status = [429, "5xx"], endpoint = ["chat"] }
[[threshold]]
id = "embedding_flood"
window = "1d"
filter = { endpoint = ["embedding"] }
condition = "sum(prompt_tokens) > 5e7"
severity = "high"
)",
              "mine.toml");
  CHECK(r.volume_spike.ratio == 4);
  CHECK(r.volume_spike.min_requests == 30);  // untouched
  CHECK(r.allow.keys == std::vector<std::string>{"key-ci"});
  REQUIRE(r.thresholds.size() == 4);
  CHECK(r.thresholds[0].inclusive);
  CHECK(r.thresholds[0].limit == 100);
  CHECK(r.thresholds[0].filter.status_classes == std::vector<std::string>{"5xx"});
  CHECK(r.thresholds[3].id == "embedding_flood");
  CHECK(r.thresholds[3].window_ns == ns_per_day);
  CHECK(r.thresholds[3].limit == 5e7);
  CHECK(r.thresholds[3].severity == Severity::high);
}

TEST_CASE("a wrong rules file names the file, line and key", "[rules]") {
  RuleSet r = default_rules();
  CHECK_THROWS_WITH(merge_rules(r, "[detectors.volume_spike]\nratoi = 3\n", "x.toml"),
                    "x.toml:2: detectors.volume_spike.ratoi: unknown key");
  CHECK_THROWS_WITH(merge_rules(r, "[detectors.volume_spike]\n\nratio = \"big\"\n", "x.toml"),
                    "x.toml:3: detectors.volume_spike.ratio: expected a number");
  CHECK_THROWS_WITH(merge_rules(r, "[settings]\ncooldown = \"6 hours\"\n", "x.toml"),
                    Catch::StartsWith("x.toml:2: settings.cooldown: expected a duration"));
  CHECK_THROWS_WITH(
      merge_rules(r, "[[threshold]]\nid = \"a\"\ncondition = \"avg(x) > 3\"\n", "x.toml"),
      Catch::StartsWith("x.toml:3: threshold[0].condition: \"avg(x)\""));
  CHECK_THROWS_WITH(
      merge_rules(r, "[[threshold]]\nid = \"a\"\ncondition = \"sum(api_key) > 3\"\n", "x.toml"),
      Catch::Contains("sum() of \"api_key\""));
  CHECK_THROWS_WITH(merge_rules(r, "[[threshold]]\ncondition = \"count > 3\"\n", "x.toml"),
                    Catch::Contains("needs an id"));
  CHECK_THROWS_WITH(
      merge_rules(r, "[[threshold]]\nid=\"a\"\ncondition=\"count > 1\"\nseverity=\"urgent\"\n",
                  "x.toml"),
      "x.toml:4: threshold[0].severity: expected info, low, medium, high or critical");
  CHECK_THROWS_WITH(merge_rules(r, "[settings\n", "x.toml"), Catch::StartsWith("x.toml:1: "));
  CHECK_THROWS_WITH(
      merge_rules(r, "[detectors.distillation_sweep.weights]\ninstruction = 0.9\n", "x.toml"),
      Catch::Contains("must sum to 1"));
  CHECK_THROWS_WITH(merge_rules_file(r, "/nonexistent.toml"), Catch::Contains("cannot read"));
}

TEST_CASE("the detectors' and the engine's thresholds are checked like every parameter",
          "[rules]") {
  RuleSet r = default_rules();
  auto check = [&](const std::string& toml) {
    RuleSet copy = r;
    merge_rules(copy, toml, "x.toml");
  };
  CHECK_THROWS_WITH(check("[settings]\ntext_sample_every = 0\n"),
                    "x.toml:2: settings.text_sample_every: expected a whole number from 1 to "
                    "1000000");
  CHECK_THROWS_WITH(check("[settings]\n\ntext_analysis_start = 2\n"),
                    "x.toml:3: settings.text_analysis_start: expected a number from 0 to 1");
  CHECK_THROWS_WITH(
      check("[detectors.volume_spike]\nmin_population_windows = \"many\"\n"),
      "x.toml:2: detectors.volume_spike.min_population_windows: expected a whole number from 1 "
      "to 1000000000");
  CHECK_THROWS_WITH(check("[detectors.volume_spike]\nwarmup_ratio = 0.5\n"),
                    Catch::StartsWith("x.toml:2: detectors.volume_spike.warmup_ratio: expected a "
                                      "number from 1 to"));
  CHECK_THROWS_WITH(check("[detectors.volume_spike]\nfull_score_ratio = 1\n"),
                    Catch::StartsWith("x.toml:2: detectors.volume_spike.full_score_ratio: "));
  CHECK_THROWS_WITH(check("[detectors.prompt_templating]\nmax_score_little_evidence = 1.5\n"),
                    Catch::StartsWith("x.toml:2: detectors.prompt_templating."
                                      "max_score_little_evidence: expected a number from 0 to 1"));
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\nsampling_full_share = 0\n"),
                    "x.toml:2: detectors.distillation_sweep.sampling_full_share: expected a "
                    "number from 0.01 to 1");
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\ncadence_min_slices = 61\n"),
                    "x.toml:2: detectors.distillation_sweep.cadence_min_slices: expected a whole "
                    "number from 1 to 60");
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\nshort_sweep = 30\n"),
                    Catch::StartsWith("x.toml:2: detectors.distillation_sweep.short_sweep: "
                                      "expected a duration"));
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\nanonymous_max_end_users = -1\n"),
                    "x.toml:2: detectors.distillation_sweep.anonymous_max_end_users: expected a "
                    "whole number >= 0");
  CHECK_THROWS_WITH(check("[detectors.logit_probe]\necho_min_ratio = \"10x\"\n"),
                    "x.toml:2: detectors.logit_probe.echo_min_ratio: expected a number");
  // In range, they are taken.
  merge_rules(r,
              "[settings]\ntext_full_analysis = 0\n[detectors.distillation_sweep]\n"
              "short_sweep = \"45m\"\n[detectors.logit_probe]\necho_full_score_ratio = 20\n",
              "x.toml");
  CHECK(r.settings.text_full_analysis == 0);
  CHECK(r.distillation_sweep.short_sweep_ns == 45 * ns_per_minute);
  CHECK(r.logit_probe.echo_full_score_ratio == 20);
}

TEST_CASE("durations", "[rules]") {
  CHECK(*parse_duration("30s") == 30 * ns_per_second);
  CHECK(*parse_duration("10m") == 10 * ns_per_minute);
  CHECK(*parse_duration("7d") == 7 * ns_per_day);
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("0h"));
  CHECK_FALSE(parse_duration("1.5h"));
  CHECK(format_duration(90 * ns_per_minute) == "90m");
  CHECK(format_duration(2 * ns_per_day) == "2d");
}

TEST_CASE("event filters", "[rules]") {
  EventFilter f;
  f.status_classes = {"4xx"};
  f.endpoints = {EndpointKind::chat};
  Event e;
  e.status = 404;
  e.endpoint_kind = EndpointKind::chat;
  CHECK(f.matches(e));
  for (int64_t in : {400, 429, 499}) {
    e.status = in;
    CHECK(f.matches(e));
  }
  for (int64_t out : {200, 399, 500, 4000, -404, 4}) {
    e.status = out;
    CHECK_FALSE(f.matches(e));
  }
  e.status.reset();
  CHECK_FALSE(f.matches(e));
}
