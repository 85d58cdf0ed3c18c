#include "rules_test_util.h"

#include <exfilscan/rules/rules.h>

#include <toml++/toml.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <sstream>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("the built-in rules are src/rules/default.toml, value for value", "[rules]") {
  const std::string path = EXFILSCAN_SOURCE_DIR "/src/rules/default.toml";
  const std::string text = read_file(path);
  REQUIRE_FALSE(text.empty());
  // The binary carries the file as it is now (it is embedded when the build is configured).
  CHECK(default_rules_text() == text);
  toml::table file = toml::parse(text, path);
  const std::map<std::string, double> given = parameters(text);
  const RuleSet built_in = default_rules();
  // The file gives every parameter the rules have (the printer writes them all), the compiled
  // rules hold what it gives, and the structs have no value of their own that could stand in for
  // a parameter the reader dropped.
  const std::map<std::string, double> compiled = parameters(built_in);
  for (const auto& [key, value] : compiled) {
    INFO(key << ": a parameter default.toml does not give");
    REQUIRE(given.count(key));
    CHECK(value == given.at(key));
  }
  for (const auto& [key, value] : given) {
    INFO(key << ": a parameter of default.toml the rules do not hold");
    CHECK(compiled.count(key));
  }
  const std::map<std::string, double> bare = parameters(RuleSet{});
  CHECK(bare.size() == compiled.size());
  for (const auto& [key, value] : bare) {
    INFO(key);
    CHECK(value == 0);
  }
  // Allow-lists and threshold rules: the file's, as it lists them.
  for (auto [name, list] :
       {std::pair{"keys", &built_in.allow.keys}, std::pair{"orgs", &built_in.allow.orgs},
        std::pair{"templates", &built_in.allow.templates}}) {
    const toml::array* a = file["allow"][name].as_array();
    REQUIRE(a);
    CHECK(a->size() == list->size());
  }
  const toml::array* thresholds = file["threshold"].as_array();
  REQUIRE(thresholds);
  REQUIRE(built_in.thresholds.size() == thresholds->size());
  for (size_t i = 0; i < thresholds->size(); ++i) {
    const toml::table& t = *thresholds->get(i)->as_table();
    CHECK(built_in.thresholds[i].id == t["id"].value_or(std::string()));
    CHECK(built_in.thresholds[i].condition == t["condition"].value_or(std::string()));
  }
  // How the threshold rules' conditions and filters compile.
  const ThresholdRule& storm = built_in.thresholds[0];
  CHECK(storm.filter.statuses == std::vector<int64_t>{429});
  CHECK(storm.aggregate == Aggregate::count);
  CHECK(storm.limit == 500);
  CHECK_FALSE(storm.inclusive);
  CHECK(built_in.thresholds[1].aggregate == Aggregate::sum);
  CHECK(built_in.thresholds[1].field == "completion_tokens");
  CHECK(built_in.thresholds[1].group_by == GroupBy::org);
  // Issue 13: keys per /24 separate no campaign from an enterprise or cloud NAT (the old bar of
  // 50 sat just above the generator's NAT of 40): it is not a built-in rule.
  for (const ThresholdRule& t : built_in.thresholds) CHECK(t.group_by != GroupBy::ip24);
}

TEST_CASE("complete rules must give every parameter", "[rules]") {
  std::string text(default_rules_text());
  CHECK(compile_complete_rules(text, "full.toml").volume_spike.warmup_ratio > 0);
  size_t at = text.find("warmup_ratio =");
  REQUIRE(at != std::string::npos);
  text.erase(at, text.find('\n', at) - at);
  CHECK_THROWS_WITH(compile_complete_rules(text, "short.toml"),
                    Catch::Matches("short\\.toml:[0-9]+: detectors\\.volume_spike\\.warmup_ratio: "
                                   "missing .*"));
  // A key a condition is about, left out, is said to be missing (it was read as nothing).
  std::string no_window(default_rules_text());
  at = no_window.find("window = \"1h\"");
  REQUIRE(at != std::string::npos);
  no_window.erase(at, no_window.find('\n', at) - at);
  CHECK_THROWS_WITH(compile_complete_rules(no_window, "short.toml"),
                    Catch::Matches("short\\.toml:[0-9]+: settings\\.window: missing .*"));
  // A rules file read on top of them may give any part.
  RuleSet r = default_rules();
  merge_rules(r, "[detectors.volume_spike]\nratio = 4\n", "mine.toml");
  CHECK(r.volume_spike.ratio == 4);
}

