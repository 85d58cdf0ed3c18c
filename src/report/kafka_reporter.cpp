// The JSON-lines report produced to a Kafka topic: the JSON-lines reporter writes into memory,
// and each of its rows becomes one message.
#include <exfilscan/report/kafka_reporter.h>

#include "input/kafka_producer.h"

#include <librdkafka/rdkafka.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace exfilscan {

struct KafkaReporter::Impl {
  ~Impl() {
    if (producer) rd_kafka_destroy(producer);
    if (memory) std::fclose(memory);
    std::free(buffer);
  }
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (m->err && self->delivery_error.empty()) self->delivery_error = rd_kafka_err2str(m->err);
  }

  rd_kafka_t* producer = nullptr;
  std::string topic;
  int flush_timeout_ms = 0;
  std::string delivery_error;  // the first row the brokers refused
  // What the JSON-lines reporter writes, and how much of it was produced.
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* memory = nullptr;
  size_t produced = 0;
  std::unique_ptr<Reporter> jsonl;
};

KafkaReporter::KafkaReporter(ReportOptions options, KafkaReporterOptions kafka)
    : Reporter(options, nullptr), impl_(std::make_unique<Impl>()) {
  Impl& k = *impl_;
  k.topic = kafka.topic;
  k.flush_timeout_ms = kafka.flush_timeout_ms;
  k.producer = detail::new_keyed_producer(kafka.brokers, kafka.config, Impl::on_delivery,
                                          impl_.get(), "--findings-topic " + kafka.topic);
  k.memory = open_memstream(&k.buffer, &k.size);
  if (!k.memory) throw std::runtime_error("--findings-topic: out of memory");
  k.jsonl = make_reporter(ReportFormat::jsonl, options, k.memory);
}

KafkaReporter::~KafkaReporter() = default;

void KafkaReporter::on_finding(const Finding& finding) {
  if (failed_) return;
  impl_->jsonl->on_finding(finding);
  produce_rows({finding.key});
}

void KafkaReporter::finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) {
  if (failed_) return;
  impl_->jsonl->finish(ranking, totals);
  std::vector<std::string_view> keys;
  for (const AccountSummary& a : ranking) keys.push_back(a.key);
  produce_rows(keys);
  if (failed_) return;
  rd_kafka_resp_err_t err = rd_kafka_flush(impl_->producer, impl_->flush_timeout_ms);
  if (!impl_->delivery_error.empty())
    failed_with(impl_->delivery_error);
  else if (err)
    failed_with(fmt::format("not every row was acknowledged in {} s: {}",
                            impl_->flush_timeout_ms / 1000, rd_kafka_err2str(err)));
}

void KafkaReporter::produce_rows(const std::vector<std::string_view>& keys) {
  Impl& k = *impl_;
  if (std::fflush(k.memory) != 0) return failed_with("out of memory");
  std::string_view text(k.buffer + k.produced, k.size - k.produced);
  size_t row = 0;
  while (!text.empty() && !failed_) {
    size_t end = text.find('\n');
    if (end == std::string_view::npos) break;  // (the reporter writes whole rows)
    std::string_view line = text.substr(0, end);
    std::string_view key = row < keys.size() ? keys[row] : std::string_view();
    ++row;
    // (producev returns its error: rd_kafka_last_error() is the legacy produce()'s.)
    while (rd_kafka_resp_err_t err =
               rd_kafka_producev(k.producer, RD_KAFKA_V_TOPIC(k.topic.c_str()),
                                 RD_KAFKA_V_KEY(key.data(), key.size()),
                                 RD_KAFKA_V_VALUE(const_cast<char*>(line.data()), line.size()),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) {
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return failed_with(rd_kafka_err2str(err));
      rd_kafka_poll(k.producer, 100);  // wait for acknowledgements to make room
    }
    k.produced += end + 1;
    text.remove_prefix(end + 1);
  }
  rd_kafka_poll(k.producer, 0);
  if (!k.delivery_error.empty()) failed_with(k.delivery_error);
}

void KafkaReporter::failed_with(std::string why) {
  if (failure_.empty()) failure_ = std::move(why);
  errno = EIO;
  fail();
}

}  // namespace exfilscan
