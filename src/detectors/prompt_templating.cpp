#include "detectors/prompt_templating.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

/// The templating verdict on one horizon: `prompts` analysed, `matches` of them filling the
/// template with `fills` distinct values, answers of `median_completion` tokens.
Verdict judge_templating(const TemplatingRule& rule, const Account& a, int t, double prompts,
                         double matches, double fills, double median_completion,
                         double product_share, const std::string& span) {
  Verdict v;
  // (A window's matches count the prompt its template was learnt from, which may be older.)
  double top_share = prompts > 0 ? std::min(1.0, matches / prompts) : 0;
  fills = std::round(fills);
  v.metrics = {{"prompts_analysed", prompts},
               {"top_template_share", top_share},
               {"distinct_fills", fills},
               {"median_completion_tokens", median_completion}};
  if (t < 0 || prompts < static_cast<double>(rule.min_requests) || top_share < rule.min_share ||
      fills < rule.min_distinct_fills)
    return v;
  v.fired = true;
  v.template_text = a.miner->masked(t);
  double score =
      0.5 + 0.3 * clamp01((top_share - rule.min_share) / (1 - rule.min_share + 1e-9)) +
      0.2 * clamp01(fills / (rule.fills_full_ratio * std::max(1.0, rule.min_distinct_fills)));
  // The answers are the product: long, or mostly as long as what was asked (a translation).
  bool long_outputs = median_completion >= static_cast<double>(rule.long_completion_tokens) ||
                      product_share >= rule.product_answer_share;
  if (!long_outputs) score = std::min(score, rule.max_score_short_outputs);
  // A few dozen templated prompts with long answers are also what content pipelines send:
  // high needs several times the minimum evidence (or a second signal, through the risk).
  if (prompts < rule.full_evidence_ratio * static_cast<double>(rule.min_requests))
    score = std::min(score, rule.max_score_little_evidence);
  v.score = score;
  v.reason = fmt::format(
      "{:.0f}% of {:.0f} prompts {} fill one template with {:.0f} distinct values{}",
      top_share * 100, prompts, span, fills,
      !long_outputs ? " (short answers: a pipeline as often as a harvest)"
      : median_completion >= static_cast<double>(rule.long_completion_tokens)
          ? fmt::format(", with long answers (median {:.0f} tokens)", median_completion)
          : fmt::format(", answered at length for what they ask ({:.0f}%)", product_share * 100));
  return v;
}

}  // namespace

Verdict evaluate_templating(const TemplatingRule& rule, const Settings& settings,
                            const Account& a) {
  const WindowStats& w = a.window;
  PooledEvidence now;
  now.add(window_evidence(a));
  int t = top_template(a);
  Verdict window = judge_templating(rule, a, t, static_cast<double>(w.text_requests),
                                    t >= 0 ? static_cast<double>(a.miner->matches(t)) : 0,
                                    t >= 0 ? a.miner->distinct_fills(t) : 0, w.median_completion(),
                                    now.transform_share(settings.answer_length_correlation),
                                    "in " + window_text(w));
  if (!a.miner) return window;
  // Over each template's life: the one filled most since it was learnt.
  int best = -1;
  for (size_t i = 0; i < a.miner->size(); ++i) {
    int j = static_cast<int>(i);
    if (best < 0 || a.miner->lifetime_matches(j) > a.miner->lifetime_matches(best)) best = j;
  }
  if (best < 0 || a.miner->prompts_since_learnt(best) <= w.text_requests) return window;
  PooledEvidence day = day_evidence(a);
  int64_t since = a.miner->learnt_ns(best);
  if (since == INT64_MIN) since = w.start_ns;
  double hours = static_cast<double>(w.last_ns - since) / static_cast<double>(ns_per_hour);
  std::string span = hours < 2 ? "in the last hours" : fmt::format("over {:.0f} hours", hours);
  Verdict life = judge_templating(
      rule, a, best, static_cast<double>(a.miner->prompts_since_learnt(best)),
      static_cast<double>(a.miner->lifetime_matches(best)), a.miner->lifetime_fills(best),
      day.median_completion(), day.transform_share(settings.answer_length_correlation), span);
  if (life.fired && (!window.fired || life.score > window.score)) return life;
  return window;
}

}  // namespace exfilscan::detail