TEST_CASE("rules that replace the built-in ones start from its parameters, detectors off",
          "[rules]") {
  RuleSet e = empty_rules();
  RuleSet d = default_rules();
  CHECK_FALSE(e.volume_spike.enabled);
  CHECK_FALSE(e.prompt_templating.enabled);
  CHECK_FALSE(e.distillation_sweep.enabled);
  CHECK_FALSE(e.logit_probe.enabled);
  CHECK(e.thresholds.empty());
  const std::map<std::string, double> from_empty = parameters(e), from_default = parameters(d);
  REQUIRE(from_empty.size() == from_default.size());
  for (const auto& [key, value] : from_default)
    if (!key.ends_with(".enabled")) {
      INFO(key);
      CHECK(from_empty.at(key) == value);
    }
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
  REQUIRE(r.thresholds.size() == 3);
  CHECK(r.thresholds[0].inclusive);
  CHECK(r.thresholds[0].limit == 100);
  CHECK(r.thresholds[0].filter.status_classes == std::vector<std::string>{"5xx"});
  CHECK(r.thresholds[2].id == "embedding_flood");
  CHECK(r.thresholds[2].window_ns == ns_per_day);
  CHECK(r.thresholds[2].limit == 5e7);
  CHECK(r.thresholds[2].severity == Severity::high);
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
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\ncadence_min_gaps = -1\n"),
                    Catch::StartsWith("x.toml:2: detectors.distillation_sweep.cadence_min_gaps: "
                                      "expected a whole number"));
  // Issue 13: the anonymity bonus echoed the generator (every campaign line had no system prompt
  // and no user) and is gone; a file that still sets it is told so, not silently ignored.
  CHECK_THROWS_WITH(check("[detectors.distillation_sweep]\nanonymous_bonus = 0.1\n"),
                    Catch::Contains("anonymous_bonus"));
  CHECK_THROWS_WITH(check("[detectors.logit_probe]\necho_min_ratio = \"10x\"\n"),
                    "x.toml:2: detectors.logit_probe.echo_min_ratio: expected a number");
  // Conditions on values (a range of durations, a sum) name the key's line, or the table's.
  CHECK_THROWS_WITH(check("[settings]\nwindow = \"5m\"\n"),
                    "x.toml:2: settings.window: from 10m to 24h");
  CHECK_THROWS_WITH(check("[settings]\nday = \"30m\"\n"),
                    "x.toml:2: settings.day: from the window to 7d");
  CHECK_THROWS_WITH(check("[settings]\n\nwindow = \"24h\"\nday = \"8d\"\n"),
                    "x.toml:4: settings.day: from the window to 7d");
  CHECK_THROWS_WITH(check("[detectors.volume_spike]\nbaseline_hours = 12\n"),
                    "x.toml:2: detectors.volume_spike.baseline_hours: expected a whole number "
                    "from 24 to 1440");
  CHECK_THROWS_WITH(check("\n[detectors.distillation_sweep.weights]\ninstruction = 0.9\n"),
                    "x.toml:2: detectors.distillation_sweep.weights: the weights must sum to 1 "
                    "(they sum to 1.600)");
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
  // Review: a duration past int64's nanoseconds wrapped negative.
  CHECK(*parse_duration("106751d") == 106751 * ns_per_day);
  CHECK_FALSE(parse_duration("106752d"));
  CHECK_FALSE(parse_duration("200000d"));
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

TEST_CASE("a threshold filter takes one value where it takes a list (issue 19)", "[rules]") {
  auto filter = [](const std::string& f) {
    RuleSet r = empty_rules();
    merge_rules(r, "[[threshold]]\nid = \"a\"\ncondition = \"count > 1\"\nfilter = " + f + "\n",
                "x.toml");
    return r.thresholds.at(0).filter;
  };
  CHECK(filter(R"({ model = "gpt-4o" })").models == std::vector<std::string>{"gpt-4o"});
  CHECK(filter(R"({ model = ["gpt-4o", "o3"] })").models ==
        std::vector<std::string>{"gpt-4o", "o3"});
  CHECK(filter(R"({ endpoint = "chat" })").endpoints == std::vector{EndpointKind::chat});
  CHECK(filter(R"({ status = "4xx" })").status_classes == std::vector<std::string>{"4xx"});
  CHECK(filter(R"({ status = 429 })").statuses == std::vector<int64_t>{429});
  CHECK_THROWS_WITH(filter(R"({ model = 4 })"),
                    "x.toml:4: threshold[0].filter.model: expected a string or a list of strings");
  CHECK_THROWS_WITH(filter(R"({ endpoint = "chatt" })"),
                    "x.toml:4: threshold[0].filter.endpoint: expected chat, completion, "
                    "embedding, responses or other");
}
