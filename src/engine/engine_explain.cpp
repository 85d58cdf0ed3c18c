/// What `exfilscan explain` sees of the engine: every detector's verdict on each closing window
/// of the explained account, and the peaks its threshold rules reached.

#include "engine/engine_merger.h"

#include <algorithm>

namespace exfilscan {

void detail::Shard::explain(const Account& a) {
  auto report = [&](const char* name, bool enabled, Verdict v) {
    Explanation e;
    e.key = a.key;
    e.detector = name;
    e.enabled = enabled;
    e.window_start_ns = a.window.start_ns;
    e.window_end_ns = a.window.last_ns;
    e.fired = v.fired;
    e.score = v.score;
    e.metrics = v.metrics.to_vector();
    e.reason = std::move(v.reason);
    e.template_text = std::move(v.template_text);
    options.explain(e);
  };
  for (size_t d = 0; d < shared.detectors.size(); ++d) {
    const Detector& detector = *shared.detectors[d];
    // A cluster's pooled account is not judged by a detector of growth: off for it.
    bool on = detector.enabled() && (!a.pooled || detector.judges_pooled());
    report(detector.name(), on, on ? judge_on_scale(detector, a.states[d].get(), a) : Verdict{});
  }
}

std::vector<std::pair<const ThresholdRule*, double>> DetectionEngine::threshold_peaks(
    std::string_view key) const {
  std::vector<std::pair<const ThresholdRule*, double>> out;
  const detail::SharedState& shared = impl_->shared;
  for (size_t r = 0; r < shared.rules.thresholds.size(); ++r) {
    const ThresholdRule& rule = shared.rules.thresholds[r];
    double peak = -1;
    if (rule.group_by == shared.options.group_by && key == shared.options.explain_key)
      for (const auto& sh : impl_->shards) peak = std::max(peak, sh->thresholds[r].watched_peak());
    out.emplace_back(&rule, peak);
  }
  return out;
}

}  // namespace exfilscan
