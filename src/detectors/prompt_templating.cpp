#include "detectors/prompt_templating.h"

#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

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

}  // namespace exfilscan::detail
