#pragma once
/// The streaming reader: inputs in, events pushed to a sink, bad lines reported and counted.

#include <exfilscan/input/diagnostics.h>
#include <exfilscan/input/input.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/parse/line_parser.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace exfilscan {

/// Where reading is, for a progress display.
struct ReadProgress {
  std::string_view input;
  size_t input_index = 0;  // 0-based
  size_t inputs = 0;
  uint64_t input_bytes_read = 0;  // of the input as stored (compressed bytes for .gz/.zst)
  uint64_t input_size = 0;        // 0 when unknown (a pipe)
  uint64_t lines = 0;             // over all inputs so far
};

struct ReaderOptions {
  InputOptions input;
  ParserOptions parser;
  BadLineLogOptions bad_lines;
  /// Called after each chunk (a few MB) and when an input is opened; optional.
  std::function<void(const ReadProgress&)> progress;
  /// Called when an input is opened, with its compression; optional (for -v).
  std::function<void(std::string_view input, Compression compression, uint64_t size)> opened;
  /// Called with the message when an input cannot be read, or none of its lines is an event;
  /// reading goes on with the next input (unless bad_lines.strict). Optional.
  std::function<void(const std::string& message)> input_failed;
  /// The sink spreads its own work over threads (the sharded engine): a parallel reader then
  /// lets it have the cores in turn with parsing; otherwise the sink works on one thread while
  /// the next chunk is parsed on the others. Set by the code that builds the sink.
  bool sink_uses_threads = false;
  /// The sink wants each chunk's events at once, in on_events, their views valid during the
  /// call (the order stage holds a chunk's events while it puts ties in order): on one thread
  /// too, the chunk is parsed into batches first.
  bool chunk_runs = false;
};

struct ReadStats {
  uint64_t inputs = 0;
  uint64_t lines = 0;  // every line, blank and bad ones too
  uint64_t blank_lines = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;  // decompressed bytes read
};

/// `none` when every input was read to its end and gave events; `input_error` when one could
/// not be read, or none of its lines was an event; `strict_bad_line` when --strict stopped at one.
enum class ReadFailure : uint8_t { none, strict_bad_line, input_error };

struct ReadResult {
  ReadStats stats;
  ReadFailure failure = ReadFailure::none;
  std::string error;                      // the first input error's message
  std::vector<std::string> input_errors;  // every one, in input order
  /// Inputs that could not be read to their end (the others among input_errors were read
  /// whole, and none of their lines was an event).
  uint64_t inputs_unread = 0;
  /// Reading stopped before the end of the inputs (--strict): what was read is not all there is.
  bool stopped = false;
};

/// Opens paths[index] for reading and tells `options.opened`; throws InputError.
std::unique_ptr<ChunkSource> open_for_reading(const std::vector<std::string>& paths, size_t index,
                                              const ReaderOptions& options);
/// Tells `options.progress` where reading is.
void report_progress(const std::vector<std::string>& paths, size_t index, const ChunkSource& source,
                     uint64_t lines, const ReaderOptions& options);

/// Records an input that could not be read (saying after which of its lines) and tells
/// `options.input_failed`. Returns whether reading goes on with the next input (not --strict).
bool record_input_error(ReadResult& result, const std::string& message, uint64_t line_no,
                        const ReaderOptions& options);

/// After an input was read: when it had lines and none was an event (a binary file, a JSON
/// array, another format), records that as an input error. `before`: the totals before it;
/// `first`: its first byte that is not white space (0 if none).
bool check_input_gave_events(ReadResult& result, const ReadStats& before, std::string_view path,
                             char first, const ReaderOptions& options);

/// The first byte of `bytes` that is not white space, or 0.
char first_non_space(std::string_view bytes);

/// Reads the inputs in order. Bad lines go to `bad_lines`; an unreadable or truncated input
/// stops the run (events already read from it have been delivered).
ReadResult read_inputs(const std::vector<std::string>& paths, const ReaderOptions& options,
                       EventSink& sink, BadLineLog& bad_lines);

/// Reads one chunk of whole lines: the unit that later runs on several cores. `line_no` is the
/// number of the line before the chunk and is advanced past it. Returns false if a bad line
/// must stop the run (strict mode).
class ChunkReader {
 public:
  /// `show_values`: bad lines' excerpts keep their string values (see make_excerpt).
  ChunkReader(const ParserOptions& options, size_t max_line_bytes, bool show_values = false)
      : parser_(options), max_line_bytes_(max_line_bytes), show_values_(show_values) {}
  bool read(const Chunk& chunk, std::string_view input_name, uint64_t& line_no, EventSink& sink,
            BadLineSink& bad_lines, ReadStats& stats);

 private:
  LineParser parser_;
  size_t max_line_bytes_;
  bool show_values_;
  Event event_;
  ParseError error_;
};

}  // namespace exfilscan
