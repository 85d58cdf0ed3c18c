#pragma once
/// Internal: parts of one key's traffic judged on their own. A campaign injected into a
/// legitimate application's key (a tenth of its traffic, say) is averaged away in the key's
/// totals, but has a shape of its own: no system prompt or another one, another user agent, no
/// end users or a single one. A key's traffic is split two ways at once: by (system prompt, user
/// agent, end users or none), and by end user; the busiest few parts keep a slot (space-saving:
/// a new part takes the quietest slot), each with its window and a day of closed windows.

#include "detectors/detector.h"

#include <bitset>
#include <vector>

namespace exfilscan::detail {

/// A system prompt by its first 256 bytes and its length (0: none): prompts differ early, and
/// the whole of a long one would be hashed for every request.
uint64_t system_id(const Event& ev);
/// What an application sends with every request: its system prompt (system_id), its client,
/// whether it names end users. Even (its low bit clear).
uint64_t traffic_shape(const Event& ev, uint64_t system);
inline uint64_t traffic_shape(const Event& ev) {
  return traffic_shape(ev, system_id(ev));
}

struct SegmentOptions {
  size_t max_segments = 0;  // slots per key
  int64_t window_ns = 0, day_ns = 0;
  uint64_t min_answer_tokens = 0;  // settings: what counts as an answer that is the product
  double answer_input_ratio = 0;
};

/// One part of a key's traffic.
struct Segment {
  uint64_t id = 0;           // hash of what it is split by
  bool by_end_user = false;  // one end user (else a system prompt, user agent, users or not)
  bool with_system = false;  // its requests carry a system prompt
  bool with_end_users = false;
  double weight = 0;     // requests, halved at each window's close: the busiest stay
  int64_t first_ns = 0;  // its first request since it took the slot
  // The current window.
  WindowEvidence now;
  DistinctSketch prompts;
  std::bitset<60> slices;
  int64_t last_gap_ns = 0;
  double log_completion = 0;        // sum of log(1 + completion tokens): a geometric mean
  double gap_mean = 0, gap_m2 = 0;  // inter-arrival times (Welford), seconds
  LengthPairs lengths;
  /// Oldest first: its closed windows of the last day, and their pool.
  std::vector<WindowEvidence> recent;
  PooledEvidence recent_pool;

  /// The window so far as evidence (its median answer the geometric mean).
  WindowEvidence window_evidence(int64_t window_start_ns, int64_t slice_ns) const;
  /// This window and the closed ones of the day before it.
  PooledEvidence day(int64_t window_start_ns, int64_t slice_ns, int64_t day_ns) const;
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// A key's parts. Until its traffic splits (a second shape, or end users), the key is its one
/// part and nothing is kept but that shape: most keys never split and cost nothing here.
struct Segments {
  uint64_t first_shape = 0;
  std::vector<Segment> parts;
  bool empty() const { return parts.empty(); }
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

class SegmentTracker {
 public:
  /// The event joins its two parts (by system prompt and user agent; by end user, if any).
  static void observe(Segments& segments, const SegmentOptions& options, const Account& account,
                      const Observation& event);
  /// The account's window closes: each part's window joins its day; quiet parts leave.
  static void close_window(Segments& segments, const SegmentOptions& options,
                           const Account& account);
};

}  // namespace exfilscan::detail
