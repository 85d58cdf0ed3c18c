// Parts of the engine's state (--state-dir) and the events its clock holds aside: each part holds
// its own keys' held events, a partition forgotten drops its keys' ones, and a part added to a
// running engine brings its own into the running clock.
#include <exfilscan/engine/engine.h>
#include <exfilscan/input/kafka.h>

#include "engine_test_util.h"
#include "state_parts_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

std::string part_of(const DetectionEngine& e, int32_t p) {
  StateWriter w;
  e.save_state(w, on_partition(p));
  return w.data();
}

void add(DetectionEngine& e, const std::string& bytes) {
  StateReader in(bytes);
  e.add_state(in);
}

/// Two keys on two partitions.
struct Keys {
  std::string a = "key-0", b;
  int32_t pa = kafka_partition("key-0", partitions), pb = -1;
  Keys() {
    for (int i = 1; pb < 0; ++i) {
      std::string k = "key-" + std::to_string(i);
      if (kafka_partition(k, partitions) != pa) b = k, pb = kafka_partition(k, partitions);
    }
  }
};

/// Both keys' traffic for 20 minutes, then for each an outlier the clock holds aside: `a`'s three
/// days ahead, `b`'s sixty (too far to confirm `a`'s, or to be confirmed by it).
void feed(DetectionEngine& e, Stream& s, const Keys& k, bool with_b = true) {
  for (int64_t i = 0; i < 20; ++i) {
    e.on_event(s.event(t0 + i * ns_per_minute, k.a));
    if (with_b) e.on_event(s.event(t0 + i * ns_per_minute + ns_per_second, k.b));
  }
  e.on_event(s.event(t0 + 3 * ns_per_day, k.a));
  if (with_b) e.on_event(s.event(t0 + 60 * ns_per_day, k.b));
}

}  // namespace

TEST_CASE("a part holds, forgets and brings its own keys' held events", "[state][kafka]") {
  Keys k;
  REQUIRE(k.pa != k.pb);
  Recorder none;
  Stream s;
  DetectionEngine engine(default_rules(), {}, none);
  feed(engine, s, k);
  REQUIRE(engine.stats().events_held == 2);
  std::string saved = bytes_of(engine);
  std::vector<std::string> parts;
  for (int32_t p = 0; p < partitions; ++p) parts.push_back(part_of(engine, p));

  // Each part alone (a member restarted: its first part is loaded) holds its keys' one, and no
  // other partition's: forgetting its own keys leaves none held.
  for (int32_t p : {k.pa, k.pb}) {
    DetectionEngine alone(default_rules(), {}, none);
    add(alone, parts[static_cast<size_t>(p)]);
    CHECK(alone.stats().events_held == 1);
    alone.forget_keys(on_partition(p));
    CHECK(alone.stats().events_held == 0);
  }
  for (int32_t p = 0; p < partitions; ++p) {
    if (p == k.pa || p == k.pb) continue;
    DetectionEngine alone(default_rules(), {}, none);
    add(alone, parts[static_cast<size_t>(p)]);
    CHECK(alone.stats().events_held == 0);
  }

  // Every part added: the save, byte for byte (the held events in their order).
  DetectionEngine joined(default_rules(), {}, none);
  for (const std::string& part : parts) add(joined, part);
  CHECK(joined.stats().events_held == 2);
  CHECK(bytes_of(joined) == saved);

  SECTION("a partition forgotten drops its keys' held events; added back, they return") {
    joined.forget_keys(on_partition(k.pb));
    CHECK(joined.stats().events_held == 1);
    // What is left is the other keys' part of the save, held events and all.
    CHECK(bytes_of(joined) == parts[static_cast<size_t>(k.pa)]);
    add(joined, parts[static_cast<size_t>(k.pb)]);  // into a running engine
    CHECK(joined.stats().events_held == 2);
    CHECK(bytes_of(joined) == saved);
  }
  SECTION("a running engine takes a part's held events, to judge them when their time comes") {
    Stream own;
    Recorder rec;
    DetectionEngine running(default_rules(), {}, rec);
    feed(running, own, k, false);  // `a` alone: its held event, none of `b`'s
    REQUIRE(running.stats().events_held == 1);
    add(running, parts[static_cast<size_t>(k.pb)]);
    CHECK(running.stats().events_held == 2);
    // Adding the same part again (the same bytes) holds each once.
    add(running, parts[static_cast<size_t>(k.pb)]);
    CHECK(running.stats().events_held == 2);
    // A second event sixty days on confirms `b`'s time: its held event is judged for `b`.
    running.on_event(own.event(t0 + 60 * ns_per_day + ns_per_second, k.a));
    CHECK(running.stats().events_held == 0);
    running.finish();
    // (Idle for sixty days, `b` expired at the upkeep before it, and came back with it.)
    int64_t b_last_seen = 0;
    for (const AccountSummary& a : running.ranking(10))
      if (a.key == k.b) b_last_seen = a.total_last_seen_ns;
    CHECK(b_last_seen == t0 + 60 * ns_per_day);
  }
}

TEST_CASE("a part's held events merge by time, the same whichever part comes first",
          "[state][kafka]") {
  Keys k;
  Recorder none;
  Stream s;
  DetectionEngine engine(default_rules(), {}, none);
  for (int64_t i = 0; i < 20; ++i) {
    engine.on_event(s.event(t0 + i * ns_per_minute, k.a));
    engine.on_event(s.event(t0 + i * ns_per_minute + ns_per_second, k.b));
  }
  // Held in this order: `a`'s sixty days ahead, then `b`'s three (which does not confirm it).
  engine.on_event(s.event(t0 + 60 * ns_per_day, k.a));
  engine.on_event(s.event(t0 + 3 * ns_per_day, k.b));
  REQUIRE(engine.stats().events_held == 2);
  std::string pa = part_of(engine, k.pa), pb = part_of(engine, k.pb);
  DetectionEngine ab(default_rules(), {}, none), ba(default_rules(), {}, none);
  add(ab, pa);
  add(ab, pb);
  add(ba, pb);
  add(ba, pa);
  CHECK(ab.stats().events_held == 2);
  CHECK(bytes_of(ab) == bytes_of(ba));
}
