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

/// Runs the configured command; returns the process exit code.
int run(const RunConfig& config);

// Shared by the commands (commands.cpp).

/// What a failed write to standard output means: EPIPE (the reader went away) is exit 0.
int stdout_failure(int error);
/// Writes a command's whole output to stdout; the exit code.
int write_stdout(const std::string& text);
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

}  // namespace exfilscan::cli
