#pragma once
/// Events in time order whatever order the inputs hold them in (docs/performance.md, "Inputs in
/// any order"): a check that passes events on as long as they come in order, or a sort that
/// holds them all (a bounded buffer, sorted runs spilled to a private temporary directory past
/// it) and passes them on in order at the end.

#include <exfilscan/parse/event.h>

#include <span>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace exfilscan {

enum class OrderMode : uint8_t {
  /// Events are passed on as they come (those of one time in the canonical order: the latest
  /// time's are held until the next chunk); one earlier than an event before it throws
  /// OrderBroken (the caller reads the inputs again to sort them).
  check,
  /// As check, but an event earlier than one before it is passed on where it came (counted):
  /// a stream that cannot be read twice, judged as it comes.
  stream,
  /// Every event is held; finish() passes them all on in order.
  sort,
};

struct OrderOptions {
  OrderMode mode = OrderMode::check;
  /// Encoded events held in memory before they are sorted and spilled as a run.
  size_t buffer_bytes = 64u << 20;
  /// Where the private spill directory is made; empty: $TMPDIR, else /tmp.
  std::string temp_dir;
  /// Runs merged at once (each takes a file descriptor and a read buffer); more are merged in
  /// groups into longer runs first.
  size_t merge_fan_in = 64;
  /// Check mode holds the events of the latest time until the next chunk (events of one time
  /// go in the canonical order): past this many, a file is sorted instead, and a stream passes
  /// them on at once.
  size_t max_held_events = 1u << 16;
};

/// What putting events in order did, for the run row and the closing line.
struct OrderStats {
  bool sorted = false;               // the events were sorted (sort mode)
  uint64_t events_reordered = 0;     // came in after an event of a later time
  int64_t max_lateness_ns = 0;       // the furthest one came behind the latest before it
  uint64_t events_spilled = 0;       // written to spill files (0: the buffer held them all)
  uint64_t spill_runs = 0;           // sorted runs written
  uint64_t events_out_of_order = 0;  // stream mode: came after a later event, passed on so
};

/// Check mode met an event earlier than one already passed on.
class OrderBroken : public std::runtime_error {
 public:
  OrderBroken() : std::runtime_error("the events are not in time order") {}
};

/// A spill file that could not be made, written or read back (a full disk); the message says
/// where and why.
class OrderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The canonical order: by time, then key and request id, then every other field, so that the
/// order the events came in never matters (two events equal in every field are interchangeable).
class EventOrder : public EventSink {
 public:
  EventOrder(OrderOptions options, EventSink& next);
  /// Closes and removes the spill files and their directory, also after an error.
  ~EventOrder() override;
  void on_event(const Event& event) override;
  void on_events(std::span<const std::span<const Event>> runs) override;
  /// Passes every event still held on to `next`, in order. Throws OrderError.
  void finish();
  const OrderStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exfilscan
