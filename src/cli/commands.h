#pragma once
/// The subcommands of the command line.

#include "options.h"

namespace exfilscan::cli {

/// Runs the configured command; returns the process exit code.
int run(const RunConfig& config);

}  // namespace exfilscan::cli
