#include <exfilscan/pipeline.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace exfilscan {

namespace {
constexpr size_t block_bytes = 1u << 20;
constexpr size_t batch_events = 2048;
constexpr size_t queue_batches = 4;  // bounds memory: at most this many batches in flight
}  // namespace

std::string_view EventBatch::keep(std::string_view s) {
  if (s.empty()) return {};
  for (;;) {
    if (block_ == blocks_.size()) {
      size_t size = std::max(block_bytes, s.size());
      blocks_.push_back(std::make_unique<char[]>(size));
      block_sizes_.push_back(size);
      offset_ = 0;
    }
    if (block_sizes_[block_] - offset_ >= s.size()) break;
    ++block_;
    offset_ = 0;
  }
  char* at = blocks_[block_].get() + offset_;
  std::memcpy(at, s.data(), s.size());
  offset_ += s.size();
  return {at, s.size()};
}

// EventBatch::add copies Event field by field: a new field must be added there too. This
// fails to compile when Event's layout changes, as a reminder.
static_assert(sizeof(Event) == 480, "Event changed: update EventBatch::add");

void EventBatch::add(const Event& e) {
  if (used_ == events_.size()) events_.emplace_back();
  Event& out = events_[used_++];
  // Field by field rather than `out = e`: the prompt vector and the logit_bias string keep the
  // capacity of earlier batches, so a warm batch allocates nothing.
  out.timestamp_ns = e.timestamp_ns;
  out.request_id = keep(e.request_id);
  out.org = keep(e.org);
  out.project = keep(e.project);
  out.api_key = keep(e.api_key);
  out.end_user = keep(e.end_user);
  out.ip = keep(e.ip);
  out.user_agent = keep(e.user_agent);
  out.endpoint = keep(e.endpoint);
  out.endpoint_kind = e.endpoint_kind;
  out.model = keep(e.model);
  out.status = e.status;
  out.prompt_tokens = e.prompt_tokens;
  out.completion_tokens = e.completion_tokens;
  out.reasoning_tokens = e.reasoning_tokens;
  out.latency_ms = e.latency_ms;
  out.turns = e.turns;
  out.token_array_prompts = e.token_array_prompts;
  const RequestParams& p = e.params;
  RequestParams& q = out.params;
  q.n = p.n;
  q.temperature = p.temperature;
  q.top_p = p.top_p;
  q.max_tokens = p.max_tokens;
  q.logprobs = p.logprobs;
  q.top_logprobs = p.top_logprobs;
  q.logit_bias_entries = p.logit_bias_entries;
  q.logit_bias_hash = p.logit_bias_hash;
  q.logit_bias_json.assign(p.logit_bias_json);
  q.echo = p.echo;
  q.best_of = p.best_of;
  q.seed = p.seed;
  q.stream = p.stream;
  out.prompt.clear();
  for (const PromptPart& part : e.prompt) out.prompt.push_back({part.role, keep(part.text)});
}

void EventBatch::clear() {
  used_ = 0;
  block_ = 0;
  offset_ = 0;
}

namespace {

/// Batches handed from the parsing thread to the consuming one, in order, at most a few at once.
class BatchQueue {
 public:
  /// Blocks while the queue is full; false when the consumer has stopped.
  bool push(std::unique_ptr<EventBatch> b) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return full_.size() < queue_batches || stopped_; });
    if (stopped_) return false;
    full_.push_back(std::move(b));
    not_empty_.notify_one();
    return true;
  }
  /// Blocks until a batch or the end; nullptr at the end.
  std::unique_ptr<EventBatch> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !full_.empty() || done_; });
    if (full_.empty()) return nullptr;
    auto b = std::move(full_.front());
    full_.pop_front();
    not_full_.notify_one();
    return b;
  }
  /// A used batch back for reuse.
  void recycle(std::unique_ptr<EventBatch> b) {
    b->clear();
    std::lock_guard lock(mutex_);
    spare_.push_back(std::move(b));
  }
  std::unique_ptr<EventBatch> spare() {
    std::lock_guard lock(mutex_);
    if (spare_.empty()) return std::make_unique<EventBatch>();
    auto b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  void finish() {
    std::lock_guard lock(mutex_);
    done_ = true;
    not_empty_.notify_all();
  }
  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::unique_ptr<EventBatch>> full_, spare_;
  bool done_ = false, stopped_ = false;
};

struct Stopped {};  // the consumer went away: the parsing thread unwinds

class BatchingSink : public EventSink {
 public:
  explicit BatchingSink(BatchQueue& queue) : queue_(queue), batch_(queue.spare()) {}
  void on_event(const Event& e) override {
    batch_->add(e);
    if (batch_->size() >= batch_events) flush();
  }
  void flush() {
    if (batch_->size() == 0) return;
    if (!queue_.push(std::move(batch_))) throw Stopped{};
    batch_ = queue_.spare();
  }

 private:
  BatchQueue& queue_;
  std::unique_ptr<EventBatch> batch_;
};

}  // namespace

ReadResult read_inputs_parallel(const std::vector<std::string>& paths, const ReaderOptions& options,
                                EventSink& sink, BadLineLog& bad_lines, unsigned threads) {
  if (threads <= 1) return read_inputs(paths, options, sink, bad_lines);
  BatchQueue queue;
  ReadResult result;
  std::exception_ptr producer_error;
  std::thread producer([&] {
    try {
      BatchingSink batches(queue);
      result = read_inputs(paths, options, batches, bad_lines);
      batches.flush();
    } catch (const Stopped&) {
    } catch (...) {
      producer_error = std::current_exception();
    }
    queue.finish();
  });
  std::exception_ptr consumer_error;
  try {
    while (auto batch = queue.pop()) {
      sink.on_events(batch->events());
      queue.recycle(std::move(batch));
    }
  } catch (...) {
    consumer_error = std::current_exception();
    queue.stop();
    while (auto batch = queue.pop()) queue.recycle(std::move(batch));  // let the producer end
  }
  producer.join();
  if (consumer_error) std::rethrow_exception(consumer_error);
  if (producer_error) std::rethrow_exception(producer_error);
  return result;
}

}  // namespace exfilscan
