// Where scan's events come from: the files (read_inputs_parallel), or a Kafka topic read as a
// member of a consumer group until the end of a replay or a SIGINT / SIGTERM.
#include "cli/commands.h"

#include <exfilscan/input/pipeline.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>

namespace exfilscan::cli {

namespace {

std::atomic<bool> stop_requested{false};

extern "C" void request_stop(int) {
  stop_requested.store(true);
}

#ifdef EXFILSCAN_KAFKA
/// -v: each partition's position and lag, and the events a second since the last report.
class KafkaProgressLog {
 public:
  void operator()(std::span<const KafkaPartitionProgress> partitions) {
    auto now = std::chrono::steady_clock::now();
    uint64_t messages = 0;
    for (const KafkaPartitionProgress& p : partitions) {
      messages += p.messages;
      std::string lag = p.end_offset >= 0 && p.next_offset >= 0
                            ? fmt::format(", lag {}", p.end_offset - p.next_offset)
                            : "";
      spdlog::info("kafka: partition {}: offset {} of {}{}, {} messages{}", p.partition,
                   p.next_offset, p.end_offset, lag, with_commas(p.messages),
                   p.idle ? ", idle" : "");
    }
    double seconds = std::chrono::duration<double>(now - last_).count();
    if (seconds > 0 && messages >= messages_)
      spdlog::info("kafka: {:.0f} messages/s", static_cast<double>(messages - messages_) / seconds);
    last_ = now;
    messages_ = messages;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  uint64_t messages_ = 0;
};
#endif

}  // namespace

ReadResult read_scan_input(const RunConfig& c, const ReaderOptions& reader, EventSink& sink,
                           BadLineLog& bad_lines) {
  if (!c.kafka) return read_inputs_parallel(c.inputs, reader, sink, bad_lines, c.threads);
#ifdef EXFILSCAN_KAFKA
  KafkaOptions options = *c.kafka;
  // A stream has no end of its own: a signal ends the run as the end of a file would, the
  // report written and the totals told.
  stop_requested.store(false);
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  options.stop = &stop_requested;
  if (c.verbose) {
    options.progress = KafkaProgressLog();
    options.log = [](const std::string& line) { spdlog::info("{}", line); };
  }
  ReadResult result;
  try {
    result = read_kafka(options, reader, sink, bad_lines);
  } catch (const InputError& e) {
    result.failure = ReadFailure::input_error;
    result.error = e.what();
    result.input_errors.push_back(e.what());
    result.inputs_unread = 1;
    if (reader.input_failed) reader.input_failed(e.what());
  }
  // The handlers stay: a second signal (timeout(1) passes its own on to the process group)
  // must not cut the report short.
  return result;
#else
  throw InputError("this exfilscan was built without Kafka");
#endif
}

}  // namespace exfilscan::cli
