#include "detectors/distillation_sweep.h"

#include "detectors/detector.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"
#include "detectors/segments.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

/// Over a horizon of several windows, its windows with traffic and the windows it spans: the
/// share of the time with traffic, once it spans cadence_min_windows (decayed, for the history).
struct Spread {
  double active = 0, spanned = 0;
  int64_t span_ns = -1;  // the time its evidence covers, when not its first to last window's
};

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
                    const PooledEvidence& e, const Spread* spread) {
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
  if (e.text_requests > 0) {
    f_instruction = clamp01((instruction_share - rule.human_instruction_share) /
                            (1 - rule.human_instruction_share));
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
  // (A score that is not a number says nothing: it never fires.)
  if (e.requests < static_cast<double>(rule.min_requests) || !(score >= rule.min_score)) return v;
  // A one-off eval is short; a harvest keeps going. Under short_sweep of traffic, stay medium.
  if (minutes * ns_per_minute < rule.short_sweep_ns)
    score = std::min(score, rule.max_score_short_sweep);
  else if (e.requests >= rule.sustained_ratio * static_cast<double>(rule.min_requests))
    score += rule.sustained_bonus * f_long;  // a pipeline runs for hours too: the answers count
  v.fired = true;
  v.score = clamp01(score);
  std::string span = minutes < 120 ? fmt::format("{} minutes", minutes)
                                   : fmt::format("{:.0f} hours", static_cast<double>(minutes) / 60);
  v.reason = fmt::format(
      "systematic sweep: {:.0f} requests in {}, {:.0f}% instruction or benchmark style, "
      "{:.0f}% single-turn, median answer {:.0f} tokens{}",
      e.requests, span, instruction_share * 100, f_single * 100, median_completion,
      f_cot > 0.2 ? ", reasoning asked for" : "");
  return v;
}

/// The parts of the key's traffic (detectors/segments.h).
struct SweepState final : DetectorState {
  Segments segments;
  void save(StateWriter& w) const override { segments.save(w); }
  void load(StateReader& r) override { segments.load(r); }
};

std::string describe(const Segment& s) {
  if (s.by_end_user) return "one end user";
  return fmt::format("{}, {}", s.with_system ? "one system prompt" : "no system prompt",
                     s.with_end_users ? "with end users" : "no end users");
}

class DistillationSweep final : public Detector {
 public:
  explicit DistillationSweep(const RuleSet& rules)
      : rule_(rules.distillation_sweep), settings_(rules.settings) {
    segment_options_.max_segments = rule_.max_segments;
    segment_options_.window_ns = settings_.window_ns;
    segment_options_.day_ns = settings_.day_ns;
    segment_options_.min_answer_tokens = settings_.min_answer_tokens;
    segment_options_.answer_input_ratio = settings_.answer_input_ratio;
  }
  const char* name() const override { return "distillation_sweep"; }
  bool enabled() const override { return rule_.enabled; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<SweepState>();
  }
  void observe(std::unique_ptr<DetectorState>& state, const Account& a,
               const Observation& o) const override {
    if (rule_.max_segments == 0) return;
    SegmentTracker::observe(state_of<SweepState>(state).segments, segment_options_, a, o);
  }
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    if (!state) return;
    auto& segments = static_cast<SweepState&>(*state).segments;
    SegmentTracker::close_window(segments, segment_options_, a);
    if (segments.empty()) state.reset();
  }
  /// On the window, on the day horizon (settings.day of windows) and on each part of the key's
  /// traffic that is not most of it: the strongest.
  Verdict judge(const DetectorState* state, const Account& a) const override {
    // The current window's evidence, worked out once for every horizon.
    WindowEvidence now = window_evidence(a);
    PooledEvidence window;
    window.add(now);
    Verdict best = judge_sweep(rule_, settings_, a, window, nullptr);
    // Whichever holds the stronger case; the window's when none fires (explain).
    auto keep = [&](Verdict v) {
      if (v.fired && (!best.fired || v.score > best.score)) best = std::move(v);
    };
    // Under min_requests a horizon does not fire (judge_sweep's first bar), and only a verdict
    // that fires can be kept: such horizons and parts are not judged.
    const double min_requests = static_cast<double>(rule_.min_requests);
    if (!a.judge_long) return best;      // the window only (engine/account_state.h)
    PooledEvidence day = a.recent_pool;  // day_evidence(a)
    day.add(now);
    if (!a.recent.empty() && day.requests >= min_requests) {
      Spread spread = day_spread(settings_, day, a.first_seen_ns);
      keep(judge_sweep(rule_, settings_, a, day, &spread));
    }
    // The whole history, once it holds more than the day.
    if (a.history.pool.windows > a.recent.size()) {
      PooledEvidence all = a.history.pool;
      all.add(now);
      if (all.requests >= min_requests) {
        // Its span: the windows it weighs, decayed (a month-old window weighs nothing).
        double spanned = a.history.spanned + 1;
        Spread spread{
            a.history.active + 1, spanned,
            std::min(all.span_ns(),
                     static_cast<int64_t>(spanned * static_cast<double>(settings_.window_ns)))};
        keep(judge_sweep(rule_, settings_, a, all, &spread));
      }
    }
    if (!state) return best;
    const auto& segments = static_cast<const SweepState*>(state)->segments.parts;
    if (segments.size() < 2) return best;
    for (const Segment& s : segments) {
      PooledEvidence part = s.day(a.window.start_ns, a.window.slice_ns, settings_.day_ns);
      if (part.windows == 0) continue;  // nothing left in the day
      double share = day.requests > 0 ? part.requests / day.requests : 1;
      if (share > rule_.segment_max_share) continue;  // most of the key: the key's verdict
      if (part.requests < min_requests) continue;
      Spread spread = day_spread(settings_, part, s.first_ns);
      Verdict v = judge_sweep(rule_, settings_, a, part, &spread);
      if (!v.fired) continue;
      v.metrics.push_back({"segment_share", share});
      v.reason = fmt::format("in {:.0f}% of the key's traffic ({}): {}", share * 100, describe(s),
                             v.reason);
      keep(std::move(v));
    }
    return best;
  }

 private:
  const SweepRule& rule_;
  const Settings& settings_;
  SegmentOptions segment_options_;
};

}  // namespace

std::unique_ptr<Detector> make_distillation_sweep(const RuleSet& rules) {
  return std::make_unique<DistillationSweep>(rules);
}

}  // namespace exfilscan::detail
