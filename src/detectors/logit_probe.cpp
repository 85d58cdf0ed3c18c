#include "detectors/logit_probe.h"

#include "detectors/detector.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

namespace exfilscan::detail {

namespace {

constexpr size_t max_probe_prompts = 256;  // prompts tracked for logit probing per window

/// The window's probes (dropped when it closes: probing is judged within a window).
struct ProbeState final : DetectorState {
  uint64_t probe_requests = 0;  // logit_bias or echo+logprobs with a tiny completion
  /// Distinct logit_bias maps per prompt (the logit-stealing signature), capped.
  std::unordered_map<uint64_t, DistinctSketch> biases_by_prompt;
  void save(StateWriter& w) const override {
    w.u64(probe_requests);
    std::vector<uint64_t> prompt_keys;
    for (const auto& [k, v] : biases_by_prompt) prompt_keys.push_back(k);
    std::sort(prompt_keys.begin(), prompt_keys.end());
    w.u64(prompt_keys.size());
    for (uint64_t k : prompt_keys) {
      w.u64(k);
      biases_by_prompt.at(k).save(w);
    }
  }
  void load(StateReader& r) override {
    probe_requests = r.u64();
    biases_by_prompt.clear();
    size_t n = r.count(max_probe_prompts);
    for (size_t i = 0; i < n; ++i) {
      uint64_t k = r.u64();
      biases_by_prompt[k].load(r);
    }
  }
};

class LogitProbe final : public Detector {
 public:
  explicit LogitProbe(const RuleSet& rules) : rule_(rules.logit_probe) {}
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
    ++s.probe_requests;
    if (!biased) return;
    uint64_t prompt = o.prompt_key();
    auto b = s.biases_by_prompt.find(prompt);
    if (b != s.biases_by_prompt.end())
      b->second.add(p.logit_bias_hash);
    else if (s.biases_by_prompt.size() < max_probe_prompts)
      s.biases_by_prompt[prompt].add(p.logit_bias_hash);
    else if (o.counts)
      ++o.counts->probes_untracked;
  }
  Verdict judge(const DetectorState* state, const Account& a) const override;
  void close_window(std::unique_ptr<DetectorState>& state, const Account&) const override {
    state.reset();
  }
  std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const override {
    if (legacy.probe_requests == 0 && legacy.biases_by_prompt.empty()) return nullptr;
    auto s = std::make_unique<ProbeState>();
    s->probe_requests = legacy.probe_requests;
    s->biases_by_prompt = std::move(legacy.biases_by_prompt);
    return s;
  }

 private:
  const LogitProbeRule& rule_;
};

Verdict LogitProbe::judge(const DetectorState* state, const Account&) const {
  static const ProbeState none;
  const ProbeState& s = state ? static_cast<const ProbeState&>(*state) : none;
  const LogitProbeRule& rule = rule_;
  Verdict v;
  double most = 0;
  for (const auto& [prompt, biases] : s.biases_by_prompt) most = std::max(most, biases.estimate());
  // An estimate, bounded by what was counted: never more maps than probes.
  most = std::min(most, static_cast<double>(s.probe_requests));
  v.metrics = {{"probe_requests", static_cast<double>(s.probe_requests)},
               {"max_distinct_biases_per_prompt", most}};
  bool bias_probe = most >= static_cast<double>(rule.min_distinct_biases);
  // Legacy echo + logprobs returns the prompt's own token probabilities: the same harvest.
  bool echo_probe = static_cast<double>(s.probe_requests) >=
                        rule.echo_min_ratio * static_cast<double>(rule.min_distinct_biases) &&
                    s.biases_by_prompt.empty();
  if (!bias_probe && !echo_probe) return v;
  v.fired = true;
  double bar = static_cast<double>(rule.min_distinct_biases);
  double strength =
      bias_probe ? most / (rule.full_score_ratio * bar)
                 : static_cast<double>(s.probe_requests) / (rule.echo_full_score_ratio * bar);
  v.score = 0.8 + 0.2 * clamp01(strength);
  v.reason = bias_probe ? fmt::format(
                              "one prompt sent with {:.0f} different logit_bias maps and "
                              "logprobs, tiny completions: the logit-extraction signature",
                              most)
                        : fmt::format(
                              "{} echo+logprobs requests with tiny completions: harvesting "
                              "prompt-token probabilities",
                              s.probe_requests);
  return v;
}

}  // namespace

std::unique_ptr<Detector> make_logit_probe(const RuleSet& rules) {
  return std::make_unique<LogitProbe>(rules);
}

}  // namespace exfilscan::detail
