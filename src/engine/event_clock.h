#pragma once
/// Internal: the engine's event-time clock, which a lone outlier timestamp never moves. An event
/// further ahead of the clock than the tolerance (or any event while the clock is unset) is held
/// aside, unjudged, until later events confirm its time; one that never is is quarantined:
/// counted, and judged for no account (docs/detection.md, "Event time").

#include <exfilscan/parse/event.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace exfilscan::detail {

/// An event to judge now, in this order; `tick` when the hourly upkeep at `watermark` falls
/// before it.
struct ClockStep {
  const Event* event;
  bool tick;
  int64_t watermark;
};

class EventClock {
 public:
  /// Events held at most; past that the one held longest is quarantined.
  static constexpr size_t max_held = 64;
  /// A held time is never confirmed by an event further past it than this (two outliers).
  static constexpr int64_t max_jump = 30 * ns_per_day;

  /// `tolerance`: how far ahead of the clock an event may be and still move it at once.
  explicit EventClock(int64_t tolerance) : tolerance_(tolerance) {}

  /// One event, in input order: appends to `out` the events to judge, held ones its time
  /// confirms first, then itself unless it is held in turn. What `out` points to stays valid
  /// until clear_released().
  void offer(const Event& ev, std::vector<ClockStep>& out);
  /// At the end of the input: a held event that nothing contradicted and that is within
  /// max_jump of the clock is judged (a sparse log's last line); the others are quarantined.
  void finish(std::vector<ClockStep>& out);
  void clear_released() { released_.clear(); }

  int64_t watermark() const { return watermark_; }
  uint64_t quarantined() const { return quarantined_; }
  size_t held() const { return held_.size(); }

  /// Moves the clock on to `other`'s when that is later (a part of the state added to a running
  /// engine); the events held aside stay this clock's (take_held moves them).
  void advance_to(const EventClock& other) {
    if (other.watermark_ <= watermark_) return;
    watermark_ = other.watermark_;
    next_tick_ = other.next_tick_;
  }

  /// Which held events (a part of the state: those of its keys).
  using HeldFilter = std::function<bool(const Event&)>;

  /// The clock (written first in the state) and the held events (written last): all of them,
  /// or only those `keep` takes, in the same order.
  void save_clock(StateWriter& w) const;
  void load_clock(StateReader& r);
  void save_held(StateWriter& w, const HeldFilter* keep = nullptr) const;
  void load_held(StateReader& r);
  /// Drops the held events `drop` takes (a partition revoked: its next owner holds them), neither
  /// judged nor quarantined.
  void drop_held(const HeldFilter& drop);
  /// Takes `other`'s held events (a part added to a running engine), merged with this clock's:
  /// each clock's keep their order, the two interleaved by time (then by bytes), so that the
  /// outcome is the same whichever part comes first. One this clock holds already (the
  /// same bytes: a part written whole by an older build) is kept once. Past max_held the ones
  /// held longest are quarantined.
  void take_held(EventClock& other);

  /// An event as bytes and back, its strings and prompt parts owned beside it.
  struct Owned {
    Event event;
    std::string text[9];
    std::vector<std::string> part_text;
    std::vector<PromptPart> parts;
  };
  static void encode(const Event& ev, StateWriter& w);
  static std::unique_ptr<Owned> decode(std::string_view bytes);

 private:
  struct Held {
    int64_t ts;
    std::string bytes;
    uint64_t agree = 0;     // later events at its time
    uint64_t disagree = 0;  // later events that kept to the clock's time
  };
  void judge(const Event& ev, std::vector<ClockStep>& out);
  void release_due(std::vector<ClockStep>& out);
  void release(size_t i, std::vector<ClockStep>& out);

  int64_t tolerance_;
  int64_t watermark_ = 0;  // 0: unset
  int64_t next_tick_ = 0;
  std::vector<Held> held_;  // in input order
  std::deque<std::unique_ptr<Owned>> released_;
  uint64_t quarantined_ = 0;
};

}  // namespace exfilscan::detail
