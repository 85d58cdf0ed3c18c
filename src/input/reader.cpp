#include <exfilscan/input/reader.h>

#include <fmt/format.h>

#include <cstring>

namespace exfilscan {

namespace {

bool is_blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

}  // namespace

bool ChunkReader::read(const Chunk& chunk, std::string_view input_name, uint64_t& line_no,
                       EventSink& sink, BadLineSink& bad_lines, ReadStats& stats) {
  if (chunk.oversized_line) {
    ++line_no;
    ++stats.lines;
    return bad_lines.report(BadLine{input_name, line_no, chunk.offset, BadLineReason::line_too_long,
                                    fmt::format("{} bytes, over the limit of {} (--max-line-bytes)",
                                                chunk.oversized_length, max_line_bytes_),
                                    make_excerpt(chunk.oversized_head, 60, show_values_)});
  }
  stats.bytes += chunk.bytes.size();
  const char* p = chunk.bytes.data();
  const char* end = p + chunk.bytes.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    std::string_view line(p, static_cast<size_t>(line_end - p));
    uint64_t offset = chunk.offset + static_cast<uint64_t>(p - chunk.bytes.data());
    p = nl ? nl + 1 : end;
    ++line_no;
    ++stats.lines;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // A UTF-8 byte-order mark (Windows exports) starts the input, not the JSON.
    if (offset == 0 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    if (line.size() > max_line_bytes_) {
      if (!bad_lines.report(BadLine{input_name, line_no, offset, BadLineReason::line_too_long,
                                    fmt::format("{} bytes, over the limit of {} (--max-line-bytes)",
                                                line.size(), max_line_bytes_),
                                    make_excerpt(line, 60, show_values_)}))
        return false;
      continue;
    }
    if (is_blank(line)) {  // blank lines carry nothing: counted, never reported
      ++stats.blank_lines;
      continue;
    }
    if (!parser_.parse(line, event_, error_)) {
      if (!bad_lines.report(BadLine{input_name, line_no, offset, error_.reason,
                                    std::move(error_.detail),
                                    make_excerpt(line, 60, show_values_)}))
        return false;
      continue;
    }
    for (const ParseError& note : parser_.left_out()) {
      BadLine left{input_name,  line_no,     offset,
                   note.reason, note.detail, make_excerpt(line, 60, show_values_)};
      left.value_left_out = true;
      bad_lines.report(left);
    }
    ++stats.events;
    sink.on_event(event_);
  }
  return true;
}

std::unique_ptr<ChunkSource> open_for_reading(const std::vector<std::string>& paths, size_t index,
                                              const ReaderOptions& options) {
  auto source = open_input(paths[index], options.input);
  if (options.opened) options.opened(paths[index], source->compression(), source->size_hint());
  return source;
}

void report_progress(const std::vector<std::string>& paths, size_t index, const ChunkSource& source,
                     uint64_t lines, const ReaderOptions& options) {
  if (options.progress)
    options.progress(ReadProgress{paths[index], index, paths.size(), source.bytes_consumed(),
                                  source.size_hint(), lines});
}

bool record_input_error(ReadResult& result, const std::string& message, uint64_t line_no,
                        const ReaderOptions& options) {
  std::string text = line_no ? fmt::format("{} (after line {})", message, line_no) : message;
  if (result.failure == ReadFailure::none) {
    result.failure = ReadFailure::input_error;
    result.error = text;
  }
  if (options.input_failed) options.input_failed(text);
  result.input_errors.push_back(std::move(text));
  if (options.bad_lines.strict) result.stopped = true;
  return !result.stopped;
}

bool check_input_gave_events(ReadResult& result, const ReadStats& before, std::string_view path,
                             char first, const ReaderOptions& options) {
  uint64_t lines = result.stats.lines - before.lines;
  uint64_t blank = result.stats.blank_lines - before.blank_lines;
  if (lines == blank || result.stats.events > before.events) return true;
  std::string message = fmt::format(
      "{}: no line is an event ({} line{} skipped{})", path, lines - blank,
      lines - blank == 1 ? "" : "s",
      first == '[' ? fmt::format("; a JSON array? one element a line: jq -c '.[]' {}", path)
                   : "; see the reasons above");
  return record_input_error(result, message, 0, options);
}

char first_non_space(std::string_view bytes) {
  for (char c : bytes)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return c;
  return 0;
}

ReadResult read_inputs(const std::vector<std::string>& paths, const ReaderOptions& options,
                       EventSink& sink, BadLineLog& bad_lines) {
  ReadResult result;
  ChunkReader reader(options.parser, options.input.max_line_bytes, options.bad_lines.show_values);
  Chunk chunk;
  for (size_t index = 0; index < paths.size(); ++index) {
    const std::string& path = paths[index];
    ++result.stats.inputs;
    uint64_t line_no = 0;
    ReadStats before = result.stats;
    char first = 0;
    try {
      auto source = open_for_reading(paths, index, options);
      auto report = [&] { report_progress(paths, index, *source, result.stats.lines, options); };
      report();
      while (source->next(chunk)) {
        if (!first) first = first_non_space(chunk.bytes);
        if (!reader.read(chunk, path, line_no, sink, bad_lines, result.stats)) {
          result.failure = ReadFailure::strict_bad_line;
          result.stopped = true;
          return result;
        }
        report();
      }
    } catch (const InputError& e) {
      ++result.inputs_unread;
      if (!record_input_error(result, e.what(), line_no, options)) return result;
      continue;
    }
    if (!check_input_gave_events(result, before, path, first, options)) return result;
  }
  return result;
}

}  // namespace exfilscan
