// The profiles topic's producer: one message a key's profile, keyed by the key; one a
// partition's end of the hour, keyed by the partition's number.
#include <exfilscan/input/kafka.h>
#include <exfilscan/input/profile_producer.h>

#include "input/kafka_producer.h"

#include <librdkafka/rdkafka.h>

#include <fmt/format.h>

#include <stdexcept>

namespace exfilscan {

struct ProfileProducer::Impl {
  ~Impl() {
    if (producer) rd_kafka_destroy(producer);
  }
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (m->err) self->failed(rd_kafka_err2str(m->err));
  }
  void failed(std::string why) {
    if (!failure.empty()) return;
    failure = std::move(why);
    if (options.on_failure) options.on_failure(failure);
  }
  void produce(std::string_view key, const std::string& value) {
    if (!failure.empty()) return;
    // (producev returns its error: rd_kafka_last_error() is the legacy produce()'s.)
    while (rd_kafka_resp_err_t err =
               rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(options.topic.c_str()),
                                 RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        failed(rd_kafka_err2str(err));
        return;
      }
      rd_kafka_poll(producer, 100);  // wait for acknowledgements to make room
    }
    ++produced;
  }

  ProfileProducerOptions options;
  rd_kafka_t* producer = nullptr;
  std::string failure;
  uint64_t produced = 0;
  std::set<int32_t> held;
  int32_t partitions = 0;
  std::map<int32_t, int64_t> positions;
};

ProfileProducer::ProfileProducer(ProfileProducerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& k = *impl_;
  k.options = std::move(options);
  k.producer = detail::new_keyed_producer(k.options.brokers, k.options.config, Impl::on_delivery,
                                          impl_.get(), "--profiles-topic " + k.options.topic);
}

ProfileProducer::~ProfileProducer() = default;

void ProfileProducer::holding(const std::set<int32_t>& held, int32_t partitions) {
  impl_->held = held;
  impl_->partitions = partitions;
  for (auto it = impl_->positions.begin(); it != impl_->positions.end();)
    it = held.contains(it->first) ? std::next(it) : impl_->positions.erase(it);
}

void ProfileProducer::positions(const std::map<int32_t, int64_t>& positions) {
  for (auto [p, offset] : positions)
    if (impl_->held.contains(p) && offset >= 0) impl_->positions[p] = offset;
}

void ProfileProducer::publish(int64_t at, std::vector<KeyProfile>&& keys, int64_t start_ns) {
  Impl& k = *impl_;
  if (k.partitions <= 0) return;  // nothing assigned yet
  ProfileMessage m;
  m.rules_fingerprint = k.options.rules_fingerprint;
  m.hour_ns = at;
  for (KeyProfile& p : keys) {
    m.partition = kafka_partition(p.key, k.partitions);
    if (!k.held.contains(m.partition)) continue;  // (a key read before a revocation)
    m.profile = std::move(p);
    k.produce(m.profile.key, encode_profile_message(m));
  }
  m.kind = ProfileMessage::Kind::hour_end;
  m.profile = KeyProfile{};
  m.start_ns = start_ns;
  for (int32_t p : k.held) {
    m.partition = p;
    // A partition that gave no record yet goes on from its start: every record is after.
    auto at_offset = k.positions.find(p);
    m.offset = at_offset != k.positions.end() ? at_offset->second : 0;
    k.produce(fmt::format("{}", p), encode_profile_message(m));
  }
  rd_kafka_poll(k.producer, 0);
}

std::string ProfileProducer::flush() {
  Impl& k = *impl_;
  if (!k.failure.empty()) return k.failure;
  rd_kafka_resp_err_t err = rd_kafka_flush(k.producer, k.options.flush_timeout_ms);
  if (!k.failure.empty()) return k.failure;
  if (err)
    k.failed(fmt::format("not every profile was acknowledged in {} s: {}",
                         k.options.flush_timeout_ms / 1000, rd_kafka_err2str(err)));
  return k.failure;
}

uint64_t ProfileProducer::produced() const {
  return impl_->produced;
}

}  // namespace exfilscan
