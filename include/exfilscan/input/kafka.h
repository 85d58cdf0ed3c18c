#pragma once
/// Kafka as an input: a consumer group member whose assigned partitions are merged into one
/// stream in event-time order and pushed to the sink as the files' events are (docs/scale-out.md).

#include <exfilscan/input/reader.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilscan {

/// Where the partition the Java clients' default partitioner (librdkafka's murmur2_random)
/// puts a key: (murmur2(key) & 0x7fffffff) % partitions. Producers must agree on it so that an
/// account's records all land on one partition.
int32_t kafka_partition(std::string_view key, int32_t partitions);
/// Kafka's murmur2 (seed 0x9747b28c), as org.apache.kafka.common.utils.Utils.murmur2.
int32_t kafka_murmur2(std::string_view key);

/// One assigned partition's position, for -v.
struct KafkaPartitionProgress {
  int32_t partition = 0;
  int64_t next_offset = -1;  // after the last message taken; -1 before the first
  int64_t end_offset = -1;   // the broker's high watermark when last asked; -1 unknown
  uint64_t messages = 0;     // taken from it in this run
  bool idle = false;         // left out of the merge (docs/scale-out.md, "Event time")
};

/// --state-dir (docs/scale-out.md): each partition's state follows it from member to member.
/// Called on the reading thread, between batches: the sink has every event merged before.
struct KafkaPartitionHooks {
  /// Partitions given to this member, before they are read (`partitions`: how many the topic
  /// has). Returns where each starts; one left out starts at the group's committed offset.
  /// Throws InputError to end the run.
  std::function<std::map<int32_t, int64_t>(const std::vector<int32_t>& assigned,
                                           int32_t partitions)>
      assigned;
  /// Partitions taken away, each with the offset after the last record delivered from it.
  std::function<void(const std::map<int32_t, int64_t>& positions)> revoked;
  /// Whether a checkpoint falls before the next event, which has this time.
  std::function<bool(int64_t timestamp_ns)> due;
  /// A checkpoint: every assigned partition's position (as revoked's).
  std::function<void(const std::map<int32_t, int64_t>& positions)> checkpoint;
};

struct KafkaOptions {
  std::string brokers;
  std::string topic;
  std::string group;
  /// librdkafka properties (`name=value`), applied after exfilscan's defaults: security, client
  /// id, group.instance.id, timeouts. enable.auto.commit and enable.partition.eof are exfilscan's.
  std::vector<std::pair<std::string, std::string>> config;
  /// Stop once every assigned partition reaches the end offset it had when it was assigned.
  bool until_end = false;
  /// A partition caught up with its broker and silent this long is left out of the merge, so
  /// that it does not hold the others' event time back; it rejoins with its next message.
  /// (Not with until_end: a replay waits for every partition, which keeps it deterministic.)
  std::chrono::milliseconds idle_timeout{10'000};
  /// Messages held for one partition while the merge waits for a slower one; past this the
  /// partition is paused (back-pressure) until half of them are gone.
  size_t max_pending_per_partition = 20'000;
  /// Events handed to the sink at once (fewer when the merge must wait for messages).
  size_t batch_events = 4096;
  /// Set (from a signal handler) to stop: the events merged so far are delivered.
  const std::atomic<bool>* stop = nullptr;
  /// Called every `progress_every` with every assigned partition; optional (-v).
  std::function<void(std::span<const KafkaPartitionProgress>)> progress;
  std::chrono::milliseconds progress_every{5'000};
  /// Called with a line to log (assignments, revocations, broker trouble); optional.
  std::function<void(const std::string&)> log;
  /// Where to start partitions a saved state covers (partition, next offset); the others start
  /// at the group's committed offsets, or auto.offset.reset.
  std::map<int32_t, int64_t> start_offsets;
  /// A partition revoked while reading ends the run with an input error: the state this member
  /// keeps (--state) would hold accounts another member now reads.
  bool keep_partitions = false;
  /// The cluster stage: this member must hold every partition of the topic. An assignment
  /// that leaves some to another member of the group, or a revocation, ends the run with an
  /// input error (the stage would judge part of the data and exit 0).
  bool whole_topic = false;
  KafkaPartitionHooks hooks;  // empty without --state-dir
  /// The cluster stage: a message is parsed only when this takes its partition, offset and
  /// key; the others are passed over unparsed (counted: passed_over()).
  std::function<bool(int32_t partition, int64_t offset, std::string_view key)> accept;
  /// Messages that are not log records (the profiles topic): each is handed here as it comes,
  /// in its partition's order, and nothing reaches the sink.
  std::function<void(int32_t partition, int64_t offset, std::string_view key,
                     std::string_view value)>
      on_message;
};

/// A consumer group member reading one topic: it joins the group when created and leaves it
/// when destroyed, so that offsets can be committed after the state covering them is saved.
class KafkaInput {
 public:
  /// Throws InputError for a property librdkafka refuses.
  explicit KafkaInput(KafkaOptions options);
  ~KafkaInput();
  KafkaInput(const KafkaInput&) = delete;
  KafkaInput& operator=(const KafkaInput&) = delete;

  /// Reads until `options.stop` is set or, with until_end, every assigned partition is read to
  /// its end. Each message's value is one log record (several lines are several records) in any
  /// format the line parser reads; bad ones go to `bad_lines` as `topic/partition@offset:line`.
  /// Events reach the sink merged across partitions by event time (ties: lower partition first),
  /// each partition in its own order. Throws InputError when the brokers cannot be used (an
  /// unknown topic, no broker reachable before the first assignment, a revocation with
  /// keep_partitions); the events merged until then were delivered.
  ReadResult read(const ReaderOptions& reader, EventSink& sink, BadLineLog& bad_lines);
  /// After read: each partition read from, and the offset after the last record delivered.
  std::map<int32_t, int64_t> positions() const;
  /// Messages `accept` passed over, unparsed.
  uint64_t passed_over() const;
  /// Commits `offsets` for the group, synchronously; with `wait` false, without waiting for
  /// the brokers (inside a revocation, where librdkafka holds a commit until the revocation is
  /// done). Throws InputError.
  void commit(const std::map<int32_t, int64_t>& offsets, bool wait = true);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// KafkaInput(options).read(...): one read, committing nothing.
ReadResult read_kafka(const KafkaOptions& options, const ReaderOptions& reader, EventSink& sink,
                      BadLineLog& bad_lines);

/// Reads a librdkafka properties file: `name=value` lines, `#` comments, blank lines. Throws
/// InputError naming the file and line of anything else.
std::vector<std::pair<std::string, std::string>> read_kafka_config(const std::string& path);

}  // namespace exfilscan
