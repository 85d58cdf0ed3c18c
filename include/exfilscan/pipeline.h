#pragma once
/// Parsing on several threads: each chunk of input is cut into pieces at line ends, the pieces
/// are parsed at once into batches of owned events, and the sink gets them in input order (bad
/// lines numbered and reported in order too), so the result is the same as reading on one thread.

#include <exfilscan/reader.h>

namespace exfilscan {

/// Events that own their strings: a batch is filled by a parsing thread and handed over.
class EventBatch {
 public:
  /// Copies the event; its views then point into the batch.
  void add(const Event& event);
  size_t size() const { return used_; }
  const Event& operator[](size_t i) const { return events_[i]; }
  std::span<const Event> events() const { return {events_.data(), used_}; }
  /// Empties the batch, keeping its memory for the next fill.
  void clear();

 private:
  std::string_view keep(std::string_view s);
  std::vector<Event> events_;
  size_t used_ = 0;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<size_t> block_sizes_;
  size_t block_ = 0;  // the block being filled
  size_t offset_ = 0;
};

/// read_inputs with the pieces of each chunk parsed on `threads` threads (the caller's among
/// them); the sink is called on the caller's thread, a chunk's events at once. Same events,
/// same order, same bad-line reports and totals as one thread, strict mode included.
ReadResult read_inputs_parallel(const std::vector<std::string>& paths, const ReaderOptions& options,
                                EventSink& sink, BadLineLog& bad_lines, unsigned threads);

}  // namespace exfilscan
