#pragma once
/// Internal: sliding-window state for one threshold rule, per key of the rule's own group-by.

#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include "engine/string_table.h"

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

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
  /// Takes `other`'s keys (the same rule's, from a part of the state), replacing those held.
  void absorb(ThresholdTracker& other);
  /// Forgets the keys `drop` takes (a part of the state handed over).
  void drop_keys(const std::function<bool(std::string_view)>& drop);
  /// Forgets keys with no event in the last window.
  void expire(int64_t now_ns);
  /// One rule's state over every shard's tracker, keys in order: the same bytes for any number
  /// of shards.
  /// With `keep`, only the keys it takes (a part of the state: engine.h).
  static void save(StateWriter& w, const std::vector<const ThresholdTracker*>& parts,
                   const std::function<bool(std::string_view)>* keep = nullptr);
  /// Each key's state goes to the tracker of its shard, `owner(key)`.
  static void load(StateReader& r, const std::vector<ThresholdTracker*>& parts,
                   const std::function<size_t(std::string_view)>& owner);

 private:
  static constexpr size_t slice_count = 60;  // the window slides in 1/60 steps
  static constexpr size_t max_distinct = 100'000;
  /// Value hash -> when last seen, open addressing (hash 0 marks a free cell): one probe per
  /// event, where a node map allocated and chased pointers.
  class LastSeen {
   public:
    size_t size() const { return size_; }
    /// The cell for h, added (seen 0) unless full: nullptr when it is absent and the table
    /// holds `cap` values.
    int64_t* find_or_add(uint64_t h, size_t cap);
    /// Keeps the values seen after `cutoff`.
    void keep_after(int64_t cutoff);
    template <class F>
    void for_each(F&& f) const {
      for (const auto& [h, seen] : cells_)
        if (h) f(h, seen);
    }

   private:
    void grow();
    std::vector<std::pair<uint64_t, int64_t>> cells_;
    size_t size_ = 0;
  };
  enum class Field {
    none,
    prompt_tokens,
    completion_tokens,
    reasoning_tokens,
    total_tokens,
    latency_ms,
    api_key,
    org,
    project,
    user,
    ip,
    model,
    user_agent,
    logit_bias,
    prompt
  };
  static Field field_of(std::string_view name);
  /// What the event adds to a count or sum, in units: exact integers, so a running total equals
  /// a recount of the slices in any order (latency_ms is kept to the microsecond).
  int64_t units_of(const Event& ev) const;
  double value_of(int64_t units) const { return static_cast<double>(units) / scale_; }
  uint64_t distinct_value(const Event& ev) const;
  struct Slice {
    int64_t index = -1;
    int64_t units = 0;
  };
  struct State {
    std::array<Slice, slice_count> slices;
    /// The sum of the slices from head - 59 to head, the newest (updated as slices leave the
    /// window, not re-added at every event).
    int64_t head = INT64_MIN;
    int64_t total = 0;
    LastSeen distinct;
    size_t prune_at = 1024;
    int64_t last_ns = 0;
    /// Moves the newest slice to `to`, dropping from the total the slices that leave the window.
    void advance(int64_t to);
    /// The total added up afresh, the newest slice being `newest` (a state just loaded).
    void recount(int64_t newest);
  };
  ThresholdRule rule_;
  Field field_;
  std::string watched_;
  double watched_peak_ = -1;
  int64_t slice_ns_;
  double scale_;  // units per unit of the field
  StringTable<State> states_;
};

}  // namespace exfilscan::detail
