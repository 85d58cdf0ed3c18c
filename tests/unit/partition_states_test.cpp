// scan --kafka --state-dir's files (issue 20): a partition's state and its journal of the
// findings written since, so that a new owner that reads the records after the last checkpoint
// again writes none of them twice; a member killed in the middle of a checkpoint.
#include "cli/partition_states.h"

#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>

using namespace exfilscan;
using namespace exfilscan::test;
using exfilscan::cli::hand_over_limit_ms;
using exfilscan::cli::PartitionStates;

namespace {

/// A state directory removed at the end.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/exfilscan-dir-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

cli::RunConfig config(const std::string& dir) {
  cli::RunConfig c;
  c.kafka = KafkaOptions{};
  c.kafka->topic = "logs";
  c.state_dir = dir;
  c.rules_fingerprint = 42;
  c.rules = default_rules();
  return c;
}

Finding finding(std::string key, std::string rule, int64_t at) {
  Finding f;
  f.key = std::move(key);
  f.rule = std::move(rule);
  f.detected_at_ns = at;
  return f;
}

/// One member's run: an engine whose findings pass through the partitions' states.
struct Member {
  cli::RunConfig c;
  Recorder written;
  PartitionStates states;
  DetectionEngine engine;
  EventOrder order;
  KafkaPartitionHooks hooks;
  std::map<int32_t, int64_t> committed;
  explicit Member(const std::string& dir)
      : c(config(dir)),
        states(c, written),
        engine(c.rules, {}, states),
        order(OrderOptions{}, engine) {
    states.attach(engine, order);
    hooks = states.hooks([this](const std::map<int32_t, int64_t>& o, bool) { committed = o; });
  }
};

}  // namespace

TEST_CASE("findings written after the last checkpoint are not written again by the next owner",
          "[state][kafka]") {
  TempDir dir;
  {
    Member m(dir.path);
    CHECK(m.hooks.assigned({0}, 1).empty());  // nothing saved yet: the group's offset
    m.states.on_finding(finding("k1", "volume_spike", t0));
    m.hooks.checkpoint({{0, 5}});
    CHECK(m.committed == std::map<int32_t, int64_t>{{0, 5}});  // after the save
    m.states.on_finding(finding("k1", "prompt_templating", t0 + 10));
    m.states.on_finding(finding("k2", "volume_spike", t0 + 20));
    CHECK(m.written.findings.size() == 3);
  }  // killed: nothing saved after the checkpoint
  Member next(dir.path);
  CHECK(next.hooks.assigned({0}, 1) == std::map<int32_t, int64_t>{{0, 5}});
  // The records after offset 5 again: the same two findings, then new ones.
  next.states.on_finding(finding("k1", "prompt_templating", t0 + 10));
  next.states.on_finding(finding("k2", "volume_spike", t0 + 20));
  next.states.on_finding(finding("k2", "volume_spike", t0 + 30));  // later: another one
  next.states.on_finding(finding("k3", "logit_probe", t0 + 40));
  REQUIRE(next.written.findings.size() == 2);
  CHECK(next.written.findings[0].detected_at_ns == t0 + 30);
  CHECK(next.written.findings[1].key == "k3");
  CHECK(next.states.replays_dropped() == 2);
  // The finding before the checkpoint is in the state's episodes, not in the journal: had the
  // replay fired it (it cannot), it would have been written.
  next.states.on_finding(finding("k1", "volume_spike", t0));
  CHECK(next.written.findings.size() == 3);
}

TEST_CASE("a journal record cut short by a crash ends the journal", "[state][kafka]") {
  TempDir dir;
  std::string path = dir.path + "/j";
  std::string whole = cli::journal_record({"k1", "r", 7}) + cli::journal_record({"k2", "r", 8});
  std::ofstream(path, std::ios::binary) << whole << whole.substr(0, 5);
  auto ids = cli::read_journal(path);
  CHECK(ids == std::set<cli::FiringId>{{"k1", "r", 7}, {"k2", "r", 8}});
  CHECK(cli::read_journal(dir.path + "/none").empty());
}

TEST_CASE("partitions saved at two checkpoints by a killed member go back to the earlier one",
          "[state][kafka]") {
  TempDir dir;
  namespace fs = std::filesystem;
  std::string p1 = dir.path + "/logs-1.state";
  {
    Member m(dir.path);
    m.hooks.assigned({0, 1}, 2);
    m.hooks.checkpoint({{0, 10}, {1, 20}});
    fs::copy_file(p1, dir.path + "/first");
    m.hooks.checkpoint({{0, 15}, {1, 25}});
  }
  SECTION("all saved: the last checkpoint") {
    Member next(dir.path);
    CHECK(next.hooks.assigned({0, 1}, 2) == std::map<int32_t, int64_t>{{0, 15}, {1, 25}});
  }
  SECTION("killed after saving partition 0 and before partition 1: both at the first") {
    fs::copy_file(dir.path + "/first", p1, fs::copy_options::overwrite_existing);
    Member next(dir.path);
    CHECK(next.hooks.assigned({0, 1}, 2) == std::map<int32_t, int64_t>{{0, 10}, {1, 20}});
  }
  SECTION("a state of another number of partitions is refused") {
    Member next(dir.path);
    CHECK_THROWS_WITH(next.hooks.assigned({0}, 3), Catch::Contains("had 2 partitions"));
  }
}

