#pragma once
/// Internal: sliding-window state for one threshold rule, per key of the rule's own group-by.

#include <exfilscan/rules.h>
#include <exfilscan/state.h>

#include <array>
#include <optional>
#include <string>
#include <unordered_map>

namespace exfilscan::detail {

class ThresholdTracker {
 public:
  explicit ThresholdTracker(const ThresholdRule& rule);
  const ThresholdRule& rule() const { return rule_; }
  /// Counts the event under `key`; the window's value when the condition holds.
  std::optional<double> add(const Event& event, std::string_view key);
  /// Follows one key for `explain`: the highest value its aggregate reaches in the run (-1 while
  /// the key has not been seen), kept even when the key's window state expires.
  void watch(std::string_view key) { watched_ = std::string(key); }
  double watched_peak() const { return watched_peak_; }
  /// Forgets keys with no event in the last window.
  void expire(int64_t now_ns);
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  static constexpr size_t slice_count = 60;  // the window slides in 1/60 steps
  static constexpr size_t max_distinct = 100'000;
  struct Slice {
    int64_t index = -1;
    double value = 0;
  };
  struct State {
    std::array<Slice, slice_count> slices;
    std::unordered_map<uint64_t, int64_t> distinct;  // value hash -> last seen
    size_t prune_at = 1024;
    int64_t last_ns = 0;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const;
  };
  ThresholdRule rule_;
  std::string watched_;
  double watched_peak_ = -1;
  int64_t slice_ns_;
  std::unordered_map<std::string, State, KeyHash, std::equal_to<>> states_;
};

}  // namespace exfilscan::detail
