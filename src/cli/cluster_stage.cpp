// The cluster stage's wiring: the profiles topic produced by the members, read by the stage.
#include "cli/cluster_stage.h"

#include "cli/commands.h"

#include <exfilscan/input/pipeline.h>
#include <exfilscan/state.h>

#include <spdlog/spdlog.h>

namespace exfilscan::cli {

ProfilePublishing::ProfilePublishing(const RunConfig& config)
    : topic_(config.profiles_topic), verbose_(config.verbose) {
#ifdef EXFILSCAN_KAFKA
  ProfileProducerOptions options;
  options.brokers = config.kafka->brokers;
  options.topic = config.profiles_topic;
  options.config = config.kafka->config;
  options.rules_fingerprint = config.rules_fingerprint;
  // Told when it happens, not only at the end: the run goes on until its next checkpoint.
  options.on_failure = [topic = topic_](const std::string& why) {
    spdlog::error("--profiles-topic {}: a profile was not produced: {}", topic, why);
  };
  producer_ = std::make_unique<ProfileProducer>(std::move(options));
#endif
}

ProfilePublishing::~ProfilePublishing() = default;

void ProfilePublishing::configure(EngineOptions& engine) {
#ifdef EXFILSCAN_KAFKA
  engine.publish_profiles = [this](int64_t at, std::vector<KeyProfile>&& keys, int64_t start) {
    producer_->publish(at, std::move(keys), start);
  };
#else
  (void)engine;
#endif
}

KafkaPartitionHooks ProfilePublishing::hooks(KafkaPartitionHooks inner) {
  KafkaPartitionHooks h;
#ifdef EXFILSCAN_KAFKA
  h.assigned = [this, inner](const std::vector<int32_t>& assigned, int32_t partitions) {
    std::map<int32_t, int64_t> starts;
    if (inner.assigned) starts = inner.assigned(assigned, partitions);
    held_.insert(assigned.begin(), assigned.end());
    partitions_ = partitions;
    producer_->holding(held_, partitions_);
    return starts;
  };
  h.revoked = [this, inner](const std::map<int32_t, int64_t>& positions) {
    if (inner.revoked) inner.revoked(positions);
    for (const auto& [p, offset] : positions) held_.erase(p);
    producer_->holding(held_, partitions_);
  };
  // The end of an hour is where the engine's upkeep falls: before the first event of a new hour.
  h.due = [this, inner](int64_t ts) {
    inner_due_ = inner.due && inner.due(ts);
    if (next_due_ == 0) next_due_ = (ts / ns_per_hour + 1) * ns_per_hour;
    bool mine = ts >= next_due_;
    if (mine) next_due_ = (ts / ns_per_hour + 1) * ns_per_hour;
    return inner_due_ || mine;
  };
  h.checkpoint = [this, inner](const std::map<int32_t, int64_t>& positions) {
    // The offsets the checkpoint commits must not pass profiles the stage will not see: every
    // profile published so far is acknowledged first, or the run ends (exit 2, nothing saved).
    if (inner_due_ && inner.checkpoint) {
      if (std::string failure = producer_->flush(); !failure.empty())
        throw InputError(
            fmt::format("--profiles-topic {}: {} (the checkpoint was not saved)", topic_, failure));
      inner.checkpoint(positions);
    }
    producer_->positions(positions);
  };
#else
  (void)inner;
#endif
  return h;
}

bool ProfilePublishing::flush() {
#ifdef EXFILSCAN_KAFKA
  if (told_) return false;  // (told once: before the state was saved, then at the end)
  std::string failure = producer_->flush();
  if (verbose_)
    spdlog::info("profiles: {} messages (keys' profiles and ends of hours) produced to {}",
                 producer_->produced(), topic_);
  if (failure.empty()) return true;
  note("exfilscan: --profiles-topic {}: {}\n", topic_, failure);
  told_ = true;
#endif
  return false;
}

ClusterStage::ClusterStage(const RunConfig& config)
    : config_(config),
      timeline_(std::make_unique<ClusterTimeline>(config.rules, config.rules_fingerprint)) {}

void ClusterStage::read_profiles() {
  KafkaOptions options = *config_.kafka;
  options.topic = config_.profiles_topic;
  // A group of its own: the records' topic is read by the stage's group, and a member of one
  // group subscribed to two topics would be assigned them together.
  options.group = config_.kafka->group + ".profiles";
  options.until_end = true;
  options.whole_topic = true;
  options.on_message = [this](int32_t partition, int64_t offset, std::string_view,
                              std::string_view value) {
    try {
      timeline_->add(value);
    } catch (const StateError& e) {
      throw InputError(
          fmt::format("{}/{}@{}: {}", config_.profiles_topic, partition, offset, e.what()));
    }
  };
  if (config_.verbose) options.log = [](const std::string& line) { spdlog::info("{}", line); };
  ReaderOptions reader;
  BadLineLog bad_lines(reader.bad_lines, stderr);
  struct NoEvents : EventSink {
    void on_event(const Event&) override {}
  } none;
  KafkaInput(std::move(options)).read(reader, none, bad_lines);
  timeline_->link();
  // An empty topic, or one no member published to: the stage would judge no cluster and exit
  // 0, as if the members had linked none.
  if (timeline_->hours() == 0)
    throw InputError(fmt::format(
        "--profiles-topic {}: no member's profiles were found on it (no end of an hour): is it "
        "the topic the members of scan --kafka --profiles-topic publish to?",
        config_.profiles_topic));
  if (config_.verbose)
    spdlog::info("campaigns: {} profiles over {} hours, {} clusters", timeline_->profiles(),
                 timeline_->hours(), timeline_->clusters());
}

void ClusterStage::configure(EngineOptions& engine) const {
  const ClusterTimeline* t = timeline_.get();
  engine.clusters_at = [t](int64_t at) { return t->clusters_at(at); };
}

void ClusterStage::configure(KafkaOptions& kafka) const {
  kafka.whole_topic = true;  // (a group shared with another consumer: part of the records)
  const ClusterTimeline* t = timeline_.get();
  kafka.accept = [t](int32_t partition, int64_t offset, std::string_view key) {
    return t->wanted(partition, offset, key);
  };
}

std::vector<AccountSummary> ClusterStage::ranking(std::vector<AccountSummary> pooled) const {
  return timeline_->with_members(std::move(pooled), to_string(config_.engine.group_by));
}

}  // namespace exfilscan::cli
