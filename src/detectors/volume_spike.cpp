#include "detectors/volume_spike.h"

#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

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

}  // namespace

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

}  // namespace exfilscan::detail
