#pragma once
/// Parsing on several threads: each chunk of input is cut into pieces at line ends, the pieces
/// are parsed at once into batches of owned events, and the sink gets them in input order (bad
/// lines numbered and reported in order too), so the result is the same as reading on one thread.

#include <exfilscan/input/reader.h>

namespace exfilscan {

/// Events whose views outlive the parser's next line (copied into the batch, or long text left
/// in a chunk that outlives the batch's use): a batch is filled by a parsing thread and handed
/// over.
class EventBatch {
 public:
  /// Copies the event; its views then point into the batch, or, for long text that lies in
  /// `stable` (memory that outlives the batch's use: the chunk being parsed), stay there.
  void add(const Event& event, std::string_view stable = {});
  size_t size() const { return used_; }
  const Event& operator[](size_t i) const { return events_[i]; }
  std::span<const Event> events() const { return {events_.data(), used_}; }
  /// Empties the batch, keeping its memory for the next fill.
  void clear();

 private:
  /// Runs of items that never move once handed out, from blocks kept for the next fill.
  template <typename T>
  struct Blocks {
    T* take(size_t n);
    T* take_next(size_t n);  // when the block being filled has no room for n
    void clear() { block = used = 0; }
    std::vector<std::unique_ptr<T[]>> blocks;
    std::vector<size_t> sizes;
    size_t block = 0;  // the block being filled
    size_t used = 0;   // of it
  };
  std::string_view keep(std::string_view s, std::string_view stable);
  std::vector<Event> events_;
  size_t used_ = 0;
  Blocks<char> text_;
  // Every event's parts side by side: one vector per event made each copy a write to memory
  // scattered over the heap (a tenth of a two-thread scan's wall time).
  Blocks<PromptPart> parts_;
};

/// read_inputs with the pieces of each chunk parsed on `threads` threads (the caller's among
/// them); the sink is called on the caller's thread, a chunk's events at once. Same events,
/// same order, same bad-line reports and totals as one thread, strict mode included.
ReadResult read_inputs_parallel(const std::vector<std::string>& paths, const ReaderOptions& options,
                                EventSink& sink, BadLineLog& bad_lines, unsigned threads);

}  // namespace exfilscan
