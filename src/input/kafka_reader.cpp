// Kafka as an input: each assigned partition is parsed on its own parser, one record ahead, and
// the partitions' heads are merged in event-time order into batches for the sink.
#include <exfilscan/input/kafka.h>
#include <exfilscan/input/pipeline.h>

#include "input/kafka_consumer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <utility>

namespace exfilscan {

namespace {

using steady = std::chrono::steady_clock;

/// Keeps the last event the reader pushed: it stays valid until that reader's next line.
struct HeadSink : EventSink {
  const Event* event = nullptr;
  void on_event(const Event& e) override { event = &e; }
};

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

/// One assigned partition: the messages taken and not yet merged, and the next event.
struct PartitionStream {
  PartitionStream(int32_t p, const ReaderOptions& reader)
      : partition(p),
        parser(reader.parser, reader.input.max_line_bytes, reader.bad_lines.show_values) {}

  int32_t partition;
  ChunkReader parser;
  std::deque<Message> pending;
  std::string value;  // the message being read, then chunk_padding bytes
  size_t value_size = 0;
  size_t cursor = 0;  // its next line
  uint64_t line_no = 0;
  int64_t offset = -1;   // of the message being read
  int64_t read_to = -1;  // after it (progress.next_offset is after the last one taken)
  HeadSink head;         // its next event, if any
  int64_t end = -1;      // until_end: where it stops
  bool at_end = false;   // until_end: every message before `end` was taken
  bool caught_up = false;
  bool paused = false;
  steady::time_point last_message = steady::now();
  KafkaPartitionProgress progress;
};

}  // namespace

struct KafkaInput::Impl {
  explicit Impl(KafkaOptions o) : options_(std::move(o)) {
    detail::KafkaConsumer::Callbacks callbacks{
        nullptr, [this](const std::vector<int32_t>& p) { assigned(p); },
        [this](const std::vector<int32_t>& p) { revoked(p); }};
    if (options_.hooks.assigned)
      callbacks.starts = [this](const std::vector<int32_t>& p, int32_t count) {
        return reading_ ? options_.hooks.assigned(p, count) : std::map<int32_t, int64_t>{};
      };
    consumer_ = std::make_unique<detail::KafkaConsumer>(options_, std::move(callbacks));
  }

  ReadResult read(const ReaderOptions& reader, EventSink& sink, BadLineLog& bad_lines) {
    reader_ = &reader;
    sink_ = &sink;
    bad_lines_ = &bad_lines;
    result_ = ReadResult{};
    draining_ = false;
    reading_ = true;
    try {
      run();
    } catch (const InputError&) {
      reading_ = false;
      flush();  // what was merged was judged as far as it went
      throw;
    }
    reading_ = false;
    return std::move(result_);
  }

  void run() {
    detail::KafkaConsumer& consumer = *consumer_;
    auto last_progress = steady::now();
    while (!stopping()) {
      take(consumer.poll(ready() ? 0 : 100));
      for (int i = 0; i < 1000 && !stopping(); ++i) {
        rd_kafka_message_t* m = consumer.poll(0);
        if (!m) break;
        take(m);
      }
      while (!result_.stopped && ready()) merge_one();
      flush();
      if (result_.stopped) break;
      if (options_.until_end && consumer.ever_assigned() && done()) break;
      if (options_.progress && steady::now() - last_progress >= options_.progress_every) {
        last_progress = steady::now();
        tell_progress();
      }
    }
    // Stopped by a signal: what was taken is the end of this input, merged in order.
    draining_ = !result_.stopped;
    while (!result_.stopped && ready()) merge_one();
    flush();
    if (options_.progress) tell_progress();
    if (options_.log && taken_) {
      double seconds = std::chrono::duration<double>(steady::now() - first_taken_).count();
      options_.log(fmt::format("kafka: {} messages in {:.3f} s from the first ({:.0f}/s)", taken_,
                               seconds, seconds > 0 ? static_cast<double>(taken_) / seconds : 0));
    }
  }

  /// A partition's message whose next record is not merged yet is read again by the next run.
  std::map<int32_t, int64_t> positions() const {
    std::map<int32_t, int64_t> out;
    for (const auto& [p, s] : streams_)
      if (s->progress.messages) out[p] = s->head.event ? s->offset : s->read_to;
    return out;
  }

  void commit(const std::map<int32_t, int64_t>& offsets, bool wait) {
    consumer_->commit(offsets, wait);
  }

  bool stopping() const { return options_.stop && options_.stop->load(); }

