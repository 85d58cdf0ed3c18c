#pragma once
/// The subcommands of the command line.

#include "cli/options.h"

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

}  // namespace exfilscan::cli
