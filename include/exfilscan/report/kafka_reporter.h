#pragma once
/// The JSON-lines report (docs/output.md) produced to a Kafka topic: one row a message, findings
/// as they fire and account rows keyed by their key, the run row last with no key.

#include <exfilscan/report/report.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace exfilscan {

struct KafkaReporterOptions {
  std::string brokers;
  std::string topic;
  /// librdkafka properties (--kafka-config); the consumer's own are ignored by the producer.
  std::vector<std::pair<std::string, std::string>> config;
  /// How long the end of the run waits for every row to be acknowledged.
  int flush_timeout_ms = 60'000;
};

class KafkaReporter final : public Reporter {
 public:
  /// Creates an idempotent producer (retries never write a row twice). Throws
  /// std::runtime_error for a property librdkafka refuses.
  KafkaReporter(ReportOptions options, KafkaReporterOptions kafka);
  ~KafkaReporter() override;
  void on_finding(const Finding& finding) override;
  /// Produces the ranking and the run row, then waits for every row to be acknowledged.
  void finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) override;
  /// Why it failed (the first row the brokers refused or could not take); empty while it has not.
  const std::string& failure() const { return failure_; }

 protected:
  void write_finding(const Finding&) override {}

 private:
  struct Impl;
  /// Produces the rows the JSON-lines reporter wrote since the last call, the first `keys`
  /// of them keyed by those keys.
  void produce_rows(const std::vector<std::string_view>& keys);
  void failed_with(std::string why);
  std::unique_ptr<Impl> impl_;
  std::string failure_;
};

}  // namespace exfilscan
