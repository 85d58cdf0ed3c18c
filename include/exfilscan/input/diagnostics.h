#pragma once
/// Bad input lines: why a line was skipped, and the log that counts and reports them.

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace exfilscan {

enum class BadLineReason : uint8_t {
  bad_json,           // not one well-formed JSON object
  invalid_utf8,       // bytes that are not UTF-8
  wrong_type,         // a known field holds a value of the wrong type
  missing_timestamp,  // no timestamp field for the format (or the format was not recognised)
  bad_timestamp,      // a timestamp that is not a valid time
  line_too_long,      // over --max-line-bytes
  implausible_value,  // a token count no request can have (below 0, over max_request_tokens)
};
inline constexpr size_t bad_line_reason_count = 7;

/// More tokens than any request has (context windows hold millions): a count above it is a
/// broken log, and summing such counts would wrap the totals.
inline constexpr int64_t max_request_tokens = 1'000'000'000;

std::string_view to_string(BadLineReason reason);

/// A skipped line, as reported: `input:line: reason: detail: excerpt`.
struct BadLine {
  std::string_view input;  // the name the user gave ("-" for stdin)
  uint64_t line = 0;       // 1-based
  uint64_t byte_offset = 0;
  BadLineReason reason = BadLineReason::bad_json;
  std::string detail;
  std::string excerpt;
  /// Not a skipped line: one of its values was left out of its event (a negative latency, a
  /// body cut short), the event kept. Reported and counted apart; --strict does not stop.
  bool value_left_out = false;
};

/// The first bytes of a line, safe to print: control bytes and invalid UTF-8 escaped (as
/// printable() does), cut on a character boundary, "..." appended when cut. Unless
/// `show_values`, every JSON string that is not an object key is masked as "***": a log line's
/// strings hold prompts, which are customers' data; field names, numbers and structure stay.
std::string make_excerpt(std::string_view line, size_t max_bytes = 60, bool show_values = false);

/// Text from a log made safe for a terminal: C0 and C1 control characters, DEL and bytes that
/// are not UTF-8 become \xNN (an ESC in an API key must not reach the analyst's screen).
std::string printable(std::string_view text);

struct BadLineLogOptions {
  size_t max_reports_per_reason = 5;  // printed in full; the rest only counted
  bool strict = false;                // the first bad line is an error
  bool show_values = false;           // excerpts show string values (--include-prompts)
};

/// Where the reader sends bad lines: the log that prints them, or a buffer that keeps a chunk's
/// until the chunks before it are reported (parallel parsing).
class BadLineSink {
 public:
  virtual ~BadLineSink() = default;
  /// Returns false when the run must stop (strict mode).
  virtual bool report(const BadLine& bad) = 0;
};

/// Counts bad lines by reason and prints the first few of each to a stream (stderr in the CLI).
class BadLineLog : public BadLineSink {
 public:
  BadLineLog(BadLineLogOptions options, std::FILE* out) : options_(options), out_(out) {}

  /// Returns false when the run must stop (strict mode).
  bool report(const BadLine& bad) override;

  /// Skipped lines.
  uint64_t total() const { return total_; }
  uint64_t count(BadLineReason reason) const { return counts_[static_cast<size_t>(reason)]; }
  /// "bad_json 3, bad_timestamp 1" (reasons with a count, in enum order); empty when none.
  std::string summary() const;
  /// Values left out of events whose lines were kept, in all and by reason.
  uint64_t values_left_out() const { return left_out_total_; }
  uint64_t left_out_count(BadLineReason reason) const {
    return left_out_[static_cast<size_t>(reason)];
  }
  /// summary() of the values left out.
  std::string left_out_summary() const;
  /// Prints "... and N more <reason>" for each reason whose reports were cut.
  void print_suppressed() const;
  /// The inputs are read again from their start (to sort their events): the counts start over,
  /// and the lines already printed are not printed again (they come first again).
  void restart();

 private:
  BadLineLogOptions options_;
  std::FILE* out_;
  std::array<uint64_t, bad_line_reason_count> counts_{};
  uint64_t total_ = 0;
  std::array<uint64_t, bad_line_reason_count> left_out_{};
  uint64_t left_out_total_ = 0;
  // Printed before a restart(): reports up to these counts are not printed again.
  std::array<uint64_t, bad_line_reason_count> shown_{};
  std::array<uint64_t, bad_line_reason_count> left_out_shown_{};
};

}  // namespace exfilscan
