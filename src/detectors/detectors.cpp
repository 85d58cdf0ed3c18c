#include "detectors/detectors.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

double clamp01(double x) {
  return std::clamp(x, 0.0, 1.0);
}

double share(uint64_t part, uint64_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

/// Median + `mads` MADs of the account's active windows: robust to the odd busy hour. Sorts `v`
/// and uses `dev` as scratch (both reused across calls: judging allocates nothing).
double robust_ceiling(std::vector<double>& v, std::vector<double>& dev, double mads) {
  std::sort(v.begin(), v.end());
  double median = v[v.size() / 2];
  dev.clear();
  for (double x : v) dev.push_back(std::fabs(x - median));
  std::nth_element(dev.begin(), dev.begin() + static_cast<std::ptrdiff_t>(dev.size() / 2),
                   dev.end());
  return median + mads * dev[dev.size() / 2];
}

/// The account's own baseline, from windows inside baseline_hours before the current one. The
/// history changes only when a window closes, so this is worked out once per window.
const Baseline& baseline_of(const VolumeSpikeRule& rule, const Account& a) {
  Baseline& b = a.baseline;
  if (b.window_start_ns == a.window.start_ns) return b;
  thread_local std::vector<double> own, scratch;
  own.clear();
  b = Baseline{};
  b.window_start_ns = a.window.start_ns;
  int64_t since = a.window.start_ns - static_cast<int64_t>(rule.baseline_hours) * ns_per_hour;
  for (const HistoryPoint& h : a.history) {
    if (h.start_ns < since || h.requests == 0) continue;
    own.push_back(static_cast<double>(h.completion_tokens));
  }
  b.windows = own.size();
  if (!own.empty()) b.ceiling = std::max(1.0, robust_ceiling(own, scratch, rule.baseline_mads));
  return b;
}

/// Sixtieths of the window elapsed so far.
int64_t slices_elapsed(const WindowStats& w) {
  return std::min<int64_t>(60, (w.last_ns - w.start_ns) / w.slice_ns + 1);
}

int64_t minutes_elapsed(const WindowStats& w) {
  return (w.last_ns - w.start_ns) / 60'000'000'000LL + 1;
}

std::string window_text(const WindowStats& w) {
  int64_t minutes = w.slice_ns * 60 / 60'000'000'000LL;
  return minutes % 60 == 0 ? fmt::format("{}h", minutes / 60) : fmt::format("{}min", minutes);
}

}  // namespace

int top_template(const Account& a) {
  if (!a.miner) return -1;
  int best = -1;
  uint64_t most = 0;
  for (size_t i = 0; i < a.miner->size(); ++i) {
    if (a.miner->matches(static_cast<int>(i)) > most) {
      most = a.miner->matches(static_cast<int>(i));
      best = static_cast<int>(i);
    }
  }
  return best;
}

void PopulationView::update(const LogHistogram& population, const VolumeSpikeRule& rule,
                            int64_t since) {
  windows = population.count();
  peers = population.quantile(rule.peer_quantile);
  new_account_q = population.quantile(rule.new_account_quantile);
  since_ns = since;
}

