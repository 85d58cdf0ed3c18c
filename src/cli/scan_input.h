#pragma once
/// Where scan's events come from: the files, or a Kafka topic read as a consumer group member,
/// with what a --state must keep of it (each partition's offset) and commit once it is saved.

#include "cli/cluster_stage.h"
#include "cli/options.h"
#include "cli/partition_states.h"

#include <exfilscan/input/kafka.h>
#include <exfilscan/input/reader.h>
#include <exfilscan/report/report.h>

#include <map>
#include <memory>
#include <string>

namespace exfilscan::cli {

/// The engine's part of any scan's state payload, the offsets of a --kafka one passed over
/// (explain --state reads either kind).
std::string engine_state_of(const std::string& payload);

class ScanInput {
 public:
  explicit ScanInput(const RunConfig& config) : config_(config) {}
  ~ScanInput();

  /// Before the engine is made: campaigns reads the profiles topic; scan --profiles-topic makes
  /// its producer. Throws InputError, or std::runtime_error for a producer that cannot be made.
  void prepare();
  /// The engine's options: the run's, with the cluster stage's hooks (cluster_stage.h).
  EngineOptions engine_options() const;
  /// The ranking to report: campaigns adds each flagged cluster's member keys.
  std::vector<AccountSummary> ranking(std::vector<AccountSummary> engine_ranking) const;
  /// The engine's part of a state's payload. With --kafka the payload starts with the offsets
  /// its accounts were read to, kept for read(). Throws StateError naming the file when the
  /// state is of the other kind (a file scan's with --kafka, or another topic's).
  std::string engine_payload(const std::string& payload);
  /// Where the engine's findings go: `next`, or with --state-dir through what drops the
  /// findings a replay fires again (partition_states.h).
  FindingSink& findings(FindingSink& next);
  /// Reads `paths` (the inputs, maybe reordered), or the topic with --kafka, through `order`
  /// into `engine` (--state-dir loads and saves its partitions' parts).
  ReadResult read(const std::vector<std::string>& paths, const ReaderOptions& reader,
                  EventOrder& order, BadLineLog& bad_lines, DetectionEngine& engine);
  /// The payload to save: the engine's bytes, after the offsets they cover with --kafka.
  std::string state_payload(const std::string& engine_bytes) const;
  /// After the state covering them is saved: the offsets committed for the group (for lag
  /// monitors; the state is what the next run starts from). A failure is told, not fatal.
  void state_saved();
  /// --findings-topic: the reporter producing the report to the topic; null without it. Throws
  /// std::runtime_error for a producer that cannot be made.
  std::unique_ptr<Reporter> findings_producer();
  /// After the report: false (and told on stderr) when --findings-topic (or --profiles-topic)
  /// could not produce it all.
  bool findings_produced();

 private:
  const RunConfig& config_;
  // Before kafka_: the member leaves its group (revoking) before the states go.
  std::unique_ptr<PartitionStates> partitions_;
  std::unique_ptr<ProfilePublishing> profiles_;  // scan --kafka --profiles-topic
  std::unique_ptr<ClusterStage> stage_;          // campaigns
  std::unique_ptr<KafkaInput> kafka_;
  std::map<int32_t, int64_t> offsets_;        // with --kafka --state: where each partition is
  const Reporter* findings_topic_ = nullptr;  // owned by the run's fan-out of reporters
};

}  // namespace exfilscan::cli
