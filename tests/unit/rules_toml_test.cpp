// `exfilscan rules` prints the rules in force as a rules file: read back, alone, it gives the same
// rules, every parameter, allow-list and threshold rule.
#include "rules_test_util.h"

#include <exfilscan/rules/rules.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>
#include <catch2/catch.hpp>

#include <map>
#include <string>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Every field of a threshold rule, to compare by.
std::string describe(const ThresholdRule& t) {
  std::vector<std::string> endpoints;
  for (EndpointKind k : t.filter.endpoints) endpoints.emplace_back(to_string(k));
  return fmt::format(
      "{} [{}] status {} {} endpoint {} model {} logprobs {} per {} in {} {}({}) {} {} {} [{}]",
      t.id, t.description, t.filter.statuses, t.filter.status_classes, endpoints, t.filter.models,
      t.filter.logprobs ? (*t.filter.logprobs ? "true" : "false") : "any", to_string(t.group_by),
      t.window_ns, static_cast<int>(t.aggregate), t.field, t.inclusive, t.limit,
      to_string(t.severity), t.condition);
}

/// `a` and `b` hold the same rules: every parameter, allow-list and threshold rule.
void check_same(const RuleSet& a, const RuleSet& b) {
  CHECK(parameters(a) == parameters(b));
  CHECK(a.allow.keys == b.allow.keys);
  CHECK(a.allow.orgs == b.allow.orgs);
  CHECK(a.allow.templates == b.allow.templates);
  REQUIRE(a.thresholds.size() == b.thresholds.size());
  for (size_t i = 0; i < a.thresholds.size(); ++i)
    CHECK(describe(a.thresholds[i]) == describe(b.thresholds[i]));
}

/// The printed rules read back both ways a user can: alone (--no-default-rules) and as a
/// complete file.
void check_round_trip(const RuleSet& rules) {
  const std::string printed = rules_toml(rules);
  INFO(printed);
  RuleSet alone = empty_rules();
  merge_rules(alone, printed, "printed.toml");
  check_same(alone, rules);
  const RuleSet complete = compile_complete_rules(printed, "printed.toml");
  check_same(complete, rules);
  CHECK(rules_toml(complete) == printed);
}

}  // namespace

TEST_CASE("the built-in rules print as a rules file that reads back as them", "[rules][toml]") {
  const RuleSet built_in = default_rules();
  check_round_trip(built_in);
  check_round_trip(empty_rules());
  const std::string printed = rules_toml(built_in);
  toml::table t = toml::parse(printed, std::string_view("printed.toml"));
  // Durations as durations, not nanoseconds; nested tables as tables.
  CHECK(t["settings"]["window"].value_or(std::string()) == "1h");
  CHECK(t["detectors"]["volume_spike"]["dormant_after"].value_or(std::string()) == "7d");
  CHECK(t["detectors"]["distillation_sweep"]["short_sweep"].value_or(std::string()) == "30m");
  CHECK(t["detectors"]["distillation_sweep"]["weights"]["instruction"].value_or(0.0) == 0.3);
  // What each detector and threshold rule does, as comments.
  CHECK_THAT(printed, Catch::Contains("[detectors.volume_spike]\n# completion tokens in a window "
                                      "far above the account's own baseline and its peers\n"));
  CHECK_THAT(printed, Catch::Contains("[[threshold]]\n# count > 500 per api_key in 10m, over "
                                      "status 429\nid          = \"throttle_storm\"\n"));
}

TEST_CASE("rules files' thresholds, allow-lists and parameters print and read back",
          "[rules][toml]") {
  RuleSet rules = default_rules();
  merge_rules(rules, R"(
[settings]
window = "30m"
day = "2d"
cooldown = "90s"
[allow]
keys = ["key-ci", "key \"quoted\" \\ back"]
orgs = ["org-internal"]
templates = ["Classify the ticket: <*>", "Traduis en français :\n<*>"]
[detectors.volume_spike]
enabled = false
ratio = 4.25
[detectors.distillation_sweep.weights]
instruction = 0.25
diversity = 0.15
[[threshold]]
id = "throttle_storm"
condition = "count >= 100"
filter = { status = [429, "5xx"], endpoint = ["chat", "responses"] }
[[threshold]]
id = "models"
description = "3+ models in an hour\tfrom one key"
filter = { model = "gpt-4o", logprobs = false }
condition = "distinct(model) > 2"
[[threshold]]
id = "embedding_flood"
window = "1d"
group_by = "ip24"
filter = { endpoint = "embedding", status = "2xx" }
condition = "sum(prompt_tokens) > 5e7"
severity = "high"
)",
              "mine.toml");
  REQUIRE(rules.thresholds.size() == 4);
  check_round_trip(rules);
  const std::string printed = rules_toml(rules);
  CHECK_THAT(printed,
             Catch::Contains(R"(= { status = [429, "5xx"], endpoint = ["chat", "responses"] })"));
  CHECK_THAT(printed, Catch::Contains(R"(= { model = "gpt-4o", logprobs = false })"));
  CHECK_THAT(printed, Catch::Contains(R"(keys      = ["key-ci", "key \"quoted\" \\ back"])"));
  CHECK_THAT(printed, Catch::Contains(R"(cooldown                  = "90s")"));
  // A comment stays on its line, whatever a filter names.
  merge_rules(rules,
              "[[threshold]]\nid = \"x\"\ncondition = \"count > 1\"\n"
              "filter = { model = \"a\\nb\" }\n",
              "mine.toml");
  CHECK_THAT(rules_toml(rules), Catch::Contains("# count > 1 per api_key in 1h, over model a b\n"));
  check_round_trip(rules);
}

TEST_CASE("a RuleSet's strings print as TOML strings", "[rules][toml]") {
  RuleSet rules = empty_rules();
  rules.allow.keys = {"tab\there", std::string("nul\0x", 5), "del\x7f", "snow \xe2\x98\x83"};
  check_round_trip(rules);
}