  void assigned(const std::vector<int32_t>& partitions) {
    for (int32_t p : partitions) {
      auto stream = std::make_unique<PartitionStream>(p, *reader_);
      stream->progress.partition = p;
      if (options_.until_end) stream->end = consumer_->end_offset(p);
      streams_[p] = std::move(stream);
      ++result_.stats.inputs;
    }
    if (options_.log) options_.log(fmt::format("kafka: assigned {}", describe(partitions)));
    if (reading_ && options_.whole_topic) {
      int32_t count = consumer_->partition_count();
      if (std::cmp_less(streams_.size(), count)) {
        throw InputError(fmt::format(
            "kafka: group {} gave this member {} of the {} partitions of {}: another member of "
            "the group reads the others, and the stage must read them all: give it a group of "
            "its own (docs/scale-out.md)",
            options_.group, streams_.size(), count, options_.topic));
      }
    }
  }

  void revoked(const std::vector<int32_t>& partitions) {
    // --state-dir: each partition's state is saved while its events are all delivered, and
    // before another member may read it.
    if (reading_ && options_.hooks.revoked && !partitions.empty()) {
      std::map<int32_t, int64_t> all = positions(), gone;
      for (int32_t p : partitions) gone[p] = all.contains(p) ? all[p] : -1;
      options_.hooks.revoked(gone);
    }
    for (int32_t p : partitions) streams_.erase(p);
    if (options_.log) options_.log(fmt::format("kafka: revoked {}", describe(partitions)));
    if (reading_ && options_.whole_topic && !partitions.empty())
      throw InputError(fmt::format(
          "kafka: {} moved to another member of group {}: the stage must read every partition: "
          "give it a group of its own (docs/scale-out.md)",
          describe(partitions), options_.group));
    if (reading_ && options_.keep_partitions && !partitions.empty())
      throw InputError(fmt::format(
          "kafka: {} moved to another member of group {}: --state keeps one member's accounts, "
          "so a group read with --state has one member (docs/scale-out.md)",
          describe(partitions), options_.group));
  }

  std::string describe(const std::vector<int32_t>& partitions) const {
    std::string out = options_.topic;
    out += " partitions";
    for (int32_t p : partitions) out += fmt::format(" {}", p);
    return partitions.empty() ? options_.topic + ": none" : out;
  }

