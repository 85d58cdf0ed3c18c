#include "detectors/logit_probe.h"

#include "detectors/detector.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

namespace exfilscan::detail {

namespace {

constexpr size_t max_probe_prompts = 256;  // prompts tracked for logit probing per account

/// One prompt's probes: the distinct logit_bias maps it was sent with, and when.
struct PromptProbes {
  DistinctSketch biases;
  int64_t first_ns = 0, last_ns = 0;
};

/// An account's probes over its probing run: kept across windows until a day passes without
/// one, so a probe spread thin over hours adds up as a fast one does within the hour.
struct ProbeState final : DetectorState {
  uint64_t probe_requests = 0;  // logit_bias or echo+logprobs with a tiny completion
  int64_t first_ns = 0, last_ns = 0;
  /// Distinct logit_bias maps per prompt (the logit-stealing signature), capped.
  std::unordered_map<uint64_t, PromptProbes> by_prompt;
  void save(StateWriter& w) const override {
    w.u64(probe_requests);
    w.i64(first_ns);
    w.i64(last_ns);
    std::vector<uint64_t> prompt_keys;
    for (const auto& [k, v] : by_prompt) prompt_keys.push_back(k);
    std::sort(prompt_keys.begin(), prompt_keys.end());
    w.u64(prompt_keys.size());
    for (uint64_t k : prompt_keys) {
      const PromptProbes& p = by_prompt.at(k);
      w.u64(k);
      p.biases.save(w);
      w.i64(p.first_ns);
      w.i64(p.last_ns);
    }
  }
  void load(StateReader& r) override {
    // Format 9 and older kept one window's probes, without times: they start a run at 0, which
    // the next window's close expires unless probes go on.
    bool timed = r.version() >= 10;
    probe_requests = r.u64();
    first_ns = timed ? r.i64() : 0;
    last_ns = timed ? r.i64() : 0;
    by_prompt.clear();
    size_t n = r.count(max_probe_prompts);
    for (size_t i = 0; i < n; ++i) {
      PromptProbes& p = by_prompt[r.u64()];
      p.biases.load(r);
      p.first_ns = timed ? r.i64() : 0;
      p.last_ns = timed ? r.i64() : 0;
    }
  }
};

class LogitProbe final : public Detector {
 public:
  explicit LogitProbe(const RuleSet& rules)
      : rule_(rules.logit_probe), day_ns_(rules.settings.day_ns) {}
  const char* name() const override { return "logit_probe"; }
  bool enabled() const override { return rule_.enabled; }
  const SeverityBars& bars() const override { return rule_.bars; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<ProbeState>();
  }
  void observe(std::unique_ptr<DetectorState>& state, const Account&,
               const Observation& o) const override {
    const Event& ev = o.event;
    const RequestParams& p = ev.params;
    bool logprobs = p.logprobs.value_or(false);
    bool biased = p.logit_bias_entries.value_or(0) > 0;
    if (!biased && !(p.echo.value_or(false) && logprobs)) return;
    int64_t tiny = rule_.max_completion_tokens;
    bool tiny_answer = ev.completion_tokens ? ev.completion_tokens.value_or(0) <= tiny
                                            : p.max_tokens.value_or(tiny + 1) <= tiny;
    if (!tiny_answer) return;
    ProbeState& s = state_of<ProbeState>(state);
    int64_t t = ev.timestamp_ns;
    if (s.probe_requests > 0 && t - s.last_ns >= day_ns_) {  // a day without a probe: anew
      s.probe_requests = 0;
      s.by_prompt.clear();
    }
    if (s.probe_requests == 0) s.first_ns = t;
    ++s.probe_requests;
    s.last_ns = std::max(s.last_ns, t);
    if (!biased) return;
    uint64_t prompt = o.prompt_key();
    auto b = s.by_prompt.find(prompt);
    if (b == s.by_prompt.end()) {
      if (s.by_prompt.size() >= max_probe_prompts) {
        if (o.counts) ++o.counts->probes_untracked;
        return;
      }
      b = s.by_prompt.emplace(prompt, PromptProbes{{}, t, t}).first;
    }
    if (t - b->second.last_ns >= day_ns_) b->second = PromptProbes{{}, t, t};
    b->second.biases.add(p.logit_bias_hash);
    b->second.last_ns = std::max(b->second.last_ns, t);
  }
  Verdict judge(const DetectorState* state, const Account& a) const override;
  /// What the run keeps of the window: prompts probed within the last day with two maps or more
  /// (a classifier's one fixed map per prompt is no probe, and costs nothing to forget), and the
  /// run itself until a day passes without a probe.
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    if (!state) return;
    auto& s = static_cast<ProbeState&>(*state);
    int64_t now = a.window.last_ns;
    std::erase_if(s.by_prompt, [&](const auto& kv) {
      return now - kv.second.last_ns >= day_ns_ || kv.second.biases.estimate() < 2;
    });
    if (now - s.last_ns >= day_ns_) {
      s.probe_requests = 0;
      s.by_prompt.clear();
    }
    if (s.probe_requests == 0) state.reset();
  }
  std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const override {
    if (legacy.probe_requests == 0 && legacy.biases_by_prompt.empty()) return nullptr;
    auto s = std::make_unique<ProbeState>();
    s->probe_requests = legacy.probe_requests;
    for (auto& [prompt, biases] : legacy.biases_by_prompt) s->by_prompt[prompt].biases = biases;
    return s;
  }

