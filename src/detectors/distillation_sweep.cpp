#include "detectors/distillation_sweep.h"

#include "detectors/detector.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"
#include "detectors/segments.h"
#include "detectors/sweep_score.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

/// The parts of the key's traffic (detectors/segments.h); and for a cluster's pooled account,
/// over its life, which of its prompts several of its keys sent (1 KB).
struct SweepState final : DetectorState {
  Segments segments;
  std::unique_ptr<SharedPromptSketch> shared;
  void save(StateWriter& w) const override {
    segments.save(w);
    w.u8(shared ? 1 : 0);
    if (shared) shared->save(w);
  }
  void load(StateReader& r) override {
    segments.load(r);
    shared.reset();
    if (r.version() >= 12 && r.u8() != 0) {
      shared = std::make_unique<SharedPromptSketch>();
      shared->load(r);
    }
  }
  bool empty() const { return segments.empty() && !shared; }
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
  const SeverityBars& bars() const override { return rule_.bars; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<SweepState>();
  }
  void observe(std::unique_ptr<DetectorState>& state, const Account& a,
               const Observation& o) const override {
    if (a.pooled && o.analysed) {
      auto& shared = state_of<SweepState>(state).shared;
      if (!shared) shared = std::make_unique<SharedPromptSketch>();
      shared->add(o.analysed_hash, o.member);
    }
    if (rule_.max_segments == 0) return;
    SegmentTracker::observe(state_of<SweepState>(state).segments, segment_options_, a, o);
  }
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    if (!state) return;
    auto& sweep = static_cast<SweepState&>(*state);
    SegmentTracker::close_window(sweep.segments, segment_options_, a);
    if (sweep.empty()) state.reset();
  }
  /// Of a cluster's distinct prompts, the share two of its keys or more sent; -1 for a key, or
  /// under shared_list_min_prompts of them.
  double shared_share(const DetectorState* state) const {
    const auto* sweep = static_cast<const SweepState*>(state);
    if (!sweep || !sweep->shared || sweep->shared->sampled() < rule_.shared_list_min_prompts)
      return -1;
    return static_cast<double>(sweep->shared->shared()) /
           static_cast<double>(sweep->shared->sampled());
  }
  /// On the window, on the day horizon (settings.day of windows) and on each part of the key's
  /// traffic that is not most of it: the strongest.
  Verdict judge(const DetectorState* state, const Account& a) const override {
    // The current window's evidence, worked out once for every horizon.
    WindowEvidence now = window_evidence(a);
    PooledEvidence window;
    window.add(now);
    const double shared = shared_share(state);
    Verdict best = judge_sweep(rule_, settings_, a, window, nullptr, shared);
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
      keep(judge_sweep(rule_, settings_, a, day, &spread, shared));
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
        keep(judge_sweep(rule_, settings_, a, all, &spread, shared));
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
      // (Not the cluster's shared prompts: they are its whole traffic's, not the part's.)
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
