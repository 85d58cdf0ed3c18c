// A threshold rule's sliding sums and counts against a plain recount of the events in the
// window, through random event times (late ones included) over several keys: exact, whatever the
// order the events came in.
#include "detectors/threshold.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <deque>
#include <map>
#include <random>

using namespace exfilscan;
using exfilscan::detail::ThresholdTracker;

namespace {

constexpr int64_t t0 = 1793577600LL * ns_per_second;  // 2026-11-02T00:00:00Z

struct Sent {
  int64_t ts;
  int64_t units;  // latency to the microsecond (what a sum keeps), or 1 for a count
};

}  // namespace

TEST_CASE("sliding sums and counts equal a recount of the window", "[threshold]") {
  for (Aggregate aggregate : {Aggregate::sum, Aggregate::count}) {
    ThresholdRule rule;
    rule.id = "t";
    rule.window_ns = 10 * ns_per_minute;
    rule.aggregate = aggregate;
    rule.field = "latency_ms";
    rule.inclusive = true;
    rule.limit = 0;  // holds at every event: add() always says the window's value
    ThresholdTracker tracker(rule);
    const int64_t slice = rule.window_ns / 60;
    std::map<std::string, std::deque<Sent>> sent;  // per key, with each key's newest time
    std::map<std::string, int64_t> newest;
    std::mt19937_64 rng(11);
    int64_t clock = t0;
    for (int i = 0; i < 20000; ++i) {
      std::string key = fmt::format("k{}", rng() % 5);
      clock += static_cast<int64_t>(rng() % (3 * ns_per_second));
      // Mostly in order; some late by up to 15 minutes (past the window, some of them).
      int64_t ts = rng() % 8 ? clock : clock - static_cast<int64_t>(rng() % (15 * ns_per_minute));
      Event ev;
      ev.timestamp_ns = ts;
      ev.latency_ms = static_cast<double>(rng() % 100000) / 7.0;  // fractional sums
      auto value = tracker.add(ev, key);
      int64_t& last = newest.try_emplace(key, ts).first->second;
      last = std::max(last, ts);
      int64_t oldest = last / slice - 59;
      auto& events = sent[key];
      if (ts / slice >= oldest)
        events.push_back(
            {ts, aggregate == Aggregate::sum ? std::llround(*ev.latency_ms * 1000) : 1000});
      int64_t expected = 0;  // in thousandths
      for (const Sent& s : events)
        if (s.ts / slice >= oldest) expected += s.units;
      if (ts / slice < oldest) {
        CHECK(!value);  // older than the window: not counted, nothing said
        continue;
      }
      REQUIRE(value);
      CHECK(*value == static_cast<double>(expected) / 1000);  // exact: no drift over the run
    }
  }
}
