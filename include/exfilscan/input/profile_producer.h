#pragma once
/// A member's side of the cluster stage (scan --kafka --profiles-topic): at each hourly upkeep,
/// its keys' profiles and, for each partition it holds, the end of the hour, produced to the
/// profiles topic (key_profile.h; docs/scale-out.md, "The cluster stage").

#include <exfilscan/engine/key_profile.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace exfilscan {

struct ProfileProducerOptions {
  std::string brokers;
  std::string topic;
  /// librdkafka properties (--kafka-config); the consumer's own are ignored by the producer.
  std::vector<std::pair<std::string, std::string>> config;
  uint64_t rules_fingerprint = 0;
  /// How long the end of the run waits for every message to be acknowledged.
  int flush_timeout_ms = 60'000;
  /// Called once, with why, when the first message cannot be produced or delivered (on the
  /// thread that publishes or flushes); optional.
  std::function<void(const std::string&)> on_failure;
};

class ProfileProducer {
 public:
  /// An idempotent producer, keys placed with murmur2 as the records are. Throws
  /// std::runtime_error for a property librdkafka refuses.
  explicit ProfileProducer(ProfileProducerOptions options);
  ~ProfileProducer();
  ProfileProducer(const ProfileProducer&) = delete;
  ProfileProducer& operator=(const ProfileProducer&) = delete;

  /// The partitions this member holds now, of `partitions` in the records' topic.
  void holding(const std::set<int32_t>& held, int32_t partitions);
  /// Before the first event of a new hour: where each partition goes on (as the reader's
  /// positions: the next record after those judged).
  void positions(const std::map<int32_t, int64_t>& positions);
  /// The engine's upkeep (EngineOptions::publish_profiles): the keys' profiles, then each held
  /// partition's end of the hour at its last position.
  void publish(int64_t at, std::vector<KeyProfile>&& keys, int64_t start_ns);
  /// Waits (up to flush_timeout_ms) for every message produced so far: at each checkpoint,
  /// before its offsets are committed, and at the end of the run. Empty, or why not all were
  /// produced.
  std::string flush();
  /// Messages produced so far (profiles and ends of hours).
  uint64_t produced() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exfilscan
