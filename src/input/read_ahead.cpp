/// The read-ahead thread: a stream's next chunk is cut while the caller parses the last one.
#include "input/read_ahead.h"

#include <array>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

namespace exfilscan::detail {

namespace {

/// Runs a stream on its own thread, one chunk ahead: while the caller parses a chunk, the next
/// is read (or inflated) into the stream's other buffer. Chunks, errors and their order are the
/// stream's. (Copying each chunk into buffers of its own would cost a gigabyte of copying per
/// gigabyte read, and a third buffer.)
class ReadAheadChunker final : public ChunkSource {
 public:
  explicit ReadAheadChunker(std::unique_ptr<StreamChunker> inner)
      : inner_((inner->keep_previous_chunk(), std::move(inner))),
        compression_(inner_->compression()),
        size_hint_(inner_->size_hint()),
        thread_([this] { run(); }) {}
  ~ReadAheadChunker() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  Compression compression() const override { return compression_; }
  uint64_t size_hint() const override { return size_hint_; }
  uint64_t bytes_consumed() const override { return consumed_; }

  bool next(Chunk& chunk) override {
    std::unique_lock lock(mutex_);
    if (handed_) {  // the caller is done with the chunk handed out last
      handed_->full = false;
      handed_ = nullptr;
      changed_.notify_all();
    }
    Slot& slot = slots_[reading_];
    changed_.wait(lock, [&] { return slot.full || done_; });
    if (!slot.full) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    handed_ = &slot;
    reading_ ^= 1;
    chunk = slot.chunk;
    consumed_ = slot.consumed;
    return true;
  }

 private:
  // A slot is filled (the stream's next chunk) only once the caller gave back the chunk before
  // it, two calls earlier: the stream keeps a chunk valid that long, so the caller's chunk is
  // never the buffer being filled.
  struct Slot {
    Chunk chunk;
    uint64_t consumed = 0;
    bool full = false;
  };

  void run() {
    size_t filling = 0;
    try {
      for (;;) {
        Slot& slot = slots_[filling];
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return !slot.full || stop_; });
          if (stop_) break;
        }
        // The slot is the thread's own until it is marked full.
        if (!inner_->next(slot.chunk)) break;
        slot.consumed = inner_->bytes_consumed();
        {
          std::lock_guard lock(mutex_);
          slot.full = true;
        }
        changed_.notify_all();
        filling ^= 1;
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
  }

  std::unique_ptr<StreamChunker> inner_;
  Compression compression_;
  uint64_t size_hint_;
  std::array<Slot, 2> slots_;
  size_t reading_ = 0;      // the slot the caller takes next
  Slot* handed_ = nullptr;  // the slot the caller holds
  uint64_t consumed_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace

std::unique_ptr<ChunkSource> read_ahead(std::unique_ptr<StreamChunker> stream) {
  return std::make_unique<ReadAheadChunker>(std::move(stream));
}

}  // namespace exfilscan::detail
