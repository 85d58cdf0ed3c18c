#include "detectors/sweep_score.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

/// A day's spread: from a day before the current window, or the account's (or part's) first.
Spread day_spread(const Settings& settings, const PooledEvidence& e, int64_t first_seen_ns) {
  int64_t window_ns = settings.window_ns;
  int64_t from = std::max(first_seen_ns, e.last_start_ns - settings.day_ns + window_ns);
  int64_t spanned = std::max<int64_t>(0, (e.last_start_ns - from) / window_ns) + 1;
  return {static_cast<double>(e.windows), static_cast<double>(spanned)};
}

/// The sweep's verdict on one horizon's pooled evidence. `spread`: none for the window, whose
/// cadence is the share of its sixtieths with traffic.
Verdict judge_sweep(const SweepRule& rule, const Settings& settings, const Account& a,
                    const PooledEvidence& e, const Spread* spread, double shared) {
  Verdict v;
  const SweepWeights& wt = rule.weights;
  double median_completion = e.median_completion();
  int64_t span_ns = spread && spread->span_ns >= 0 ? spread->span_ns : e.span_ns();
  int64_t minutes = span_ns / ns_per_minute + 1;
  auto part = [](double x, double whole) { return whole > 0 ? x / whole : 0.0; };
  double f_single = part(e.single_turn, e.turns_known);
  // The answers are the product: long, or as long as what was asked (a translation).
  double f_long =
      std::max(clamp01(median_completion / static_cast<double>(rule.long_completion_tokens)),
               e.transform_share(settings.answer_length_correlation));
  double f_sampling = clamp01(part(e.sampling, e.requests) / rule.sampling_full_share);
  // Machine cadence: traffic in most of the time elapsed, at a steady rate (gap variation at or
  // under 0.5 counts fully, 1 — Poisson arrivals — half, bursts nothing). Within a window the
  // time is its sixtieths; over a day, its windows: a script runs every hour, people keep hours.
  double coverage = 0;
  if (spread) {
    if (spread->spanned >= static_cast<double>(rule.cadence_min_windows))
      coverage = clamp01(spread->active / spread->spanned);
  } else if (e.slices_elapsed >= static_cast<double>(rule.cadence_min_slices)) {
    coverage = part(e.slices_active, e.slices_elapsed);
  }
  double variation = e.gap_variation(static_cast<double>(rule.cadence_min_gaps));
  double regularity = variation < 0 ? 0 : clamp01(1.5 - variation);
  double f_cadence = 0.5 * coverage + 0.5 * regularity;
  double temperature_spread =
      e.max_temperature >= e.min_temperature ? e.max_temperature - e.min_temperature : 0;
  double score;
  double f_instruction = 0, f_diversity = 0, f_cot = 0;
  double instruction_share = part(e.instruction, e.text_requests);
  bool list_shared = false;  // the members' shared prompts say more than the prompts' style
  if (e.text_requests > 0) {
    f_instruction = clamp01((instruction_share - rule.human_instruction_share) /
                            (1 - rule.human_instruction_share));
    // A list the members share says the same as a list's style, as far as its requests are
    // single questions: a list is asked one question a request, and people's conversations
    // share their openings.
    double f_shared = clamp01(shared / rule.shared_list_full_share) * f_single;
    list_shared = f_shared > f_instruction;
    f_instruction = std::max(f_instruction, f_shared);
    // Few repeats. Not "no template": a sweep wrapped in one is still a sweep (templating is
    // the other detector's evidence), and a repeated prompt is a health check or a cache.
    f_diversity = clamp01(part(e.distinct_prompts, e.text_requests));
    f_cot = clamp01(part(e.chain_of_thought, e.text_requests) / rule.chain_of_thought_full_share);
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
  double no_system = e.text_requests > 0 ? 1 - part(e.with_system, e.text_requests) : 0;
  v.metrics = {{"requests", e.requests},
               {"instruction_share", instruction_share},
               {"instruction_excess", f_instruction},
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
               {"end_users", e.end_users},
               {"span_hours", static_cast<double>(span_ns) / static_cast<double>(ns_per_hour)},
               {"score", score}};
  if (shared >= 0) v.metrics.push_back({"shared_prompts", shared});
  // (A score that is not a number says nothing: it never fires.)
  if (e.requests < static_cast<double>(rule.min_requests) || !(score >= rule.min_score)) return v;
  // A one-off eval is short; a harvest keeps going. Under short_sweep of traffic, stay medium.
  // (No sustained bonus then, under the cap or not; and held there under any bars.)
  if (minutes * ns_per_minute < rule.short_sweep_ns) {
    score = std::min(score, rule.max_score_short_sweep);
    v.medium_at_most = severity_of_score(rule.max_score_short_sweep) < Severity::high;
  } else if (e.requests >= rule.sustained_ratio * static_cast<double>(rule.min_requests)) {
    score += rule.sustained_bonus * f_long;  // a pipeline runs for hours too: the answers count
  }
  v.fired = true;
  v.score = clamp01(score);
  std::string span = minutes < 120 ? fmt::format("{} minutes", minutes)
                                   : fmt::format("{:.0f} hours", static_cast<double>(minutes) / 60);
  std::string list =
      list_shared
          ? fmt::format(" ({:.0f}% of the distinct prompts sent by two keys or more)", shared * 100)
          : "";
  v.reason = fmt::format(
      "systematic sweep: {:.0f} requests in {}, {:.0f}% instruction or benchmark style{}, "
      "{:.0f}% single-turn, median answer {:.0f} tokens{}",
      e.requests, span, instruction_share * 100, list, f_single * 100, median_completion,
      f_cot > 0.2 ? ", reasoning asked for" : "");
  return v;
}

double sweep_score(const SweepRule& rule, const Settings& settings, const Account& a) {
  const double min_requests = static_cast<double>(rule.min_requests);
  double best = 0;
  auto keep = [&](const PooledEvidence& e, const Spread* spread) {
    if (e.requests < min_requests) return;
    Verdict v = judge_sweep(rule, settings, a, e, spread);
    for (const auto& m : v.metrics)
      if (std::string_view(m.name) == "score" && m.value > best) best = m.value;
  };
  WindowEvidence now = window_evidence(a);
  PooledEvidence window;
  window.add(now);
  keep(window, nullptr);
  PooledEvidence day = a.recent_pool;
  day.add(now);
  if (!a.recent.empty()) {
    Spread spread = day_spread(settings, day, a.first_seen_ns);
    keep(day, &spread);
  }
  if (a.history.pool.windows > a.recent.size()) {
    PooledEvidence all = a.history.pool;
    all.add(now);
    double spanned = a.history.spanned + 1;
    Spread spread{a.history.active + 1, spanned,
                  std::min(all.span_ns(), static_cast<int64_t>(
                                              spanned * static_cast<double>(settings.window_ns)))};
    keep(all, &spread);
  }
  return best;
}

}  // namespace exfilscan::detail