 private:
  const LogitProbeRule& rule_;
  int64_t day_ns_;
};

Verdict LogitProbe::judge(const DetectorState* state, const Account&) const {
  static const ProbeState none;
  const ProbeState& s = state ? static_cast<const ProbeState&>(*state) : none;
  const LogitProbeRule& rule = rule_;
  Verdict v;
  double most = 0;
  const PromptProbes* top = nullptr;
  for (const auto& [prompt, p] : s.by_prompt) {
    double n = p.biases.estimate();
    if (n > most || (n == most && top && p.first_ns < top->first_ns)) most = n, top = &p;
  }
  // An estimate, bounded by what was counted: never more maps than probes.
  most = std::min(most, static_cast<double>(s.probe_requests));
  int64_t span_ns = top ? top->last_ns - top->first_ns : s.last_ns - s.first_ns;
  double hours =
      static_cast<double>(std::max<int64_t>(0, span_ns)) / static_cast<double>(ns_per_hour);
  v.metrics = {{"probe_requests", static_cast<double>(s.probe_requests)},
               {"max_distinct_biases_per_prompt", most},
               {"span_hours", hours}};
  bool bias_probe = most >= static_cast<double>(rule.min_distinct_biases);
  // Legacy echo + logprobs returns the prompt's own token probabilities: the same harvest.
  bool echo_probe = static_cast<double>(s.probe_requests) >=
                        rule.echo_min_ratio * static_cast<double>(rule.min_distinct_biases) &&
                    s.by_prompt.empty();
  if (!bias_probe && !echo_probe) return v;
  v.fired = true;
  double bar = static_cast<double>(rule.min_distinct_biases);
  double strength =
      bias_probe ? most / (rule.full_score_ratio * bar)
                 : static_cast<double>(s.probe_requests) / (rule.echo_full_score_ratio * bar);
  v.score = 0.8 + 0.2 * clamp01(strength);
  std::string span = hours < 2 ? fmt::format("in {:.0f} minutes", std::max(1.0, hours * 60))
                               : fmt::format("over {:.0f} hours", hours);
  v.reason = bias_probe ? fmt::format(
                              "one prompt sent with {:.0f} different logit_bias maps and "
                              "logprobs {}, tiny completions: the logit-extraction signature",
                              most, span)
                        : fmt::format(
                              "{} echo+logprobs requests {} with tiny completions: harvesting "
                              "prompt-token probabilities",
                              s.probe_requests, span);
  return v;
}

}  // namespace

std::unique_ptr<Detector> make_logit_probe(const RuleSet& rules) {
  return std::make_unique<LogitProbe>(rules);
}

}  // namespace exfilscan::detail
