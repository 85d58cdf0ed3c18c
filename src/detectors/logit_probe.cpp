#include "detectors/logit_probe.h"

#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>

namespace exfilscan::detail {

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
