#include <exfilscan/rules/rules.h>

#include <fmt/format.h>

namespace exfilscan {

namespace {

std::string list(const std::vector<std::string>& v) {
  if (v.empty()) return "[]";
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += fmt::format("{}\"{}\"", i ? ", " : "", v[i]);
  return out + "]";
}

std::string filter_text(const EventFilter& f) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (!out.empty()) out += ", ";
    out += part;
  };
  if (!f.statuses.empty() || !f.status_classes.empty()) {
    std::string s;
    for (int64_t x : f.statuses) s += fmt::format("{}{}", s.empty() ? "" : "|", x);
    for (const std::string& c : f.status_classes) s += fmt::format("{}{}", s.empty() ? "" : "|", c);
    add(fmt::format("status {}", s));
  }
  if (!f.endpoints.empty()) {
    std::string s;
    for (EndpointKind k : f.endpoints) s += fmt::format("{}{}", s.empty() ? "" : "|", to_string(k));
    add(fmt::format("endpoint {}", s));
  }
  if (!f.models.empty()) add(fmt::format("model {}", list(f.models)));
  if (f.logprobs) add(*f.logprobs ? "logprobs" : "no logprobs");
  return out.empty() ? "every event" : out;
}

}  // namespace

std::string describe_rules(const RuleSet& r) {
  const Settings& s = r.settings;
  std::string o = fmt::format(
      "settings: window {}, cooldown {}, max_skew {}, idle_expiry {}, max_accounts {}\n",
      format_duration(s.window_ns), format_duration(s.cooldown_ns), format_duration(s.max_skew_ns),
      format_duration(s.idle_expiry_ns), s.max_accounts);
  o += fmt::format(
      "text analysis: text_analysis_start {}, text_full_analysis {}, text_sample_every {}\n",
      s.text_analysis_start, s.text_full_analysis, s.text_sample_every);
  o += fmt::format("allow: keys {}, orgs {}, templates {}\n\ndetectors:\n", list(r.allow.keys),
                   list(r.allow.orgs), list(r.allow.templates));
  auto detector = [&](std::string_view name, bool on, std::string_view what, std::string params) {
    o += fmt::format("  {:<20} {:<3}  {}\n  {:<20}      {}\n", name, on ? "on" : "off", what, "",
                     params);
  };
  const VolumeSpikeRule& v = r.volume_spike;
  detector(
      "volume_spike", v.enabled,
      "completion tokens in a window far above the account's own baseline and its peers",
      fmt::format("min_requests={} min_completion_tokens={} baseline_hours={} "
                  "min_baseline_hours={} baseline_mads={} ratio={} peer_quantile={} "
                  "min_population_windows={} new_account_quantile={} new_account_ratio={} "
                  "warmup={} warmup_ratio={} dormant_after={} max_score={} full_score_ratio={}",
                  v.min_requests, v.min_completion_tokens, v.baseline_hours, v.min_baseline_hours,
                  v.baseline_mads, v.ratio, v.peer_quantile, v.min_population_windows,
                  v.new_account_quantile, v.new_account_ratio, format_duration(v.warmup_ns),
                  v.warmup_ratio, format_duration(v.dormant_after_ns), v.max_score,
                  v.full_score_ratio));
  const TemplatingRule& t = r.prompt_templating;
  detector("prompt_templating", t.enabled,
           "most prompts stamped from one template with many distinct slot values",
           fmt::format("min_requests={} min_share={} min_distinct_fills={} fills_full_ratio={} "
                       "long_completion_tokens={} max_score_short_outputs={} "
                       "full_evidence_ratio={} max_score_little_evidence={}",
                       t.min_requests, t.min_share, t.min_distinct_fills, t.fills_full_ratio,
                       t.long_completion_tokens, t.max_score_short_outputs, t.full_evidence_ratio,
                       t.max_score_little_evidence));
  const SweepRule& w = r.distillation_sweep;
  detector(
      "distillation_sweep", w.enabled,
      "systematic instruction/benchmark coverage, reasoning asked for, long answers, steady",
      fmt::format("min_requests={} min_score={} long_completion_tokens={} sampling_full_share={} "
                  "chain_of_thought_full_share={} cadence_min_slices={} cadence_min_gaps={} "
                  "metadata_only_weight={} short_sweep={} max_score_short_sweep={} weights: "
                  "instruction={} diversity={} chain_of_thought={} single_turn={} "
                  "long_completion={} sampling={} cadence={}",
                  w.min_requests, w.min_score, w.long_completion_tokens, w.sampling_full_share,
                  w.chain_of_thought_full_share, w.cadence_min_slices, w.cadence_min_gaps,
                  w.metadata_only_weight, format_duration(w.short_sweep_ns),
                  w.max_score_short_sweep, w.weights.instruction, w.weights.diversity,
                  w.weights.chain_of_thought, w.weights.single_turn, w.weights.long_completion,
                  w.weights.sampling, w.weights.cadence));
  const LogitProbeRule& l = r.logit_probe;
  detector("logit_probe", l.enabled,
           "one prompt with many logit_bias maps and tiny completions (logit extraction)",
           fmt::format("min_distinct_biases={} max_completion_tokens={} full_score_ratio={} "
                       "echo_min_ratio={} echo_full_score_ratio={}",
                       l.min_distinct_biases, l.max_completion_tokens, l.full_score_ratio,
                       l.echo_min_ratio, l.echo_full_score_ratio));
  o += fmt::format("\nthreshold rules: {}\n", r.thresholds.size());
  for (const ThresholdRule& th : r.thresholds) {
    o += fmt::format("  {:<20} {:<8}  {}\n", th.id, to_string(th.severity),
                     th.description.empty() ? th.condition : th.description);
    o += fmt::format("  {:<20}           {} per {} in {}, over {}\n", "", th.condition,
                     to_string(th.group_by), format_duration(th.window_ns), filter_text(th.filter));
  }
  return o;
}

}  // namespace exfilscan
