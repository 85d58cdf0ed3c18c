#include "detectors/quota_hugging.h"

#include "detectors/detector.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <utility>
#include <vector>

namespace exfilscan::detail {

namespace {

/// A cluster's pooled account: each of its keys that got a 429 in a window, with how many.
using KeyThrottles = std::vector<std::pair<uint64_t, uint64_t>>;
constexpr size_t max_throttled_keys = 256;  // per window (a cluster's keys beyond: not counted)

void save_throttles(StateWriter& w, const KeyThrottles& t) {
  w.u64(t.size());
  for (const auto& [key, n] : t) w.u64(key), w.u64(n);
}

void load_throttles(StateReader& r, KeyThrottles& t) {
  t.resize(r.count(max_throttled_keys));
  for (auto& [key, n] : t) key = r.u64(), n = r.u64();
}

/// A closed window's requests and 429s: 24 bytes each (and a pooled account's throttled keys),
/// at most max_windows of them, kept only while every window has min_window_requests (most
/// accounts never do, and keep nothing).
struct HugWindow {
  int64_t start_ns = 0;
  uint64_t requests = 0;
  uint64_t throttled = 0;
  KeyThrottles keys;
};

struct HugState final : DetectorState {
  std::vector<HugWindow> windows;  // consecutive, oldest first
  KeyThrottles current;            // the current window's throttled keys (a pooled account's)
  void save(StateWriter& w) const override {
    w.u64(windows.size());
    for (const HugWindow& h : windows) {
      w.i64(h.start_ns), w.u64(h.requests), w.u64(h.throttled);
      save_throttles(w, h.keys);
    }
    save_throttles(w, current);
  }
  void load(StateReader& r) override {
    windows.resize(r.count(168));
    for (HugWindow& h : windows) {
      h.start_ns = r.time();
      h.requests = r.u64();
      h.throttled = r.u64();
      load_throttles(r, h.keys);
    }
    load_throttles(r, current);
  }
};

class QuotaHugging final : public Detector {
 public:
  explicit QuotaHugging(const RuleSet& rules)
      : rule_(rules.quota_hugging), window_ns_(rules.settings.window_ns) {}
  const char* name() const override { return "quota_hugging"; }
  bool enabled() const override { return rule_.enabled; }
  const SeverityBars& bars() const override { return rule_.bars; }
  std::unique_ptr<DetectorState> new_state() const override { return std::make_unique<HugState>(); }
  /// A cluster is judged by how many of its keys press on their limits, not by its sum alone:
  /// hundreds of unrelated keys add up to a flat rate too.
  void observe(std::unique_ptr<DetectorState>& state, const Account& a,
               const Observation& o) const override {
    if (!a.pooled || o.event.status.value_or(0) != 429) return;
    KeyThrottles& t = state_of<HugState>(state).current;
    uint64_t key = hash_bytes(o.event.api_key);
    auto at = std::find_if(t.begin(), t.end(), [&](const auto& k) { return k.first == key; });
    if (at != t.end())
      ++at->second;
    else if (t.size() < max_throttled_keys)
      t.emplace_back(key, 1);
  }
  /// The window joins the run of busy windows, or ends it: a quiet or missed window is no
  /// ceiling held.
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    const WindowStats& w = a.window;
    if (w.requests < rule_.min_window_requests) {
      state.reset();
      return;
    }
    HugState& s = state_of<HugState>(state);
    if (!s.windows.empty() && w.start_ns - s.windows.back().start_ns >= 2 * window_ns_)
      s.windows.clear();
    s.windows.push_back({w.start_ns, w.requests, w.throttled, std::move(s.current)});
    s.current.clear();
    if (s.windows.size() > rule_.max_windows) s.windows.erase(s.windows.begin());
  }
  Verdict judge(const DetectorState* state, const Account& a) const override;