TEST_CASE("a member killed before its first checkpoint leaves its journal to the next owner",
          "[state][kafka]") {
  TempDir dir;
  {
    Member m(dir.path);
    m.hooks.assigned({0}, 1);
    m.states.on_finding(finding("k1", "volume_spike", t0));
  }
  Member next(dir.path);
  // Nothing was checkpointed: the next owner reads from the group's offset, all again.
  CHECK(next.hooks.assigned({0}, 1).empty());
  next.states.on_finding(finding("k1", "volume_spike", t0));
  next.states.on_finding(finding("k1", "volume_spike", t0 + 10));
  REQUIRE(next.written.findings.size() == 1);
  CHECK(next.written.findings[0].detected_at_ns == t0 + 10);
}

TEST_CASE("a state before the last save that cannot be used is left aside beside a good one",
          "[state][kafka]") {
  TempDir dir;
  {
    Member m(dir.path);
    m.hooks.assigned({0}, 1);
    m.hooks.checkpoint({{0, 10}});
  }
  // A .prev saved under other rules (a --state-reset run that stopped before its second save).
  std::ofstream(dir.path + "/logs-0.state.prev", std::ios::binary) << "not a state at all";
  Member next(dir.path);
  CHECK(next.hooks.assigned({0}, 1) == std::map<int32_t, int64_t>{{0, 10}});
}

TEST_CASE("a reset sets aside the states from before the run, not a hand-over in it",
          "[state][kafka]") {
  TempDir dir;
  {
    Member m(dir.path);
    m.hooks.assigned({0, 1}, 2);
    m.hooks.checkpoint({{0, 10}, {1, 20}});
  }
  Member reset(dir.path);
  reset.c.state_reset = true;
  CHECK(reset.hooks.assigned({0}, 2).empty());  // saved before this run: set aside
  {
    // Another member of the group, started after it, hands partition 1 over from its state.
    Member other(dir.path);
    other.hooks.assigned({1}, 2);
    other.hooks.checkpoint({{1, 30}});
  }
  SECTION("a state saved in the run is taken") {
    CHECK(reset.hooks.assigned({1}, 2) == std::map<int32_t, int64_t>{{1, 30}});
  }
  SECTION("even with a time from before the run") {
    // A file's time is the kernel's coarse clock's, or a file server's: a save a moment after
    // the run began can carry an earlier time.
    namespace fs = std::filesystem;
    std::string p1 = dir.path + "/logs-1.state";
    fs::last_write_time(p1, fs::last_write_time(p1) - std::chrono::hours(1));
    CHECK(reset.hooks.assigned({1}, 2) == std::map<int32_t, int64_t>{{1, 30}});
  }
}

TEST_CASE("the journal: rewritten whole when taken, old entries dropped, the one before kept",
          "[state][kafka]") {
  TempDir dir;
  std::string journal = dir.path + "/logs-0.findings";
  {
    Member m(dir.path);
    m.hooks.assigned({0}, 1);
    m.hooks.checkpoint({{0, 5}});
    m.states.on_finding(finding("k1", "volume_spike", t0 + 10));
  }
  SECTION("a record cut short is not written after") {
    std::ofstream(journal, std::ios::binary | std::ios::app) << "\x05\x00garbage";
    {
      Member next(dir.path);
      next.hooks.assigned({0}, 1);
      next.states.on_finding(finding("k2", "volume_spike", t0 + 20));
    }
    CHECK(cli::read_journal(journal) == std::set<cli::FiringId>{{"k1", "volume_spike", t0 + 10},
                                                                {"k2", "volume_spike", t0 + 20}});
  }
  SECTION("killed between its save and its new journal: the one before is read") {
    std::filesystem::rename(journal, journal + ".prev");
    Member next(dir.path);
    next.hooks.assigned({0}, 1);
    next.states.on_finding(finding("k1", "volume_spike", t0 + 10));
    CHECK(next.written.findings.empty());
    CHECK(next.states.replays_dropped() == 1);
  }
  SECTION("an entry the replay has not fired an hour after its time is dropped at a save") {
    Member next(dir.path);
    next.hooks.assigned({0}, 1);
    Stream s;
    for (int i = 0; i < 30; ++i)  // (the clock trusts a time once more events confirm it)
      next.engine.on_event(s.event(t0 + 2 * ns_per_hour + i * ns_per_minute, "k9"));
    REQUIRE(next.engine.event_time() > t0 + 10 + ns_per_hour);
    next.hooks.checkpoint({{0, 6}});
    CHECK(cli::read_journal(journal).empty());
  }
}

TEST_CASE("a hand-over waits half as long as the group lets a member go without polling",
          "[state][kafka]") {
  using Config = std::vector<std::pair<std::string, std::string>>;
  CHECK(hand_over_limit_ms({}) == 150'000);  // half librdkafka's default max.poll.interval.ms
  CHECK(hand_over_limit_ms(Config{{"client.id", "x"}, {"max.poll.interval.ms", "45000"}}) ==
        22'500);
  CHECK(hand_over_limit_ms(Config{{"max.poll.interval.ms", "soon"}}) == 150'000);
  CHECK(hand_over_limit_ms(Config{{"max.poll.interval.ms", "-5"}}) == 150'000);
}
