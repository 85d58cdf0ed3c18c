#include "input/kafka_producer.h"

#include <fmt/format.h>

#include <stdexcept>

namespace exfilscan::detail {

rd_kafka_t* new_keyed_producer(const std::string& brokers,
                               const std::vector<std::pair<std::string, std::string>>& config,
                               void (*on_delivery)(rd_kafka_t*, const rd_kafka_message_t*, void*),
                               void* opaque, const std::string& what) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  auto set = [&](const std::string& name, const std::string& value) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(fmt::format("{}: {}", what, error));
    }
  };
  set("bootstrap.servers", brokers);
  set("client.id", "exfilscan");
  // The consumer's properties in a shared --kafka-config are notices here, not news.
  set("log_level", "3");
  for (const auto& [name, value] : config) set(name, value);
  set("enable.idempotence", "true");
  set("partitioner", "murmur2_random");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!producer) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(fmt::format("{}: {}", what, error));
  }
  return producer;
}

}  // namespace exfilscan::detail
