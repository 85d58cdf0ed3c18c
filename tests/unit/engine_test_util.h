#pragma once
// Helpers shared by the engine's unit tests: synthetic events and a recording finding sink.

#include <exfilscan/engine/engine.h>

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <span>
#include <string>
#include <vector>

namespace exfilscan::test {

constexpr int64_t t0 = 1793577600LL * ns_per_second;  // 2026-11-02T00:00:00Z

/// Events whose strings live as long as the builder.
struct Stream {
  std::deque<std::string> strings;
  std::deque<std::vector<PromptPart>> part_lists;
  std::string_view keep(std::string s) { return strings.emplace_back(std::move(s)); }
  /// For events kept beyond the next one: an event's prompt views its parts.
  std::span<const PromptPart> keep_parts(std::vector<PromptPart> parts) {
    return part_lists.emplace_back(std::move(parts));
  }
  Event event(int64_t ts, std::string_view key, int64_t completion = 100) {
    Event e;
    e.timestamp_ns = ts;
    e.api_key = keep(std::string(key));
    e.request_id = keep(fmt::format("r{}", ts / ns_per_second));
    e.prompt_tokens = 50;
    e.completion_tokens = completion;
    e.status = 200;
    e.turns = 1;
    return e;
  }
};

struct Recorder : FindingSink {
  std::vector<Finding> findings;
  void on_finding(const Finding& f) override { findings.push_back(f); }
  size_t count(std::string_view rule) const {
    return std::count_if(findings.begin(), findings.end(),
                         [&](const Finding& f) { return f.rule == rule; });
  }
  const Finding* first(std::string_view rule) const {
    for (const Finding& f : findings)
      if (f.rule == rule) return &f;
    return nullptr;
  }
};

inline RuleSet only(std::string_view detector) {
  RuleSet r = default_rules();
  r.volume_spike.enabled = detector == "volume_spike";
  r.prompt_templating.enabled = detector == "prompt_templating";
  r.distillation_sweep.enabled = detector == "distillation_sweep";
  r.logit_probe.enabled = detector == "logit_probe";
  r.release_chasing.enabled = detector == "release_chasing";
  r.quota_hugging.enabled = detector == "quota_hugging";
  r.thresholds.clear();
  return r;
}

/// No detectors, and the threshold rules written in `toml`.
inline RuleSet only_thresholds(const std::string& toml) {
  RuleSet r = only("none");
  merge_rules(r, toml, "test");
  return r;
}

/// Every field of a finding, to compare runs by.
inline std::string describe(const Finding& f) {
  std::string out = fmt::format("{} {} {} {} {:.6f} {} {} {} {} {:.6f} {} [{}] {}", f.rule, f.key,
                                f.key_kind, to_string(f.severity), f.score, f.detected_at_ns,
                                f.window_start_ns, f.first_seen_ns, f.last_seen_ns, f.account_risk,
                                f.suppressed, f.template_text, f.reason);
  for (const Metric& m : f.metrics) out += fmt::format(" {}={:.6f}", m.name, m.value);
  for (const std::string& id : f.sample_request_ids) out += " " + id;
  for (const std::string& p : f.sample_prompts) out += "\n  prompt: " + p;
  return out + "\n";
}

}  // namespace exfilscan::test