Verdict evaluate_volume_spike(const VolumeSpikeRule& rule, const Account& a,
                              const PopulationView& population) {
  Verdict v;
  const WindowStats& w = a.window;
  double completion = static_cast<double>(w.completion_tokens);
  v.metrics = {{"requests", static_cast<double>(w.requests)},
               {"completion_tokens", completion},
               {"throttled_429", static_cast<double>(w.throttled)}};
  if (w.requests < rule.min_requests || w.completion_tokens < rule.min_completion_tokens) return v;

  const Baseline& base = baseline_of(rule, a);
  // Quiet since its last event before this window: not from the history, which holds only the
  // windows of the last baseline_hours (as long as dormant_after by default: none would be old
  // enough), nor lost when idle expiry forgot the key (the engine remembers when it was seen).
  int64_t last_active = a.active_before_ns;
  bool dormant = last_active > 0 && w.start_ns - last_active > rule.dormant_after_ns;
  double bar;
  size_t baseline_windows = base.windows;
  double ceiling = 0, ratio = 0;  // what the bar is: a multiple of the baseline or of a quantile
  if (base.windows >= rule.min_baseline_hours && !dormant) {
    ceiling = base.ceiling;
    // Far above its own history, and above what most accounts do anyway: a small account
    // tripling to a still small volume is not news.
    double peers = population.windows >= rule.min_population_windows ? population.peers : 0;
    bar = std::max(ceiling * rule.ratio, peers);
    // (Named for the default peer_quantile: metric names are part of the output contract.)
    v.metrics.push_back({"population_p90_tokens", peers});
    v.metrics.push_back({"baseline_completion_tokens", ceiling});
    v.metrics.push_back({"baseline_windows", static_cast<double>(baseline_windows)});
  } else {
    // New or dormant: judged against what the accounts of this population do in a window,
    // once there is a population to judge against.
    if (population.windows < rule.min_population_windows) return v;
    double q = population.new_account_q;
    // In the input's first hours every account looks new: only a far larger excess says so.
    int64_t warm_until;  // saturated: since_ns is INT64_MAX until the population is usable
    if (__builtin_add_overflow(population.since_ns, rule.warmup_ns, &warm_until))
      warm_until = INT64_MAX;
    bool warming_up = !dormant && a.first_seen_ns < warm_until;
    ratio = rule.new_account_ratio * (warming_up ? rule.warmup_ratio : 1);
    bar = std::max(q * ratio, static_cast<double>(rule.min_completion_tokens));
    v.metrics.push_back({"population_quantile_tokens", q});
  }
  double over = completion / bar;
  v.metrics.push_back({"ratio_to_bar", over});
  if (over < 1) return v;
  v.fired = true;
  // At the bar: 60 % of the cap; full_score_ratio times over it: the cap.
  v.score =
      rule.max_score * (0.6 + 0.4 * clamp01(std::log10(over) / std::log10(rule.full_score_ratio)));
  std::string against;
  if (ceiling > 0) {
    against =
        fmt::format("{:.0f}x its own baseline of {:.0f} per hour", completion / ceiling, ceiling);
  } else {
    std::string above =
        fmt::format("{:g}x the p{:.0f} of all accounts", ratio, rule.new_account_quantile * 100);
    against = dormant ? fmt::format("after {} quiet days, {}",
                                    (w.start_ns - last_active) / 86'400'000'000'000LL, above)
                      : fmt::format("from a new account, {}", above);
  }
  v.reason = fmt::format("{:.0f} completion tokens in {} requests within {}, {}", completion,
                         w.requests, window_text(w), against);
  return v;
}

Verdict evaluate_templating(const TemplatingRule& rule, const Account& a) {
  Verdict v;
  const WindowStats& w = a.window;
  int t = top_template(a);
  double top_share = t >= 0 ? share(a.miner->matches(t), w.text_requests) : 0;
  double fills = t >= 0 ? std::round(a.miner->distinct_fills(t)) : 0;
  double median_completion = w.median_completion();
  v.metrics = {{"prompts_analysed", static_cast<double>(w.text_requests)},
               {"top_template_share", top_share},
               {"distinct_fills", fills},
               {"median_completion_tokens", median_completion}};
  if (t < 0 || w.text_requests < rule.min_requests || top_share < rule.min_share ||
      fills < rule.min_distinct_fills)
    return v;
  v.fired = true;
  v.template_text = a.miner->masked(t);
  double score =
      0.5 + 0.3 * clamp01((top_share - rule.min_share) / (1 - rule.min_share + 1e-9)) +
      0.2 * clamp01(fills / (rule.fills_full_ratio * std::max(1.0, rule.min_distinct_fills)));
  bool long_outputs = median_completion >= static_cast<double>(rule.long_completion_tokens);
  if (!long_outputs) score = std::min(score, rule.max_score_short_outputs);
  // A few dozen templated prompts with long answers are also what content pipelines send:
  // high needs several times the minimum evidence (or a second signal, through the risk).
  if (static_cast<double>(w.text_requests) <
      rule.full_evidence_ratio * static_cast<double>(rule.min_requests))
    score = std::min(score, rule.max_score_little_evidence);
  v.score = score;
  v.reason = fmt::format(
      "{:.0f}% of {} prompts in {} fill one template with {:.0f} distinct values{}",
      top_share * 100, w.text_requests, window_text(w), fills,
      long_outputs ? fmt::format(", with long answers (median {:.0f} tokens)", median_completion)
                   : " (short answers: a pipeline as often as a harvest)");
  return v;
}

