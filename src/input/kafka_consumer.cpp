#include "input/kafka_consumer.h"

#include <fmt/format.h>

#include <utility>

#include <cstring>

namespace exfilscan::detail {

namespace {

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
  char error[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    std::string message = "kafka: ";
    message += error;
    throw InputError(message);
  }
}

std::vector<int32_t> partition_numbers(const rd_kafka_topic_partition_list_t* list) {
  std::vector<int32_t> out;
  for (int i = 0; i < list->cnt; ++i) out.push_back(list->elems[i].partition);
  return out;
}

}  // namespace

KafkaConsumer::KafkaConsumer(const KafkaOptions& options, Callbacks callbacks)
    : options_(options), callbacks_(std::move(callbacks)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", options.brokers);
  set(conf, "group.id", options.group);
  // Partitions that stay with a member are not revoked when another joins or leaves: its
  // accounts' state stays where it is.
  set(conf, "partition.assignment.strategy", "cooperative-sticky");
  // A new group replays the topic: what is retained is what a scan can see.
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "client.id", "exfilscan");
  for (const auto& [name, value] : options.config) set(conf, name, value);
  // exfilscan's own: offsets are committed by exfilscan or not at all, and a partition's end
  // is how a replay knows it is done and an idle partition is told from a slow one.
  set(conf, "enable.auto.commit", "false");
  set(conf, "enable.auto.offset.store", "false");
  set(conf, "enable.partition.eof", "true");
  // librdkafka's log lines are served by poll on the caller's thread, not on its own threads.
  set(conf, "log.queue", "true");
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);

  char error[512];
  rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
  if (!rk_) {
    rd_kafka_conf_destroy(conf);
    std::string message = "kafka: cannot create a consumer: ";
    message += error;
    throw InputError(message);
  }
  rd_kafka_set_log_queue(rk_, nullptr);
  rd_kafka_poll_set_consumer(rk_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    rd_kafka_destroy(rk_);
    throw InputError(
        fmt::format("kafka: cannot subscribe to {}: {}", options.topic, rd_kafka_err2str(err)));
  }
}

KafkaConsumer::~KafkaConsumer() {
  // librdkafka before 2.3 (Debian 12 has 2.0.2) aborts closing a cooperative-sticky member
  // that was never given an assignment (librdkafka#4312): such a member holds nothing, and the
  // handle is left to the process's exit.
  if (!joined_) return;
  // Leaving the group at once spares the other members a session timeout before they get
  // this member's partitions.
  rd_kafka_consumer_close(rk_);
  rd_kafka_destroy(rk_);
}

rd_kafka_message_t* KafkaConsumer::poll(int timeout_ms) {
  rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, timeout_ms);
  throw_if_failed();
  if (!m || !m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return m;
  rd_kafka_resp_err_t err = m->err;
  std::string what = rd_kafka_message_errstr(m);
  rd_kafka_message_destroy(m);
  if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
      err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
      err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
    throw InputError(fmt::format("kafka: topic {}: {}", options_.topic, what));
  // Anything else (a broker restarting, a fetch retried) librdkafka recovers from itself.
  if (options_.log) options_.log(fmt::format("kafka: {}", what));
  return nullptr;
}

int64_t KafkaConsumer::end_offset(int32_t partition) {
  int64_t low = 0, high = -1;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(rk_, options_.topic.c_str(), partition, &low, &high, 30'000);
  if (err)
    throw InputError(fmt::format("kafka: {}/{}: cannot ask for its end offset: {}", options_.topic,
                                 partition, rd_kafka_err2str(err)));
  return high;
}

int64_t KafkaConsumer::cached_end_offset(int32_t partition) {
  int64_t low = -1, high = -1;
  if (rd_kafka_get_watermark_offsets(rk_, options_.topic.c_str(), partition, &low, &high))
    return -1;
  return high;
}

void KafkaConsumer::commit(const std::map<int32_t, int64_t>& offsets, bool wait) {
  if (offsets.empty()) return;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (auto [partition, offset] : offsets)
    rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), partition)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, wait ? 0 : 1);
  rd_kafka_topic_partition_list_destroy(list);
  if (err)
    throw InputError(fmt::format("kafka: cannot commit the offsets of {} for group {}: {}",
                                 options_.topic, options_.group, rd_kafka_err2str(err)));
}

void KafkaConsumer::pause(int32_t partition) {
  set_partition_paused(partition, true);
}
void KafkaConsumer::resume(int32_t partition) {
  set_partition_paused(partition, false);
}

