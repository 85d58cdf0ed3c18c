#pragma once
/// Internal: librdkafka's consumer behind a small class: configuration, subscription, the
/// rebalance protocol (cooperative or eager), polling, end offsets, pause and resume.

#include <exfilscan/input/kafka.h>

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace exfilscan::detail {

class KafkaConsumer {
 public:
  struct Callbacks {
    /// Where partitions about to be assigned start, with how many the topic has (optional).
    std::function<std::map<int32_t, int64_t>(const std::vector<int32_t>&, int32_t)> starts;
    /// Partitions given to this member (an incremental assignment or a whole new one).
    std::function<void(const std::vector<int32_t>&)> assigned;
    /// Partitions taken away (before another member may read them).
    std::function<void(const std::vector<int32_t>&)> revoked;
  };

  /// Creates the consumer and subscribes to the topic. Throws InputError for a property
  /// librdkafka refuses.
  KafkaConsumer(const KafkaOptions& options, Callbacks callbacks);
  /// Leaves the group (revoking every partition) and destroys the handle.
  ~KafkaConsumer();
  KafkaConsumer(const KafkaConsumer&) = delete;
  KafkaConsumer& operator=(const KafkaConsumer&) = delete;

  /// The next message or event (an error, a partition's end), or nullptr after `timeout_ms`.
  /// The caller owns it (rd_kafka_message_destroy). Throws InputError for what ends the run:
  /// an unknown topic, a fatal error, a failed rebalance step.
  rd_kafka_message_t* poll(int timeout_ms);
  /// The partition's high watermark, asked of the broker. Throws InputError.
  int64_t end_offset(int32_t partition);
  /// The high watermark librdkafka last saw (fetch responses); -1 when unknown. Never blocks.
  int64_t cached_end_offset(int32_t partition);
  /// Commits these next offsets for the group, synchronously unless `wait` is false. Throws
  /// InputError.
  void commit(const std::map<int32_t, int64_t>& offsets, bool wait = true);
  void pause(int32_t partition);
  void resume(int32_t partition);
  /// True once the group has assigned this member something (even if later revoked).
  bool ever_assigned() const { return ever_assigned_; }
  /// How many partitions the topic has, asked of the brokers once. Throws InputError.
  int32_t partition_count();

 private:
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf);
  void rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void set_partition_paused(int32_t partition, bool paused);
  void throw_if_failed();

  const KafkaOptions& options_;
  Callbacks callbacks_;
  rd_kafka_t* rk_ = nullptr;
  bool ever_assigned_ = false;
  bool joined_ = false;  // an assignment came, even an empty one
  int32_t partitions_ = 0;
  std::string failure_;  // what ended the run inside a callback, thrown after the poll
  /// Anything else a callback threw (a report that can no longer be written, from a checkpoint
  /// on revocation): it must not unwind through librdkafka's C frames, so it is thrown again
  /// after the poll.
  std::exception_ptr thrown_;
};

}  // namespace exfilscan::detail
