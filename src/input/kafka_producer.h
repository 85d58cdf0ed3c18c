#pragma once
/// Internal: the producer exfilscan writes to Kafka with (findings, key profiles).

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

namespace exfilscan::detail {

/// An idempotent producer (a retried batch is never written twice, rows keep their order within
/// a partition) that places a key as the records' producers place the account (murmur2), with
/// the user's librdkafka properties; `on_delivery` gets `opaque`. Throws std::runtime_error
/// "WHAT: librdkafka's reason" for a property it refuses or a producer it cannot make.
rd_kafka_t* new_keyed_producer(const std::string& brokers,
                               const std::vector<std::pair<std::string, std::string>>& config,
                               void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*),
                               void* opaque, const std::string& what);

}  // namespace exfilscan::detail
