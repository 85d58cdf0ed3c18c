#include "detectors/horizons.h"

#include <algorithm>

namespace exfilscan::detail {

namespace {

/// Sixtieths of the window elapsed so far.
int64_t slices_elapsed(const WindowStats& w) {
  return std::min<int64_t>(60, (w.last_ns - w.start_ns) / w.slice_ns + 1);
}

}  // namespace

WindowEvidence window_evidence(const Account& a) {
  const WindowStats& w = a.window;
  WindowEvidence e;
  auto f = [](uint64_t n) { return static_cast<float>(n); };
  e.start_ns = w.start_ns;
  e.last_ns = w.last_ns;
  e.requests = f(w.requests);
  e.text_requests = f(w.text_requests);
  e.instruction = f(w.instruction);
  e.chain_of_thought = f(w.chain_of_thought);
  e.single_turn = f(w.single_turn);
  e.turns_known = f(w.turns_known);
  e.sampling = f(w.sampling);
  e.with_system = f(w.with_system);
  e.distinct_prompts = static_cast<float>(w.prompts.estimate());
  e.completion_known = f(w.completion.count());
  e.product_answers = f(w.product_answers);
  e.lengths = w.lengths;
  e.median_completion = static_cast<float>(w.median_completion());
  e.slices_active = f(w.slices.count());
  e.slices_elapsed = static_cast<float>(slices_elapsed(w));
  e.gaps = f(w.gaps);
  e.gap_mean = static_cast<float>(w.gap_mean);
  e.gap_m2 = static_cast<float>(std::max(0.0, w.gap_m2));
  e.end_users = static_cast<float>(w.end_users.estimate());
  e.min_temperature = static_cast<float>(std::min(w.min_temperature, 1e9));
  e.max_temperature = static_cast<float>(w.max_temperature);
  return e;
}

PooledEvidence day_evidence(const Account& a) {
  PooledEvidence day = a.recent_pool;
  day.add(window_evidence(a));
  return day;
}

}  // namespace exfilscan::detail
