#pragma once
/// Process exit codes, the same for every subcommand (also documented in README.md).

namespace exfilscan {

enum ExitCode : int {
  exit_ok = 0,           // finished; no finding at or above --fail-on
  exit_findings = 1,     // finished; findings at or above --fail-on
  exit_input_error = 2,  // usage error, unreadable or truncated input, or a bad line with --strict
};

}  // namespace exfilscan
