#pragma once
/// scan --kafka --state-dir: each assigned partition's state in a file of its own, loaded when
/// the partition is assigned, saved at each hourly checkpoint of event time and when it is
/// revoked, and the findings replayed after a crash written once (docs/scale-out.md).

#include "cli/options.h"

#include <exfilscan/engine/engine.h>
#include <exfilscan/engine/state_file.h>
#include <exfilscan/input/kafka.h>
#include <exfilscan/order/event_order.h>

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace exfilscan::cli {

/// A finding as a replay fires it again: its key, its rule and the event time it fired at (a
/// rule fires at most once per key and event, and a replay fires at the same events).
using FiringId = std::tuple<std::string, std::string, int64_t>;

/// The findings written for a partition's keys since its last checkpoint, one record each,
/// appended as they are written: what a new owner that reads the records after the checkpoint
/// again must not write twice. A record cut short by a crash ends the journal.
std::set<FiringId> read_journal(const std::string& path);
std::string journal_record(const FiringId& id);

/// How long a member waits for the one before it to let go of a partition's state: half the
/// group's max.poll.interval.ms (librdkafka's default, 300 s, unless the config sets it).
int64_t hand_over_limit_ms(const std::vector<std::pair<std::string, std::string>>& config);

/// Whether a state payload is a --state-dir partition's; its engine part.
bool is_partition_state(std::string_view payload);
std::string partition_engine_state(std::string_view payload);

/// What a partition's state says of itself, before the engine's part.
struct PartitionHeader {
  std::string topic;
  int32_t partition = 0;
  int32_t partitions = 0;   // how many the topic had: keys are placed by this number
  int64_t offset = 0;       // where the partition goes on
  uint64_t saver = 0;       // the run that saved it
  uint64_t checkpoint = 0;  // that run's checkpoint
};

class PartitionStates final : public FindingSink {
 public:
  /// `next` gets the findings that are not replays.
  PartitionStates(const RunConfig& config, FindingSink& next);
  ~PartitionStates() override;
  PartitionStates(const PartitionStates&) = delete;
  PartitionStates& operator=(const PartitionStates&) = delete;

  /// Where the events go: `order` is drained into `engine` before each save.
  void attach(DetectionEngine& engine, EventOrder& order);
  /// The hooks for KafkaOptions; `commit` commits offsets after the save covering them
  /// (waiting for the brokers, or not: in a revocation).
  using Commit = std::function<void(const std::map<int32_t, int64_t>&, bool wait)>;
  KafkaPartitionHooks hooks(Commit commit);
  /// At the end of a read that is kept: every partition held saved at `positions` (those left
  /// out at their last offset) and committed. Throws InputError.
  void save_all(const std::map<int32_t, int64_t>& positions);
  /// After the read: the hooks do nothing more (the engine may be gone when the member leaves).
  void detach() { engine_ = nullptr; }
  /// Findings a replay fired again and that were dropped, having been written before.
  uint64_t replays_dropped() const { return dropped_; }

  void on_finding(const Finding& finding) override;

 private:
  struct Held {
    std::unique_ptr<StateFile> file;
    int64_t offset = -1;  // where the partition goes on, as last saved or loaded
    std::set<FiringId> replayed;
    int journal = -1;
  };
  struct Saved {
    std::string payload;
    uint32_t version = 0;
    PartitionHeader header;
    std::string engine;  // the engine's part of the payload
  };
  std::string path_of(int32_t partition, const char* suffix) const;
  std::map<int32_t, int64_t> load(const std::vector<int32_t>& assigned, int32_t partitions);
  void save(int32_t partition, Held& held, int64_t offset);
  void open_journal(int32_t partition, Held& held);
  /// The journal replaced by what `held.replayed` holds (written aside, synced, renamed over),
  /// then opened to append to: a record cut short by a crash is not written after.
  void rewrite_journal(int32_t partition, Held& held);
  /// Saves the partitions in `positions` (all held, unless `revoking`), then commits.
  void checkpoint(const std::map<int32_t, int64_t>& positions, bool revoking);
  bool due(int64_t timestamp_ns);
  /// Whether the state at `path` is one that was there when this run began (or none is there).
  bool saved_before_run(const std::string& path) const;

  const RunConfig& config_;
  FindingSink& next_;
  DetectionEngine* engine_ = nullptr;
  EventOrder* order_ = nullptr;
  Commit commit_;
  std::map<int32_t, Held> held_;
  int32_t partitions_ = 0;  // the topic's, once known
  int64_t next_due_ = 0;    // the next checkpoint: the first event at or after this time
  int64_t last_ts_ = 0;     // the time of the event due() was last asked about
  uint64_t dropped_ = 0;
  uint64_t saver_;            // this run, in the states it saves
  uint64_t checkpoints_ = 0;  // its checkpoints so far
  /// The state dir's files when this run began: --state-reset sets aside only states saved
  /// before it (a partition handed over by a member of this run's group goes on from its state).
  std::map<std::string, struct stat> there_at_start_;
  bool journal_failed_ = false;  // (told once)
};

}  // namespace exfilscan::cli
