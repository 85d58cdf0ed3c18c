// Where scan's events come from: the files (read_inputs_parallel), or a Kafka topic read as a
// member of a consumer group until the end of a replay or a SIGINT / SIGTERM.
#include "cli/scan_input.h"

#include "cli/commands.h"

#include <exfilscan/input/pipeline.h>
#include <exfilscan/state.h>
#ifdef EXFILSCAN_KAFKA
#include <exfilscan/report/kafka_reporter.h>
#endif

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

/// Starts a --kafka state's payload; a file scan's starts with the event-time clock.
constexpr std::string_view kafka_state_tag = "exfilscan-kafka-offsets";

/// -v: each partition's position and lag, and the messages a second since the last report.
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

bool is_kafka_state(std::string_view payload) {
  try {
    StateReader in(payload);
    return in.str() == kafka_state_tag;
  } catch (const StateError&) {
    return false;  // a file scan's clock, read as a string's length
  }
}

/// A --kafka state's topic and offsets; returns the engine's part.
std::string read_kafka_state(const std::string& payload, std::string& topic,
                             std::map<int32_t, int64_t>& offsets) {
  StateReader in(payload);
  in.str();  // the tag
  topic = in.str();
  size_t n = in.count(1u << 20);
  for (size_t i = 0; i < n; ++i) {
    auto partition = static_cast<int32_t>(in.u64());
    offsets[partition] = in.i64();
  }
  return in.str();
}

}  // namespace

std::string engine_state_of(const std::string& payload) {
  if (is_partition_state(payload)) return partition_engine_state(payload);
  if (!is_kafka_state(payload)) return payload;
  std::string topic;
  std::map<int32_t, int64_t> offsets;
  return read_kafka_state(payload, topic, offsets);
}

ScanInput::~ScanInput() = default;

void ScanInput::prepare() {
  if (config_.profiles_topic.empty()) return;
  if (config_.command == Command::campaigns) {
    stage_ = std::make_unique<ClusterStage>(config_);
    stage_->read_profiles();
  } else {
    profiles_ = std::make_unique<ProfilePublishing>(config_);
  }
}

EngineOptions ScanInput::engine_options() const {
  EngineOptions options = config_.engine;
  if (profiles_) profiles_->configure(options);
  if (stage_) stage_->configure(options);
  return options;
}

std::vector<AccountSummary> ScanInput::ranking(std::vector<AccountSummary> engine_ranking) const {
  return stage_ ? stage_->ranking(std::move(engine_ranking)) : std::move(engine_ranking);
}

std::string ScanInput::engine_payload(const std::string& payload) {
  bool kafka_state = is_kafka_state(payload);
  if (!config_.kafka) {
    if (kafka_state)
      throw StateError(fmt::format(
          "{}: the state of a scan --kafka, which a scan of files cannot go on from (--state-reset "
          "starts over)",
          config_.state));
    return payload;
  }
  if (!kafka_state)
    throw StateError(fmt::format(
        "{}: the state of a scan of files, which scan --kafka cannot go on from (--state-reset "
        "starts over)",
        config_.state));
  std::string topic;
  std::string engine = read_kafka_state(payload, topic, offsets_);
  if (topic != config_.kafka->topic)
    throw StateError(fmt::format("{}: the state of topic {}, not {} (--state-reset starts over)",
                                 config_.state, topic, config_.kafka->topic));
  return engine;
}

std::string ScanInput::state_payload(const std::string& engine_bytes) const {
  if (!config_.kafka) return engine_bytes;
  StateWriter out;
  out.str(kafka_state_tag);
  out.str(config_.kafka->topic);
  out.u64(offsets_.size());
  for (auto [partition, offset] : offsets_) {
    out.u64(static_cast<uint64_t>(partition));
    out.i64(offset);
  }
  out.str(engine_bytes);
  return out.data();
}

FindingSink& ScanInput::findings(FindingSink& next) {
  if (config_.state_dir.empty()) return next;
  if (!partitions_) partitions_ = std::make_unique<PartitionStates>(config_, next);
  return *partitions_;
}