Verdict evaluate_sweep(const SweepRule& rule, const Account& a) {
  Verdict v;
  const WindowStats& w = a.window;
  const SweepWeights& wt = rule.weights;
  double median_completion = w.median_completion();
  int64_t slices = slices_elapsed(w);
  int64_t minutes = minutes_elapsed(w);
  double f_single = share(w.single_turn, w.turns_known);
  double f_long = clamp01(median_completion / static_cast<double>(rule.long_completion_tokens));
  double f_sampling = clamp01(share(w.sampling, w.requests) / rule.sampling_full_share);
  // Machine cadence: traffic in most of the window's sixtieths, at a steady rate (gap variation
  // at or under 0.5 counts fully, 1 — Poisson arrivals — half, bursts nothing).
  double coverage = static_cast<uint64_t>(slices) >= rule.cadence_min_slices
                        ? share(w.slices.count(), static_cast<uint64_t>(slices))
                        : 0;
  double variation = w.gap_variation(rule.cadence_min_gaps);
  double regularity = variation < 0 ? 0 : clamp01(1.5 - variation);
  double f_cadence = 0.5 * coverage + 0.5 * regularity;
  double temperature_spread =
      w.max_temperature >= w.min_temperature ? w.max_temperature - w.min_temperature : 0;
  double score;
  double f_instruction = 0, f_diversity = 0, f_cot = 0;
  if (w.text_requests > 0) {
    int t = top_template(a);
    double top_share = t >= 0 ? share(a.miner->matches(t), w.text_requests) : 0;
    f_instruction = share(w.instruction, w.text_requests);
    f_diversity =
        clamp01(w.prompts.estimate() / static_cast<double>(w.text_requests)) * (1 - top_share);
    f_cot = clamp01(share(w.chain_of_thought, w.text_requests) / rule.chain_of_thought_full_share);
    score = wt.instruction * f_instruction + wt.diversity * f_diversity +
            wt.chain_of_thought * f_cot + wt.single_turn * f_single + wt.long_completion * f_long +
            wt.sampling * f_sampling + wt.cadence * f_cadence;
  } else {
    // Metadata only (the log holds no prompt text): the same signals without the text ones,
    // worth less since half the evidence is missing.
    double sum = wt.single_turn + wt.long_completion + wt.sampling + wt.cadence;
    score = sum > 0 ? rule.metadata_only_weight *
                          (wt.single_turn * f_single + wt.long_completion * f_long +
                           wt.sampling * f_sampling + wt.cadence * f_cadence) /
                          sum
                    : 0;
  }
  // Context for the analyst, not evidence: raw API backends send no system prompt and no
  // end-user ids as often as extraction scripts do.
  double no_system = w.text_requests ? 1 - share(w.with_system, w.text_requests) : 0;
  v.metrics = {{"requests", static_cast<double>(w.requests)},
               {"instruction_share", f_instruction},
               {"diversity", f_diversity},
               {"chain_of_thought", f_cot},
               {"single_turn_share", f_single},
               {"long_completion", f_long},
               {"sampling", f_sampling},
               {"cadence", f_cadence},
               {"gap_variation", std::max(0.0, variation)},
               {"temperature_spread", temperature_spread},
               {"hours_of_day_active", static_cast<double>(a.hours_of_day.count())},
               {"no_system_prompt", no_system},
               {"end_users", w.end_users.estimate()},
               {"score", score}};
  if (w.requests < rule.min_requests || score < rule.min_score) return v;
  // A one-off eval is short; a harvest keeps going. Under short_sweep of traffic, stay medium.
  if (minutes * ns_per_minute < rule.short_sweep_ns)
    score = std::min(score, rule.max_score_short_sweep);
  v.fired = true;
  v.score = clamp01(score);
  v.reason = fmt::format(
      "systematic sweep: {} requests in {} minutes, {:.0f}% instruction or benchmark style, "
      "{:.0f}% single-turn, median answer {:.0f} tokens{}",
      w.requests, minutes, f_instruction * 100, f_single * 100, median_completion,
      f_cot > 0.2 ? ", reasoning asked for" : "");
  return v;
}

Verdict evaluate_logit_probe(const LogitProbeRule& rule, const Account& a) {
  Verdict v;
  const WindowStats& w = a.window;
  double most = 0;
  for (const auto& [prompt, biases] : w.biases_by_prompt) most = std::max(most, biases.estimate());
  v.metrics = {{"probe_requests", static_cast<double>(w.probe_requests)},
               {"max_distinct_biases_per_prompt", most}};
  bool bias_probe = most >= static_cast<double>(rule.min_distinct_biases);
  // Legacy echo + logprobs returns the prompt's own token probabilities: the same harvest.
  bool echo_probe = static_cast<double>(w.probe_requests) >=
                        rule.echo_min_ratio * static_cast<double>(rule.min_distinct_biases) &&
                    w.biases_by_prompt.empty();
  if (!bias_probe && !echo_probe) return v;
  v.fired = true;
  double bar = static_cast<double>(rule.min_distinct_biases);
  double strength =
      bias_probe ? most / (rule.full_score_ratio * bar)
                 : static_cast<double>(w.probe_requests) / (rule.echo_full_score_ratio * bar);
  v.score = 0.8 + 0.2 * clamp01(strength);
  v.reason = bias_probe ? fmt::format(
                              "one prompt sent with {:.0f} different logit_bias maps and "
                              "logprobs, tiny completions: the logit-extraction signature",
                              most)
                        : fmt::format(
                              "{} echo+logprobs requests with tiny completions: harvesting "
                              "prompt-token probabilities",
                              w.probe_requests);
  return v;
}

}  // namespace exfilscan::detail
