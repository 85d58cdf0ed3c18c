#pragma once
/// The subcommands of the command line.

#include "cli/options.h"

#include <exfilscan/engine/engine.h>
#include <exfilscan/input/diagnostics.h>
#include <exfilscan/input/reader.h>

#include <fmt/format.h>

#include <cstdio>
#include <iterator>
#include <string>

namespace exfilscan::cli {

/// A message on stderr, best effort: a full or closed stderr (2>/dev/full, 2>&-) must not end
/// the run or change its exit code, so write errors are ignored (fmt::print would throw).
template <typename... T>
void note(fmt::format_string<T...> format, T&&... args) {
  std::string text;
  fmt::format_to(std::back_inserter(text), format, std::forward<T>(args)...);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

/// The output pipe closed (`| head`): stop reading and exit quietly.
struct OutputClosed {};

/// Feeds the engine and stops the run when the report can no longer be written; keeps the span
/// of event time judged (within --since/--until) for the reports.
class ScanSink : public EventSink {
 public:
  ScanSink(DetectionEngine& engine, const Reporter& reporter, const EngineOptions& options)
      : engine_(engine), reporter_(reporter), since_(options.since_ns), until_(options.until_ns) {}
  void on_event(const Event& event) override {
    see(event);
    engine_.on_event(event);
    if (reporter_.failed()) throw OutputClosed{};
  }
  void on_events(std::span<const std::span<const Event>> runs) override {
    for (std::span<const Event> run : runs)
      for (const Event& e : run) see(e);
    engine_.on_events(runs);
    if (reporter_.failed()) throw OutputClosed{};
  }
  /// The earliest and latest event time judged; (0, 0) when none was.
  std::pair<int64_t, int64_t> span() const {
    return first_ > last_ ? std::pair<int64_t, int64_t>{0, 0} : std::pair{first_, last_};
  }

 private:
  void see(const Event& e) {
    int64_t t = e.timestamp_ns;
    if (t < since_ || t >= until_) return;
    first_ = std::min(first_, t);
    last_ = std::max(last_, t);
  }
  DetectionEngine& engine_;
  const Reporter& reporter_;
  int64_t since_, until_;
  int64_t first_ = INT64_MAX, last_ = INT64_MIN;
};

/// Runs the configured command; returns the process exit code.
int run(const RunConfig& config);

// Shared by the commands (commands.cpp).

/// What a failed write to standard output means: EPIPE (the reader went away) is exit 0.
int stdout_failure(int error);
/// Writes a command's whole output to stdout; the exit code.
int write_stdout(const std::string& text);
/// The same to `path` ("-": stdout); a file that cannot be written is said, and exit 2.
int write_output(const std::string& path, const std::string& text);
/// The closing line on stderr: what was read, skipped and found, and how fast.
void print_totals(const ReadStats& stats, const BadLineLog& bad, double seconds,
                  const std::string& found = "");
/// Says why reading stopped early; the exit code for it.
int report_read_failure(const ReadResult& result);

/// Loads a state's payload into the engine. A payload the engine refuses (a count out of range:
/// a format number that does not match its contents) is a StateError that names the file and
/// the way out, as the file's own checks do (issue 17).
void load_state_payload(DetectionEngine& engine, const std::string& path,
                        const std::string& payload, uint32_t version);

/// `explain` (explain.cpp).
int run_explain(const RunConfig& config);
/// `calibrate` (calibrate.cpp).
int run_calibrate(const RunConfig& config);

}  // namespace exfilscan::cli
