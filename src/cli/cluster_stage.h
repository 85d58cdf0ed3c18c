#pragma once
/// The cluster stage across the members of a group (docs/scale-out.md, "The cluster stage"):
/// a member's side (scan --kafka --profiles-topic: its keys' profiles published at each
/// upkeep) and the stage's (campaigns: the profiles read, then the members' records of the
/// clusters judged as pooled accounts).

#include "cli/options.h"

#include <exfilscan/engine/cluster_timeline.h>
#include <exfilscan/input/kafka.h>
#ifdef EXFILSCAN_KAFKA
#include <exfilscan/input/profile_producer.h>
#endif

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace exfilscan::cli {

/// scan --kafka --profiles-topic.
class ProfilePublishing {
 public:
  /// Throws std::runtime_error for a producer that cannot be made.
  explicit ProfilePublishing(const RunConfig& config);
  ~ProfilePublishing();
  /// The engine hands its keys' profiles here instead of linking them.
  void configure(EngineOptions& engine);
  /// The reader's hooks, around `inner` (--state-dir's, or none): the partitions held, and
  /// their positions before the first event of each hour.
  KafkaPartitionHooks hooks(KafkaPartitionHooks inner);
  /// Before the state is saved at the end, and at the end: false (told on stderr, once) when
  /// not every profile was produced.
  bool flush();

 private:
#ifdef EXFILSCAN_KAFKA
  std::unique_ptr<ProfileProducer> producer_;
#endif
  std::set<int32_t> held_;
  int32_t partitions_ = 0;
  int64_t next_due_ = 0;
  bool inner_due_ = false;
  bool told_ = false;  // flush() failed, and said so
  std::string topic_;
  bool verbose_ = false;
};

/// exfilscan campaigns.
class ClusterStage {
 public:
  explicit ClusterStage(const RunConfig& config);
  /// Reads the profiles topic to its end and links its hours. Throws InputError.
  void read_profiles();
  /// The engine: the stage's clusters, pooled accounts only.
  void configure(EngineOptions& engine) const;
  /// The records' topic: only the clusters' members' records are parsed.
  void configure(KafkaOptions& kafka) const;
  /// The pooled accounts' ranking, each flagged cluster's member keys after it.
  std::vector<AccountSummary> ranking(std::vector<AccountSummary> pooled) const;

 private:
  const RunConfig& config_;
  std::unique_ptr<ClusterTimeline> timeline_;
};

}  // namespace exfilscan::cli