ReadResult ScanInput::read(const std::vector<std::string>& paths, const ReaderOptions& reader,
                           EventOrder& sink, BadLineLog& bad_lines, DetectionEngine& engine) {
  if (!config_.kafka) return read_inputs_parallel(paths, reader, sink, bad_lines, config_.threads);
  KafkaOptions options = *config_.kafka;
  // A stream has no end of its own: a signal ends the run as the end of a file would, the
  // report written and the totals told. The handlers stay afterwards: a second signal
  // (timeout(1) passes its own on to the process group) must not cut the report short.
  stop_requested.store(false);
  std::signal(SIGINT, request_stop);
  std::signal(SIGTERM, request_stop);
  options.stop = &stop_requested;
  if (config_.verbose) {
    options.progress = KafkaProgressLog();
    options.log = [](const std::string& line) { spdlog::info("{}", line); };
  }
  if (!config_.state.empty()) {
    options.start_offsets = offsets_;
    options.keep_partitions = true;
  }
  if (partitions_) {
    partitions_->attach(engine, sink);
    options.hooks = partitions_->hooks([this](const std::map<int32_t, int64_t>& offsets,
                                              bool wait) { kafka_->commit(offsets, wait); });
  }
  if (profiles_) options.hooks = profiles_->hooks(std::move(options.hooks));
  if (stage_) stage_->configure(options);
  ReadResult result;
  try {
    kafka_ = std::make_unique<KafkaInput>(std::move(options));
    result = kafka_->read(reader, sink, bad_lines);
    // The profiles before the state that covers them: one not delivered leaves the state (and
    // the offsets) as they were, exit 2.
    if (profiles_ && !profiles_->flush())
      throw InputError(fmt::format("--profiles-topic {}: not every profile was produced",
                                   config_.profiles_topic));
    for (auto [partition, offset] : kafka_->positions()) offsets_[partition] = offset;
    // The last checkpoint: what was read to the end (or until a signal) is kept. A --strict
    // stop leaves the one before it, as --state does.
    if (partitions_ && !result.stopped) partitions_->save_all(kafka_->positions());
    if (partitions_) partitions_->detach();
  } catch (const InputError& e) {
    if (partitions_) partitions_->detach();
    // Like an input that could not be read to its end: reported, and the state left as it was.
    result.failure = ReadFailure::input_error;
    result.error = e.what();
    result.input_errors.push_back(e.what());
    result.inputs_unread = 1;
    if (reader.input_failed) reader.input_failed(e.what());
  }
  if (stage_ && kafka_ && config_.verbose)
    spdlog::info("campaigns: {} records of keys in no cluster passed over, unparsed",
                 kafka_->passed_over());
  if (partitions_ && config_.verbose && partitions_->replays_dropped())
    spdlog::info(
        "state: {} findings fired again by the replay after a restart were written "
        "before it, and not again",
        partitions_->replays_dropped());
  return result;
}

void ScanInput::state_saved() {
  if (!kafka_) return;
  try {
    kafka_->commit(offsets_);
    if (config_.verbose) spdlog::info("kafka: committed the offsets the state covers");
  } catch (const InputError& e) {
    note("exfilscan: {} (the state holds them: the next run starts there)\n", e.what());
  }
}

std::unique_ptr<Reporter> ScanInput::findings_producer() {
#ifdef EXFILSCAN_KAFKA
  if (config_.findings_topic.empty()) return nullptr;
  auto reporter = std::make_unique<KafkaReporter>(
      config_.report,
      KafkaReporterOptions{config_.kafka->brokers, config_.findings_topic, config_.kafka->config});
  findings_topic_ = reporter.get();
  return reporter;
#else
  return nullptr;  // --findings-topic needs --kafka, which such a build refuses
#endif
}

bool ScanInput::findings_produced() {
  if (profiles_ && !profiles_->flush()) return false;
#ifdef EXFILSCAN_KAFKA
  if (!findings_topic_ || !findings_topic_->failed()) return true;
  note("exfilscan: --findings-topic {}: {}\n", config_.findings_topic,
       static_cast<const KafkaReporter*>(findings_topic_)->failure());
  return false;
#else
  return true;
#endif
}

}  // namespace exfilscan::cli
