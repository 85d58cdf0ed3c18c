#pragma once
/// Internal: the one list of the rules' parameters (settings, allow-lists, detectors, clusters),
/// read from a rules file by rules.cpp's TableReader and written back by TomlWriter
/// (rules_toml.h): the same lines do both.

#include <exfilscan/rules/rules.h>

#include <fmt/format.h>

namespace exfilscan::detail {

// The parameters, one list: each line reads one from a rules file (R = TableReader) and writes
// it back (R = TomlWriter, for `exfilscan rules`). A new parameter is one line here, in the
// order default.toml gives it, and its value in default.toml. get() takes the bounds a value
// must be within; check() a condition on several.

/// A detector's severity bars (SeverityBars): the built-in 0.5 and 0.75, or calibrate's.
template <class R>
void read_bars(R& r, SeverityBars& b) {
  r.get("medium_bar", b.medium, 0.05, 0.99);
  r.get("high_bar", b.high, 0.1, 1);
  r.check(b.high > b.medium, "high_bar", "above medium_bar");
}

template <class R>
void read_settings(R& r, Settings& s) {
  r.duration("window", s.window_ns);
  r.check(s.window_ns >= 10 * ns_per_minute && s.window_ns <= ns_per_day, "window",
          "from 10m to 24h");
  r.duration("day", s.day_ns);
  r.check(s.day_ns >= s.window_ns && s.day_ns <= 7 * ns_per_day, "day", "from the window to 7d");
  // Each account (and each part of one) keeps the day's windows: a bounded number of them.
  r.check(s.window_ns <= 0 || s.day_ns / s.window_ns <= 168, "day",
          "at most 168 windows (a week of hours, a day of 10-minute windows)");
  r.duration("history_half_life", s.history_half_life_ns);
  r.duration("long_horizon_every", s.long_horizon_every_ns);
  r.check(s.long_horizon_every_ns >= ns_per_minute && s.long_horizon_every_ns <= s.window_ns,
          "long_horizon_every", "from 1m to the window");
  r.check(s.history_half_life_ns >= ns_per_hour && s.history_half_life_ns <= 90 * ns_per_day,
          "history_half_life", "from 1h to 90d");
  r.duration("cooldown", s.cooldown_ns);
  r.duration("max_skew", s.max_skew_ns);
  r.duration("idle_expiry", s.idle_expiry_ns);
  r.get("max_accounts", s.max_accounts, 1, 1'000'000'000);
  r.get("text_analysis_start", s.text_analysis_start, 0, 1);
  r.get("text_full_analysis", s.text_full_analysis);
  r.get("text_sample_every", s.text_sample_every, 1, 1'000'000);
  r.get("answer_input_ratio", s.answer_input_ratio, 0.01, 100);
  r.get("min_answer_tokens", s.min_answer_tokens);
  r.get("answer_length_correlation", s.answer_length_correlation, -1, 1);
  r.finish();
}

template <class R>
void read_allow(R& r, AllowList& a) {
  r.strings("keys", a.keys);
  r.strings("orgs", a.orgs);
  r.strings("templates", a.templates);
  r.finish();
}

template <class R>
void read_detectors(R& r, RuleSet& rules) {
  if (auto v = r.sub("volume_spike",
                     "completion tokens in a window far above the account's own baseline and "
                     "its peers")) {
    VolumeSpikeRule& d = rules.volume_spike;
    v->get("enabled", d.enabled);
    v->get("min_requests", d.min_requests);
    v->get("min_completion_tokens", d.min_completion_tokens);
    v->get("baseline_hours", d.baseline_hours, 24, 24 * 60);
    v->get("min_baseline_hours", d.min_baseline_hours);
    v->get("baseline_mads", d.baseline_mads, 0, 100);
    v->get("ratio", d.ratio, 1, 1e6);
    v->get("peer_quantile", d.peer_quantile, 0.5, 1);
    v->get("min_population_windows", d.min_population_windows, 1, 1'000'000'000);
    v->get("new_account_quantile", d.new_account_quantile, 0.5, 1);
    v->get("new_account_ratio", d.new_account_ratio, 1, 1e6);
    v->duration("warmup", d.warmup_ns);
    v->get("warmup_ratio", d.warmup_ratio, 1, 1e6);
    v->duration("dormant_after", d.dormant_after_ns);
    v->get("max_score", d.max_score, 0, 1);
    v->get("full_score_ratio", d.full_score_ratio, 1.1, 1e6);
    read_bars(*v, d.bars);
    v->finish();
  }
  if (auto t = r.sub("prompt_templating",
                     "most prompts stamped from one template with many distinct slot values")) {
    TemplatingRule& d = rules.prompt_templating;
    t->get("enabled", d.enabled);
    t->get("min_requests", d.min_requests);
    t->get("min_share", d.min_share, 0, 1);
    t->get("min_distinct_fills", d.min_distinct_fills, 0, 1e12);
    t->get("fills_full_ratio", d.fills_full_ratio, 1, 1e6);
    t->get("long_completion_tokens", d.long_completion_tokens);
    t->get("product_answer_share", d.product_answer_share, 0, 1);
    t->get("answer_expansion", d.answer_expansion, 0, 1e6);
    t->get("max_score_short_outputs", d.max_score_short_outputs, 0, 1);
    t->get("full_evidence_ratio", d.full_evidence_ratio, 1, 1e6);
    t->get("max_score_little_evidence", d.max_score_little_evidence, 0, 1);
    t->get("max_wrappers", d.max_wrappers, 1, 16);
    t->get("min_variant_questions", d.min_variant_questions, 0, 16);
    t->get("min_question_tokens", d.min_question_tokens, 1, 24);
    t->get("max_segments", d.max_segments, 0, 16);
    t->get("segment_max_share", d.segment_max_share, 0, 1);
    read_bars(*t, d.bars);
    t->finish();
  }
  if (auto s = r.sub("distillation_sweep",
                     "systematic instruction/benchmark coverage, reasoning asked for, long "
                     "answers, steady")) {
    SweepRule& d = rules.distillation_sweep;
    s->get("enabled", d.enabled);
    s->get("min_requests", d.min_requests);
    s->get("min_score", d.min_score, 0, 1);
    s->get("long_completion_tokens", d.long_completion_tokens);
    s->get("sampling_full_share", d.sampling_full_share, 0.01, 1);
    s->get("chain_of_thought_full_share", d.chain_of_thought_full_share, 0.01, 1);
    s->get("human_instruction_share", d.human_instruction_share, 0, 0.99);
    s->get("shared_list_min_prompts", d.shared_list_min_prompts, 1, 64);  // the sample holds 64
    s->get("shared_list_full_share", d.shared_list_full_share, 0.01, 1);
    s->get("cadence_min_slices", d.cadence_min_slices, 1, 60);
    s->get("cadence_min_gaps", d.cadence_min_gaps, 1, 1'000'000);
    s->get("cadence_min_windows", d.cadence_min_windows, 1, 10'000);
    s->get("metadata_only_weight", d.metadata_only_weight, 0, 1);
    s->duration("short_sweep", d.short_sweep_ns);
    s->get("max_score_short_sweep", d.max_score_short_sweep, 0, 1);
    s->get("sustained_ratio", d.sustained_ratio, 1, 1e6);
    s->get("sustained_bonus", d.sustained_bonus, 0, 1);
    s->get("max_segments", d.max_segments, 0, 64);
    s->get("segment_max_share", d.segment_max_share, 0, 1);
    if (auto wr = s->sub("weights", "the weights of the sweep's signals (they sum to 1)")) {
      SweepWeights& x = d.weights;
      wr->get("instruction", x.instruction, 0, 1);
      wr->get("diversity", x.diversity, 0, 1);
      wr->get("chain_of_thought", x.chain_of_thought, 0, 1);
      wr->get("single_turn", x.single_turn, 0, 1);
      wr->get("long_completion", x.long_completion, 0, 1);
      wr->get("sampling", x.sampling, 0, 1);
      wr->get("cadence", x.cadence, 0, 1);
      wr->finish();
      double sum = x.instruction + x.diversity + x.chain_of_thought + x.single_turn +
                   x.long_completion + x.sampling + x.cadence;
      wr->check(sum >= 0.99 && sum <= 1.01, "",
                fmt::format("the weights must sum to 1 (they sum to {:.3f})", sum));
    }
    read_bars(*s, d.bars);
    s->finish();
  }
  if (auto l = r.sub("logit_probe",
                     "one prompt with many logit_bias maps and tiny completions (logit "
                     "extraction)")) {
    LogitProbeRule& d = rules.logit_probe;
    l->get("enabled", d.enabled);
    l->get("min_distinct_biases", d.min_distinct_biases);
    l->get("max_completion_tokens", d.max_completion_tokens);
    l->get("full_score_ratio", d.full_score_ratio, 1, 1e6);
    l->get("echo_min_ratio", d.echo_min_ratio, 1, 1e6);
    l->get("echo_full_score_ratio", d.echo_full_score_ratio, 1, 1e6);
    read_bars(*l, d.bars);
    l->finish();
  }
  if (auto c = r.sub("release_chasing",
                     "most of a key's traffic moved to a model within hours of its first "
                     "appearance, with sweep evidence")) {
    ReleaseChasingRule& d = rules.release_chasing;
    c->get("enabled", d.enabled);
    c->duration("established", d.established_ns);
    c->duration("restart_after", d.restart_after_ns);
    c->duration("max_lag", d.max_lag_ns);
    c->get("min_requests", d.min_requests, 1, 1'000'000'000);
    c->get("min_requests_before", d.min_requests_before, 0, 1'000'000'000);
    c->get("min_moved_share", d.min_moved_share, 0.01, 1);
    c->get("min_sweep_score", d.min_sweep_score, 0, 1);
    c->get("move_bonus", d.move_bonus, 0, 1);
    c->get("max_score", d.max_score, 0, 1);
    read_bars(*c, d.bars);
    c->finish();
  }
  if (auto q = r.sub("quota_hugging",
                     "a steady rate held at the key's own ceiling, HTTP 429s at its edge")) {
    QuotaHuggingRule& d = rules.quota_hugging;
    q->get("enabled", d.enabled);
    q->get("min_windows", d.min_windows, 2, 168);
    q->get("max_windows", d.max_windows, 2, 168);
    q->check(d.max_windows >= d.min_windows, "max_windows", "at least min_windows");
    q->get("min_window_requests", d.min_window_requests, 1, 1'000'000'000);
    q->get("max_dispersion", d.max_dispersion, 0, 1e6);
    q->get("min_ceiling_share", d.min_ceiling_share, 0, 1);
    q->get("min_throttled", d.min_throttled, 1, 1'000'000'000);
    q->get("max_throttled_share", d.max_throttled_share, 0, 1);
    q->get("min_keys_throttled_share", d.min_keys_throttled_share, 0, 1);
    q->get("min_key_throttled", d.min_key_throttled, 1, 1'000'000'000);
    q->get("max_score_key", d.max_score_key, 0, 1);
    q->get("max_score", d.max_score, 0, 1);
    read_bars(*q, d.bars);
    q->finish();
  }
  r.finish();
}

template <class R>
void read_clusters(R& r, ClusterRule& c) {
  r.get("enabled", c.enabled);
  r.get("min_keys", c.min_keys, 2, 1'000'000);
  r.get("min_key_requests", c.min_key_requests, 1, 1'000'000);
  r.get("max_member_share", c.max_member_share, 0.01, 1);
  r.get("core_share", c.core_share, 0.01, 1);
  r.get("common_hours", c.common_hours, 2, 1'000'000);
  r.get("dominant_share", c.dominant_share, 0.5, 1);
  r.duration("wave", c.wave_ns);
  r.check(c.wave_ns >= ns_per_minute && c.wave_ns <= ns_per_day, "wave", "from 1m to 24h");
  r.duration("settled", c.settled_ns);
  r.get("new_after_requests", c.new_after_requests, 0, 1e6);
  r.get("max_listed_keys", c.max_listed_keys, 1, 100'000);
  r.get("coordination_bonus", c.coordination_bonus, 0, 0.5);
  r.get("coordination_full_keys", c.coordination_full_keys, 1, 1'000'000);
  r.finish();
}

template <class R>
void read_calibration(R& r, CalibrationInfo& c) {
  r.text("name", c.name);
  r.get("target_fpr", c.target_fpr, 0, 1);
  r.get("accounts", c.accounts);
  r.finish();
}

/// Settings, allow-lists and detectors: every parameter but the threshold rules.
template <class R>
void read_parameters(R& root, RuleSet& rules) {
  if (auto s = root.sub("settings", "windows, episodes, memory and how much prompt text is read"))
    read_settings(*s, rules.settings);
  if (auto a = root.sub("allow", "findings for these are suppressed (still counted)"))
    read_allow(*a, rules.allow);
  if (auto d = root.sub("detectors", "")) read_detectors(*d, rules);
  if (auto c =
          root.sub("clusters", "keys linked into campaigns, each judged as one pooled account"))
    read_clusters(*c, rules.clusters);
  if (auto c = root.sub("calibration",
                        "which calibration set the detectors' bars (exfilscan calibrate)"))
    read_calibration(*c, rules.calibration);
}

}  // namespace exfilscan::detail
