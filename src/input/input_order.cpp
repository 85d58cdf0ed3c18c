#include <exfilscan/input/input_order.h>

#include <sys/stat.h>
#include <algorithm>
#include <climits>
#include <cstring>

namespace exfilscan {

bool input_can_be_reread(const std::string& path) {
  struct stat st;
  return path != "-" && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

int64_t first_event_time(const std::string& path, const ReaderOptions& options, size_t events,
                         size_t max_bytes) {
  InputOptions input = options.input;
  // A small first chunk, read rather than mapped, nothing ahead: only the start is wanted.
  input.chunk_bytes = std::min<size_t>(input.chunk_bytes, 64u << 10);
  input.allow_mmap = false;
  input.read_ahead = false;
  ParserOptions parser = options.parser;
  parser.read_prompt_text = false;
  parser.read_turns = false;
  LineParser line_parser(parser);
  Event event;
  ParseError error;
  int64_t earliest = INT64_MAX;
  size_t found = 0, read = 0;
  try {
    auto source = open_input(path, input);
    Chunk chunk;
    while (found < events && read < max_bytes && source->next(chunk)) {
      if (chunk.oversized_line) continue;
      read += chunk.bytes.size();
      const char* p = chunk.bytes.data();
      const char* end = p + chunk.bytes.size();
      while (p < end && found < events) {
        const char* nl =
            static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        std::string_view line(p, static_cast<size_t>((nl ? nl : end) - p));
        p = nl ? nl + 1 : end;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
        if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
        if (!line_parser.parse(line, event, error)) continue;
        earliest = std::min(earliest, event.timestamp_ns);
        ++found;
      }
    }
  } catch (const InputError&) {
    return INT64_MAX;
  }
  return earliest;
}

std::vector<std::string> order_inputs_by_time(const std::vector<std::string>& paths,
                                              const ReaderOptions& options) {
  struct Input {
    int64_t first;
    size_t given;  // its place among the files
  };
  std::vector<size_t> places;  // where the files are in `paths`
  std::vector<Input> files;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (!input_can_be_reread(paths[i])) continue;
    places.push_back(i);
    files.push_back({first_event_time(paths[i], options), i});
  }
  std::stable_sort(files.begin(), files.end(),
                   [](const Input& a, const Input& b) { return a.first < b.first; });
  std::vector<std::string> ordered = paths;
  for (size_t k = 0; k < places.size(); ++k) ordered[places[k]] = paths[files[k].given];
  return ordered;
}

}  // namespace exfilscan
