#pragma once
/// Internal: what a detector is to the engine. The engine keeps each account's traffic features
/// (its window, the day of windows before it; engine/account_state.h) and, beside them, one
/// opaque state per detector, which the detector alone makes, reads and writes. The engine
/// routes events, closes windows, applies episodes, allow-lists and risk; it never knows a
/// detector's fields. A new detector is a file pair and one line in detectors/registry.cpp.

#include "detectors/verdict.h"

#include <exfilscan/features/text_features.h>
#include <exfilscan/hash.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/state.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string_view>

namespace exfilscan::detail {

/// A detector's per-account state. Saved with --state as the detector's own bytes (so a state
/// file names each detector's part and a detector's layout is its own business).
class DetectorState {
 public:
  virtual ~DetectorState() = default;
  virtual void save(StateWriter& w) const = 0;
  virtual void load(StateReader& r) = 0;
};

/// Caps that bit while detectors observed events (EngineStats reports them).
struct DetectorCounts {
  uint64_t templates_replaced = 0;
  uint64_t parts_replaced = 0;
  uint64_t probes_untracked = 0;
};

/// What the engine worked out once of an event, for every detector.
struct Observation {
  const Event& event;
  std::string_view prompt;     // the last user message (or the last part); empty without text
  bool analysed = false;       // its text passed the analysis gate: style, sketches, templates
  uint64_t analysed_hash = 0;  // hash_bytes(prompt), when analysed
  PromptStyle style{};         // when analysed
  bool with_system = false;    // a system prompt came with it (when analysed)
  DetectorCounts* counts = nullptr;  // the shard's: where a detector counts a cap that bit
  uint64_t member = 0;  // a cluster's pooled account: the hash of the member key that sent it
  /// The prompt's identity: the text's hash, or without text the model and prompt length (the
  /// same prompt still has them).
  uint64_t prompt_key() const {
    if (analysed) return analysed_hash;
    return prompt.empty() ? mix64(hash_bytes(event.model) ^
                                  static_cast<uint64_t>(event.prompt_tokens.value_or(0)))
                          : hash_bytes(prompt);
  }
};

class Detector {
 public:
  virtual ~Detector() = default;
  /// The rule its findings carry ("prompt_templating").
  virtual const char* name() const = 0;
  virtual bool enabled() const = 0;
  /// Where its scores become medium and high (the rules' medium_bar and high_bar): the engine
  /// maps each verdict's score onto the severity scale through them.
  virtual const SeverityBars& bars() const = 0;
  /// Whether it judges a cluster's pooled account too (a cluster grows as keys join it, so a
  /// detector of growth judges keys alone).
  virtual bool judges_pooled() const { return true; }
  /// An empty state, to load a saved one into.
  virtual std::unique_ptr<DetectorState> new_state() const = 0;
  /// The account's event, once the engine has added it to the account's features. `state` is
  /// null until the detector makes one: most accounts never need most detectors' state.
  virtual void observe(std::unique_ptr<DetectorState>& state, const Account& account,
                       const Observation& event) const {
    (void)state, (void)account, (void)event;
  }
  /// The verdict on the account as it stands, fired or not (explain shows why not).
  virtual Verdict judge(const DetectorState* state, const Account& account) const = 0;
  /// The account's window closes, after its last judgement: what the longer horizons keep of
  /// it. The detector may drop its state (reset it) when nothing is left in it.
  virtual void close_window(std::unique_ptr<DetectorState>& state, const Account& account) const {
    (void)state, (void)account;
  }
  /// Its state from what a format 4 or older state kept inline in the account (null: none).
  virtual std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const {
    (void)legacy;
    return nullptr;
  }
};

/// The verdict with its score on the severity scale: through the detector's bars when they were
/// calibrated (the score it gave kept as the metric raw_score). A cluster's verdict comes here
/// with its coordination bonus: calibrate learnt the bars on that score.
inline Verdict on_scale(const Detector& detector, Verdict v) {
  if (v.fired && !detector.bars().builtin()) {
    v.metrics.push_back({"raw_score", v.score});
    v.score = calibrated_score(v.score, detector.bars());
    if (v.medium_at_most) v.score = std::min(v.score, 0.74);  // the top of medium, as shown
  }
  return v;
}

/// The detector's verdict on the account, on the severity scale (on_scale).
inline Verdict judge_on_scale(const Detector& detector, const DetectorState* state,
                              const Account& account) {
  return on_scale(detector, detector.judge(state, account));
}

/// The state of type T, made on first use.
template <typename T>
T& state_of(std::unique_ptr<DetectorState>& state) {
  if (!state) state = std::make_unique<T>();
  return static_cast<T&>(*state);
}

}  // namespace exfilscan::detail