  void take(rd_kafka_message_t* raw) {
    if (!raw) return;
    Message m(raw);
    auto it = streams_.find(m->partition);
    if (it == streams_.end()) return;  // revoked since it was fetched
    PartitionStream& s = *it->second;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      s.caught_up = true;
      if (s.end >= 0 && m->offset >= s.end) s.at_end = true;
      return;
    }
    s.caught_up = false;
    s.last_message = steady::now();
    if (taken_++ == 0) first_taken_ = s.last_message;
    if (options_.until_end && m->offset >= s.end) {  // produced after the replay began
      reach_end(s);
      return;
    }
    if (options_.until_end && m->offset + 1 >= s.end) reach_end(s);
    if (options_.on_message) {
      s.progress.next_offset = s.read_to = m->offset + 1;
      ++s.progress.messages;
      options_.on_message(
          m->partition, m->offset,
          std::string_view(static_cast<const char*>(m->key), m->key ? m->key_len : 0),
          std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0));
      return;
    }
    if (options_.accept && !options_.accept(m->partition, m->offset,
                                            std::string_view(static_cast<const char*>(m->key),
                                                             m->key ? m->key_len : 0))) {
      // Not a cluster member's: its bytes were fetched, and that is all it costs.
      ++passed_over_;
      s.progress.next_offset = m->offset + 1;
      if (!s.head.event && s.pending.empty()) s.read_to = m->offset + 1;
      return;
    }
    // Taken: what -v's lag counts from (a merge waiting for a slower partition parses later).
    s.progress.next_offset = m->offset + 1;
    s.pending.push_back(std::move(m));
    if (!s.paused && s.pending.size() >= options_.max_pending_per_partition) {
      consumer_->pause(s.partition);
      s.paused = true;
    }
    if (!s.head.event) advance(s);
  }

  void reach_end(PartitionStream& s) {
    if (s.at_end) return;
    s.at_end = true;
    if (!s.paused) consumer_->pause(s.partition);
    s.paused = true;
  }

  /// Parses the partition's next record into its head; none when nothing is pending.
  void advance(PartitionStream& s) {
    s.head.event = nullptr;
    while (!s.head.event) {
      if (s.cursor >= s.value_size && !next_message(s)) return;
      const char* begin = s.value.data() + s.cursor;
      const char* nl = static_cast<const char*>(std::memchr(begin, '\n', s.value_size - s.cursor));
      size_t length = nl ? static_cast<size_t>(nl - begin) : s.value_size - s.cursor;
      Chunk chunk;
      chunk.bytes = std::string_view(begin, length);
      chunk.offset = s.cursor;
      s.cursor += length + (nl ? 1 : 0);
      std::string name = fmt::format("{}/{}@{}", options_.topic, s.partition, s.offset);
      if (!s.parser.read(chunk, name, s.line_no, s.head, *bad_lines_, result_.stats)) {
        result_.failure = ReadFailure::strict_bad_line;
        result_.stopped = true;
        s.head.event = nullptr;
        return;
      }
    }
  }

  /// Moves to the partition's next pending message; false when there is none.
  bool next_message(PartitionStream& s) {
    if (s.pending.empty()) return false;
    Message m = std::move(s.pending.front());
    s.pending.pop_front();
    if (s.paused && !s.at_end && s.pending.size() <= options_.max_pending_per_partition / 2) {
      consumer_->resume(s.partition);
      s.paused = false;
    }
    s.value.assign(static_cast<const char*>(m->payload), m->len);
    s.value.append(chunk_padding, '\0');
    s.value_size = m->len;
    s.cursor = 0;
    s.line_no = 0;
    s.offset = m->offset;
    s.read_to = m->offset + 1;
    ++s.progress.messages;
    if (m->len == 0) {  // a record with no value: a blank line
      ++result_.stats.lines;
      ++result_.stats.blank_lines;
    }
    return true;
  }

  /// True when every partition that can still give events has its next one, so that the
  /// earliest of them is the earliest there will be.
  bool ready() {
    bool any = false;
    for (auto& [p, s] : streams_) {
      if (s->head.event) {
        any = true;
        continue;
      }
      if (draining_) continue;
      if (options_.until_end) {
        if (!s->at_end) return false;
        continue;
      }
      s->progress.idle = s->caught_up && steady::now() - s->last_message >= options_.idle_timeout;
      if (!s->progress.idle) return false;
    }
    return any;
  }

  bool done() const {
    for (const auto& [p, s] : streams_)
      if (!s->at_end || s->head.event || !s->pending.empty()) return false;
    return true;
  }

  void merge_one() {
    PartitionStream* first = nullptr;
    for (auto& [p, s] : streams_)  // in partition order: the lower partition wins a tie
      if (s->head.event &&
          (!first || s->head.event->timestamp_ns < first->head.event->timestamp_ns))
        first = s.get();
    // A checkpoint falls before the event, between batches, so that it covers exactly the
    // events delivered before: the partitions' positions are where each goes on.
    if (options_.hooks.due && options_.hooks.due(first->head.event->timestamp_ns)) {
      flush();
      options_.hooks.checkpoint(positions());
    }
    batch_.add(*first->head.event);
    first->progress.idle = false;
    advance(*first);
    if (batch_.size() >= options_.batch_events) flush();
  }

  void flush() {
    if (batch_.size() == 0) return;
    std::span<const Event> run = batch_.events();
    sink_->on_events({&run, 1});
    batch_.clear();
  }

  void tell_progress() {
    std::vector<KafkaPartitionProgress> all;
    for (auto& [p, s] : streams_) {
      s->progress.end_offset = consumer_->cached_end_offset(p);
      all.push_back(s->progress);
    }
    options_.progress(all);
  }

  KafkaOptions options_;
  const ReaderOptions* reader_ = nullptr;
  EventSink* sink_ = nullptr;
  BadLineLog* bad_lines_ = nullptr;
  std::map<int32_t, std::unique_ptr<PartitionStream>> streams_;
  EventBatch batch_;
  ReadResult result_;
  bool draining_ = false;  // the run is ending: every partition's events are merged
  bool reading_ = false;
  uint64_t passed_over_ = 0;  // by `accept`
  uint64_t taken_ = 0;        // messages, for the throughput -v tells
  steady::time_point first_taken_;
  // Last: it leaves the group (revoking, so calling back into the streams) before they go.
  std::unique_ptr<detail::KafkaConsumer> consumer_;
};

KafkaInput::KafkaInput(KafkaOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
KafkaInput::~KafkaInput() = default;

ReadResult KafkaInput::read(const ReaderOptions& reader, EventSink& sink, BadLineLog& bad_lines) {
  return impl_->read(reader, sink, bad_lines);
}

std::map<int32_t, int64_t> KafkaInput::positions() const {
  return impl_->positions();
}

uint64_t KafkaInput::passed_over() const {
  return impl_->passed_over_;
}

void KafkaInput::commit(const std::map<int32_t, int64_t>& offsets, bool wait) {
  impl_->commit(offsets, wait);
}

ReadResult read_kafka(const KafkaOptions& options, const ReaderOptions& reader, EventSink& sink,
                      BadLineLog& bad_lines) {
  return KafkaInput(options).read(reader, sink, bad_lines);
}

}  // namespace exfilscan
