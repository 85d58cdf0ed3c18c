#include "detectors/distillation_sweep.h"

#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

/// Sixtieths of the window elapsed so far.
int64_t slices_elapsed(const WindowStats& w) {
  return std::min<int64_t>(60, (w.last_ns - w.start_ns) / w.slice_ns + 1);
}

int64_t minutes_elapsed(const WindowStats& w) {
  return (w.last_ns - w.start_ns) / 60'000'000'000LL + 1;
}

}  // namespace

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

}  // namespace exfilscan::detail