 private:
  const QuotaHuggingRule& rule_;
  int64_t window_ns_;
};

Verdict QuotaHugging::judge(const DetectorState* state, const Account& a) const {
  Verdict v;
  v.metrics = {{"windows", 0}};  // no run of busy windows yet
  if (!state) return v;
  const auto& hug = static_cast<const HugState&>(*state);
  const auto& ws = hug.windows;
  // The current window is not over: the closed ones alone say where the ceiling is.
  if (ws.empty() || a.window.start_ns - ws.back().start_ns >= 2 * window_ns_) return v;
  v.metrics = {};
  double n = static_cast<double>(ws.size());
  double sum = 0, sq = 0, ceiling = 0, throttled = 0;
  std::vector<double> counts;
  for (const HugWindow& h : ws) {
    auto r = static_cast<double>(h.requests);
    sum += r, sq += r * r, ceiling = std::max(ceiling, r);
    throttled += static_cast<double>(h.throttled);
    counts.push_back(r);
  }
  double mean = sum / n;
  double variance = n > 1 ? std::max(0.0, (sq - sum * mean) / (n - 1)) : 0;
  double dispersion = mean > 0 ? variance / mean : 0;
  std::nth_element(counts.begin(), counts.begin() + static_cast<std::ptrdiff_t>(counts.size() / 2),
                   counts.end());
  double median = counts[counts.size() / 2];
  double held = ceiling > 0 ? median / ceiling : 0;
  double throttled_share = share(static_cast<uint64_t>(throttled), static_cast<uint64_t>(sum));
  double hours = static_cast<double>(ws.back().start_ns + window_ns_ - ws.front().start_ns) /
                 static_cast<double>(ns_per_hour);
  v.metrics = {{"windows", n},
               {"median_requests", median},
               {"ceiling_requests", ceiling},
               {"ceiling_share", held},
               {"dispersion", dispersion},
               {"throttled_429", throttled},
               {"throttled_share", throttled_share},
               {"span_hours", hours}};
  double keys_throttled = 0;
  double per_key_mean = mean;
  if (a.pooled) {
    // Its keys throttled min_key_throttled times or more over the windows judged.
    std::unordered_map<uint64_t, uint64_t> per_key;
    for (const HugWindow& h : ws)
      for (const auto& [key, times] : h.keys) per_key[key] += times;
    double pressing = 0;
    for (const auto& [key, times] : per_key) pressing += times >= rule_.min_key_throttled;
    keys_throttled = a.members ? clamp01(pressing / static_cast<double>(a.members)) : 0;
    per_key_mean = a.members ? mean / static_cast<double>(a.members) : 0;
    v.metrics.push_back({"cluster_keys", static_cast<double>(a.members)});
    v.metrics.push_back({"requests_per_key", per_key_mean});
    v.metrics.push_back({"keys_throttled_share", keys_throttled});
  }
  if (n < static_cast<double>(rule_.min_windows) || dispersion > rule_.max_dispersion ||
      held < rule_.min_ceiling_share || throttled < static_cast<double>(rule_.min_throttled) ||
      throttled_share > rule_.max_throttled_share ||
      // Each of a cluster's keys busy enough for a ceiling of its own, and most pressing on it.
      per_key_mean < static_cast<double>(rule_.min_window_requests) ||
      (a.pooled && keys_throttled < rule_.min_keys_throttled_share))
    return v;
  // 0.5 at the bar, up to the cap as the run reaches max_windows and the rate is flatter.
  double longer = rule_.max_windows > rule_.min_windows
                      ? (n - static_cast<double>(rule_.min_windows)) /
                            static_cast<double>(rule_.max_windows - rule_.min_windows)
                      : 1;
  double flat = rule_.max_dispersion > 0 ? 1 - dispersion / rule_.max_dispersion : 1;
  double cap = a.pooled ? rule_.max_score : rule_.max_score_key;
  v.fired = true;
  v.score = std::min(cap, 0.5 + (cap - 0.5) * (0.5 * clamp01(longer) + 0.5 * clamp01(flat)));
  v.medium_at_most = severity_of_score(cap) < Severity::high;
  v.reason = fmt::format(
      "held at {:.0f}% of its ceiling of {:.0f} requests per {} for {:.0f} hours, as flat as a "
      "fixed rate (variance {:.1f} times the mean), {:.0f} HTTP 429 at the edge{}",
      held * 100, ceiling, window_text(a.window), hours, dispersion, throttled,
      a.pooled ? fmt::format(": {:.0f}% of its {} keys throttled, each at its limit",
                             keys_throttled * 100, a.members)
               : "");
  return v;
}

}  // namespace

std::unique_ptr<Detector> make_quota_hugging(const RuleSet& rules) {
  return std::make_unique<QuotaHugging>(rules);
}

}  // namespace exfilscan::detail
