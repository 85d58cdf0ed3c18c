#pragma once
// Helpers shared by the unit tests: parse inline JSON lines with the real parser, temp files.

#include <exfilscan/input/input.h>
#include <exfilscan/input/reader.h>
#include <exfilscan/parse/line_parser.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace exfilscan::test {

/// Parses one line; the padded copy lives in the Parsed so the event's views stay valid.
struct Parsed {
  std::unique_ptr<LineParser> parser;
  std::string buffer;
  Event event;
  ParseError error;
  bool ok = false;
};

inline std::unique_ptr<Parsed> parse_line(const std::string& line, ParserOptions options = {}) {
  auto p = std::make_unique<Parsed>();
  p->parser = std::make_unique<LineParser>(std::move(options));
  p->buffer = line + std::string(chunk_padding, '\0');
  p->ok = p->parser->parse(std::string_view(p->buffer.data(), line.size()), p->event, p->error);
  return p;
}

inline std::vector<std::string> prompt_texts(const Event& ev) {
  std::vector<std::string> out;
  for (const PromptPart& part : ev.prompt)
    out.push_back((part.role == PromptRole::system ? "S:" : "U:") + std::string(part.text));
  return out;
}

/// A file in /tmp removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& contents, const std::string& suffix = ".jsonl") {
    char name[] = "/tmp/exfilscan-test-XXXXXX";
    int fd = mkstemp(name);
    ::close(fd);
    path_ = std::string(name) + suffix;
    std::rename(name, path_.c_str());
    std::ofstream(path_, std::ios::binary) << contents;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Keeps what the test needs from each event (views die after on_event).
struct CollectingSink : EventSink {
  std::vector<int64_t> timestamps;
  std::vector<std::string> keys;
  void on_event(const Event& ev) override {
    timestamps.push_back(ev.timestamp_ns);
    keys.emplace_back(ev.api_key);
  }
};

}  // namespace exfilscan::test
