#pragma once
/// Writes events back out as canonical JSON lines (the `normalize` subcommand).

#include <exfilscan/parse/event.h>

#include <cstdio>
#include <string>

namespace exfilscan {

struct CanonicalWriterOptions {
  bool include_prompts = false;  // prompt text is customers' data: only on request
};

/// Buffers output and writes it with fwrite; a write error (a closed pipe) is remembered.
class CanonicalWriter : public EventSink {
 public:
  CanonicalWriter(CanonicalWriterOptions options, std::FILE* out);
  ~CanonicalWriter() override;
  void on_event(const Event& event) override;
  /// Writes what is buffered; false when the stream has failed.
  bool flush();
  bool failed() const { return failed_; }
  /// The errno of the first failed write (EPIPE: the reader went away), 0 while none failed.
  int error() const { return error_; }

  /// The canonical JSON object for one event, without a newline.
  static void format(const Event& event, const CanonicalWriterOptions& options, std::string& out);

 private:
  CanonicalWriterOptions options_;
  std::FILE* out_;
  std::string buffer_;
  bool failed_ = false;
  int error_ = 0;
};

}  // namespace exfilscan
