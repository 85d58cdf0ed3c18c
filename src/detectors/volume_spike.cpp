#include "detectors/volume_spike.h"

#include "detectors/detector.h"

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

/// What volume_spike judges a window against, from the account's history: the same for every
/// judgement of the window, so worked out once per window.
struct Baseline {
  int64_t window_start_ns = INT64_MIN;  // the window it is for (INT64_MIN: not worked out)
  size_t windows = 0;                   // active windows inside baseline_hours
  double ceiling = 0;                   // median + baseline_mads MADs of their completion tokens
};

/// An account's closed windows, for its own baseline.
struct VolumeState final : DetectorState {
  /// Oldest first: the windows that started inside baseline_hours before the current one (older
  /// ones are never looked at again, so an account's history stops growing after a week).
  std::vector<HistoryPoint> history;
  mutable Baseline baseline;  // memo of the history's verdict for the current window
  void save(StateWriter& w) const override {
    w.u64(history.size());
    for (const HistoryPoint& h : history)
      w.i64(h.start_ns), w.u64(h.requests), w.u64(h.completion_tokens);
  }
  void load(StateReader& r) override {
    history.resize(r.count(100000));
    for (HistoryPoint& h : history)
      h.start_ns = r.time(), h.requests = HistoryPoint::saturate(r.u64()),
      h.completion_tokens = HistoryPoint::saturate(r.u64());
    baseline = Baseline{};
  }
};

/// The account's own baseline, from windows inside baseline_hours before the current one. The
/// history changes only when a window closes, so this is worked out once per window.
Baseline baseline_of(const VolumeSpikeRule& rule, const VolumeState* state, const Account& a) {
  if (!state) return Baseline{};
  Baseline& b = state->baseline;
  if (b.window_start_ns == a.window.start_ns) return b;
  thread_local std::vector<double> own, scratch;
  own.clear();
  b = Baseline{};
  b.window_start_ns = a.window.start_ns;
  int64_t since = a.window.start_ns - static_cast<int64_t>(rule.baseline_hours) * ns_per_hour;
  for (const HistoryPoint& h : state->history) {
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

namespace {

Verdict judge_volume(const VolumeSpikeRule& rule, const PopulationView& population,
                     const VolumeState* state, const Account& a) {
  Verdict v;
  const WindowStats& w = a.window;
  double completion = static_cast<double>(w.completion_tokens);
  v.metrics = {{"requests", static_cast<double>(w.requests)},
               {"completion_tokens", completion},
               {"throttled_429", static_cast<double>(w.throttled)}};
  if (w.requests < rule.min_requests || w.completion_tokens < rule.min_completion_tokens) return v;

  Baseline base = baseline_of(rule, state, a);
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
  v.medium_at_most = severity_of_score(rule.max_score) < Severity::high;
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

class VolumeSpike final : public Detector {
 public:
  VolumeSpike(const RuleSet& rules, const PopulationView& population)
      : rules_(rules), rule_(rules.volume_spike), population_(population) {}
  const char* name() const override { return "volume_spike"; }
  bool enabled() const override { return rule_.enabled; }
  const SeverityBars& bars() const override { return rule_.bars; }
  bool judges_pooled() const override { return false; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<VolumeState>();
  }
  Verdict judge(const DetectorState* state, const Account& a) const override {
    return judge_volume(rule_, population_, static_cast<const VolumeState*>(state), a);
  }
  /// The closing window joins the account's history, and the points no later window can look at
  /// leave it: memory per account stops growing once its history spans baseline_hours.
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    VolumeState& s = state_of<VolumeState>(state);
    const WindowStats& w = a.window;
    auto& h = s.history;
    size_t cap = rule_.baseline_hours;
    int64_t window_ns = rules_.settings.window_ns;
    // Growing by a quarter: most accounts' histories settle well below the cap, and doubling
    // left a third of the memory unused.
    if (h.size() == h.capacity())
      h.reserve(std::min(std::max<size_t>(8, h.size() + h.size() / 4), cap + 1));
    h.push_back({w.start_ns, HistoryPoint::saturate(w.requests),
                 HistoryPoint::saturate(w.completion_tokens)});
    // A later window starts at this one's end, or (an event up to max_skew late reopening it)
    // no earlier than max_skew before the latest event seen.
    int64_t next_start =
        std::min(w.start_ns + window_ns, a.last_seen_ns - rules_.settings.max_skew_ns);
    int64_t oldest_used = next_start - static_cast<int64_t>(cap) * ns_per_hour;
    auto used = std::find_if(h.begin(), h.end(),
                             [&](const HistoryPoint& p) { return p.start_ns >= oldest_used; });
    if (h.end() - used > static_cast<std::ptrdiff_t>(cap))
      used = h.end() - static_cast<std::ptrdiff_t>(cap);
    h.erase(h.begin(), used);
    s.baseline = Baseline{};
  }
  std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const override {
    auto s = std::make_unique<VolumeState>();
    s->history = std::move(legacy.history);
    return s;
  }

 private:
  const RuleSet& rules_;
  const VolumeSpikeRule& rule_;
  const PopulationView& population_;
};

}  // namespace

std::unique_ptr<Detector> make_volume_spike(const RuleSet& rules,
                                            const PopulationView& population) {
  return std::make_unique<VolumeSpike>(rules, population);
}

}  // namespace exfilscan::detail