void KafkaConsumer::set_partition_paused(int32_t partition, bool paused) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), partition);
  if (paused)
    rd_kafka_pause_partitions(rk_, list);
  else
    rd_kafka_resume_partitions(rk_, list);
  rd_kafka_topic_partition_list_destroy(list);
}

int32_t KafkaConsumer::partition_count() {
  if (partitions_ > 0) return partitions_;
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, options_.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      topic ? rd_kafka_metadata(rk_, 0, topic, &md, 30'000) : rd_kafka_last_error();
  if (!err && md->topic_cnt == 1 && !md->topics[0].err)
    partitions_ = md->topics[0].partition_cnt;
  else if (!err)
    err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
  if (md) rd_kafka_metadata_destroy(md);
  if (topic) rd_kafka_topic_destroy(topic);
  if (err || partitions_ <= 0)
    throw InputError(fmt::format("kafka: {}: cannot ask how many partitions it has: {}",
                                 options_.topic, rd_kafka_err2str(err)));
  return partitions_;
}

void KafkaConsumer::throw_if_failed() {
  if (thrown_) std::rethrow_exception(std::exchange(thrown_, nullptr));
  if (failure_.empty()) return;
  std::string message = std::move(failure_);
  failure_.clear();
  throw InputError(message);
}

void KafkaConsumer::on_rebalance(rd_kafka_t*, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  static_cast<KafkaConsumer*>(opaque)->rebalance(err, partitions);
}

void KafkaConsumer::rebalance(rd_kafka_resp_err_t err,
                              rd_kafka_topic_partition_list_t* partitions) {
  // No exception may cross librdkafka's C frames: a failure is kept and thrown after the poll.
  bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk_), "COOPERATIVE") == 0;
  std::vector<int32_t> numbers = partition_numbers(partitions);
  try {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      // A partition a saved state covers starts where that state ends.
      for (int i = 0; i < partitions->cnt; ++i) {
        auto saved = options_.start_offsets.find(partitions->elems[i].partition);
        if (saved != options_.start_offsets.end()) partitions->elems[i].offset = saved->second;
      }
      if (callbacks_.starts && !numbers.empty()) {
        std::map<int32_t, int64_t> starts = callbacks_.starts(numbers, partition_count());
        for (int i = 0; i < partitions->cnt; ++i) {
          auto at = starts.find(partitions->elems[i].partition);
          if (at != starts.end()) partitions->elems[i].offset = at->second;
        }
      }
      rd_kafka_error_t* error = nullptr;
      if (cooperative)
        error = rd_kafka_incremental_assign(rk_, partitions);
      else if (rd_kafka_resp_err_t e = rd_kafka_assign(rk_, partitions))
        error = rd_kafka_error_new(e, "%s", rd_kafka_err2str(e));
      if (error) {
        failure_ = fmt::format("kafka: cannot take partitions of {}: {}", options_.topic,
                               rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return;
      }
      joined_ = true;
      ever_assigned_ = ever_assigned_ || !numbers.empty();
      if (callbacks_.assigned) callbacks_.assigned(numbers);
    } else {
      // The partitions are let go of whatever the callback says: the group waits for it.
      try {
        if (callbacks_.revoked) callbacks_.revoked(numbers);
      } catch (const std::exception& e) {
        failure_ = e.what();
      } catch (...) {
        thrown_ = std::current_exception();
      }
      if (cooperative) {
        if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk_, partitions))
          rd_kafka_error_destroy(error);  // the group has moved on: nothing left to do here
      } else {
        rd_kafka_assign(rk_, nullptr);
      }
    }
  } catch (const std::exception& e) {
    failure_ = e.what();
  } catch (...) {
    thrown_ = std::current_exception();
  }
}

void KafkaConsumer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaConsumer*>(opaque);
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(rk, fatal, sizeof fatal);
    self->failure_ = fmt::format("kafka: fatal error: {}", fatal);
  } else if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && !self->ever_assigned_) {
    // Before any partition was assigned, no broker is a wrong address or a cluster that is
    // down: waiting for ever would look like an idle topic.
    self->failure_ =
        fmt::format("kafka: cannot reach the brokers {}: {}", self->options_.brokers, reason);
  } else if (self->options_.log) {
    self->options_.log(fmt::format("kafka: {}", reason));
  }
}

void KafkaConsumer::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* buf) {
  auto* self = static_cast<KafkaConsumer*>(rd_kafka_opaque(rk));
  if (self && self->options_.log && level <= 5)
    self->options_.log(fmt::format("kafka: {}: {}", facility, buf));
}

}  // namespace exfilscan::detail
