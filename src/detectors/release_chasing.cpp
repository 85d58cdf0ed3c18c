#include "detectors/release_chasing.h"

#include "detectors/detector.h"
#include "detectors/model_releases.h"
#include "detectors/scoring.h"
#include "detectors/sweep_score.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace exfilscan::detail {

namespace {

/// The new model the account moved to (the first it used within max_lag of its appearance, or a
/// later one once that move fell under min_moved_share), and what it sent since: 80 bytes.
struct ChaseState final : DetectorState {
  std::string model;
  uint64_t model_hash = 0;
  int64_t released_ns = 0;   // the model's first appearance in the logs
  int64_t first_use_ns = 0;  // the account's first request to it (once the upkeep knew it)
  uint64_t before = 0;       // the account's requests before that one
  uint64_t moved = 0;        // its requests to the model since
  void save(StateWriter& w) const override {
    w.str(model);
    w.u64(model_hash);
    w.i64(released_ns);
    w.i64(first_use_ns);
    w.u64(before);
    w.u64(moved);
  }
  void load(StateReader& r) override {
    model = r.str();
    model_hash = r.u64();
    released_ns = r.time();
    first_use_ns = r.time();
    before = r.u64();
    moved = r.u64();
  }
};

class ReleaseChasing final : public Detector {
 public:
  ReleaseChasing(const RuleSet& rules, const ModelReleases& releases)
      : rule_(rules.release_chasing),
        sweep_(rules.distillation_sweep),
        settings_(rules.settings),
        releases_(releases) {}
  const char* name() const override { return "release_chasing"; }
  bool enabled() const override { return rule_.enabled; }
  const SeverityBars& bars() const override { return rule_.bars; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<ChaseState>();
  }
  void observe(std::unique_ptr<DetectorState>& state, const Account& a,
               const Observation& o) const override {
    const Event& ev = o.event;
    if (ev.model.empty() || releases_.models.empty()) return;
    uint64_t model = hash_bytes(ev.model);
    auto* s = static_cast<ChaseState*>(state.get());
    if (s && s->model_hash == model) {
      ++s->moved;
      return;
    }
    auto released = releases_.release(model);
    if (!released || ev.timestamp_ns - *released > rule_.max_lag_ns) return;
    // The one it moved to stays (`a.requests` counts the requests before this one).
    if (s && share(s->moved, a.requests - s->before) >= rule_.min_moved_share) return;
    ChaseState& c = state_of<ChaseState>(state);
    c.model = std::string(ev.model.substr(0, 200));
    c.model_hash = model;
    c.released_ns = *released;
    c.first_use_ns = ev.timestamp_ns;
    c.before = a.requests;
    c.moved = 1;
  }
  Verdict judge(const DetectorState* state, const Account& a) const override;

 private:
  const ReleaseChasingRule& rule_;
  const SweepRule& sweep_;
  const Settings& settings_;
  const ModelReleases& releases_;
};

Verdict ReleaseChasing::judge(const DetectorState* state, const Account& a) const {
  Verdict v;
  if (!state) {  // no move to a release yet
    v.metrics = {{"moved_requests", 0}, {"moved_share", 0}};
    return v;
  }
  const auto& s = static_cast<const ChaseState&>(*state);
  uint64_t since = a.requests > s.before ? a.requests - s.before : 0;
  double moved_share = share(s.moved, since);
  double lag_h = static_cast<double>(s.first_use_ns - s.released_ns) / ns_per_hour;
  double span_h = static_cast<double>(a.last_seen_ns - s.first_use_ns) / ns_per_hour;
  bool moved = s.moved >= rule_.min_requests && s.before >= rule_.min_requests_before &&
               moved_share >= rule_.min_moved_share;
  // The sweep's evidence costs a judgement of its horizons: only for a move, and only when the
  // longer horizons are judged (engine/account_state.h).
  double sweep = moved && a.judge_long ? sweep_score(sweep_, settings_, a) : 0;
  v.metrics = {{"moved_requests", static_cast<double>(s.moved)},
               {"moved_share", moved_share},
               {"requests_before", static_cast<double>(s.before)},
               {"lag_hours", lag_h},
               {"span_hours", std::max(0.0, span_h)},
               {"sweep_score", sweep}};
  if (!moved || !(sweep >= rule_.min_sweep_score)) return v;
  // The more of its traffic moved, the more the move adds to the sweep's evidence (lag_hours is
  // a bar: within max_lag of the model's appearance is "within hours" of a release).
  double whole =
      clamp01((moved_share - rule_.min_moved_share) / (1 - rule_.min_moved_share + 1e-9));
  v.fired = true;
  v.score = std::min(rule_.max_score, sweep + rule_.move_bonus * whole);
  v.metrics.push_back({"score", v.score});
  v.reason = fmt::format(
      "moved {:.0f}% of its traffic ({} requests over {:.0f} hours) to {} {:.0f} hours after "
      "the model first appeared in the logs, with sweep evidence (score {:.2f})",
      moved_share * 100, s.moved, std::max(1.0, span_h), s.model, lag_h, sweep);
  return v;
}

}  // namespace

std::unique_ptr<Detector> make_release_chasing(const RuleSet& rules,
                                               const ModelReleases& releases) {
  return std::make_unique<ReleaseChasing>(rules, releases);
}

}  // namespace exfilscan::detail
