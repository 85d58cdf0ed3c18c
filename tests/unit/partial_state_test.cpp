// Parts of the engine's state (--state-dir, issue 20): the accounts, threshold keys, firings and
// summaries of one Kafka partition's keys saved apart, added to an engine, and dropped. Fed the
// labelled campaigns sample through the real reader.
#include <exfilscan/engine/engine.h>
#include <exfilscan/input/kafka.h>
#include <exfilscan/input/reader.h>

#include "engine_test_util.h"
#include "state_parts_util.h"

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <tuple>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

const std::string sample = EXFILSCAN_SAMPLES_DIR "/campaigns.jsonl.zst";
constexpr int64_t cut = t0 + 4 * 3600 * ns_per_second;  // 2026-11-02T04:00Z, mid-campaigns

/// Events go to one engine until `cut`, then `at_cut` is called once and they go to `*to`.
struct Switch : EventSink {
  DetectionEngine* to;
  std::function<void()> at_cut;
  bool switched = false;
  void on_event(const Event& e) override {
    if (!switched && e.timestamp_ns >= cut) {
      switched = true;
      at_cut();
    }
    to->on_event(e);
  }
};

void read_sample(EventSink& sink) {
  BadLineLog log({}, stderr);
  ReadResult r = read_inputs({sample}, {}, sink, log);
  REQUIRE(r.failure == ReadFailure::none);
}

using Seen = std::tuple<std::string, std::string, int64_t, Severity, double>;
std::vector<Seen> seen(const std::vector<Finding>& findings) {
  std::vector<Seen> out;
  for (const Finding& f : findings)
    out.emplace_back(f.key, f.rule, f.detected_at_ns, f.severity, f.score);
  return out;
}

}  // namespace

TEST_CASE("every partition's part of a save, added to a new engine, goes on as the save does",
          "[state][kafka]") {
  Recorder whole_findings;
  DetectionEngine whole(default_rules(), {}, whole_findings);
  read_sample(whole);
  whole.finish(false);

  Recorder before, after;
  DetectionEngine first(default_rules(), {}, before), second(default_rules(), {}, after);
  std::string saved;
  uint64_t accounts = 0, in_parts = 0;
  Switch sink;
  sink.to = &first;
  sink.at_cut = [&] {
    saved = bytes_of(first);
    accounts = first.stats().accounts_active;
    for (int32_t p = 0; p < partitions; ++p) {
      StateWriter part;
      first.save_state(part, on_partition(p));
      DetectionEngine alone(default_rules(), {}, after);
      StateReader in(part.data());
      alone.add_state(in);
      uint64_t held = alone.stats().accounts_active;
      CHECK(held > 0);  // each partition holds some of the sample's keys, and only those
      in_parts += held;
      StateReader again(part.data());
      second.add_state(again);
    }
    sink.to = &second;
  };
  read_sample(sink);
  second.finish(false);

  REQUIRE(!saved.empty());
  CHECK(in_parts == accounts);
  std::vector<Seen> split = seen(before.findings), one = seen(whole_findings.findings);
  for (const Seen& s : seen(after.findings)) split.push_back(s);
  CHECK(!before.findings.empty());
  CHECK(!after.findings.empty());
  CHECK(split == one);
}

TEST_CASE("the parts of a save add up to the save, byte for byte", "[state][kafka]") {
  Recorder none;
  DetectionEngine engine(default_rules(), {}, none);
  Switch sink;
  sink.to = &engine;
  std::string saved;
  std::vector<std::string> parts;
  sink.at_cut = [&] {
    saved = bytes_of(engine);
    for (int32_t p = 0; p < partitions; ++p) {
      StateWriter w;
      engine.save_state(w, on_partition(p));
      parts.push_back(w.data());
    }
  };
  read_sample(sink);
  REQUIRE(parts.size() == partitions);

  DetectionEngine joined(default_rules(), {}, none);
  for (const std::string& part : parts) {
    StateReader in(part);
    joined.add_state(in);
  }
  CHECK(bytes_of(joined) == saved);

  SECTION("a partition dropped and taken back leaves it as it was") {
    uint64_t all = joined.stats().accounts_active;
    joined.forget_keys(on_partition(2));
    uint64_t left = joined.stats().accounts_active;
    CHECK(left < all);
    CHECK(bytes_of(joined) != saved);
    StateReader in(parts[2]);
    joined.add_state(in);  // into a running engine this time
    CHECK(joined.stats().accounts_active == all);
    CHECK(bytes_of(joined) == saved);
  }
  SECTION("a part missing is missed") {
    DetectionEngine three(default_rules(), {}, none);
    for (int32_t p = 0; p < 3; ++p) {
      StateReader in(parts[static_cast<size_t>(p)]);
      three.add_state(in);
    }
    CHECK(bytes_of(three) != saved);
  }
}

TEST_CASE("a part added to a running engine keeps its clock going forward", "[state][kafka]") {
  Recorder none;
  DetectionEngine late(default_rules(), {}, none), early(default_rules(), {}, none);
  Stream s;
  // (The clock is set by events that agree with each other, not by a first one alone.)
  for (int64_t i = 0; i < 20; ++i) {
    late.on_event(s.event(t0 + (7200 + i * 60) * ns_per_second, "k-late"));
    early.on_event(s.event(t0 + i * 60 * ns_per_second, "k-early"));
  }
  int64_t clock = late.event_time();
  REQUIRE(clock > early.event_time());
  StateWriter part;
  early.save_state(part, [](std::string_view key) { return key == "k-early"; });
  StateReader in(part.data());
  late.add_state(in);
  CHECK(late.event_time() == clock);
  CHECK(late.stats().accounts_active == 2);
  StateWriter other;
  late.save_state(other, [](std::string_view key) { return key == "k-late"; });
  DetectionEngine alone(default_rules(), {}, none);
  StateReader back(other.data());
  alone.add_state(back);
  CHECK(alone.stats().accounts_active == 1);
}

TEST_CASE("a part that does not fit the rules adds nothing", "[state][kafka]") {
  Recorder none;
  DetectionEngine running(default_rules(), {}, none);
  Stream s;
  running.on_event(s.event(t0, "k1"));
  std::string before = bytes_of(running);
  StateReader junk(std::string_view("\x01\x02\x03", 3));
  CHECK_THROWS_AS(running.add_state(junk), StateError);
  CHECK(bytes_of(running) == before);
}
