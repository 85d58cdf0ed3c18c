#pragma once
/// Reporters: findings as they fire and the account ranking at the end, as a table or JSON lines
/// (docs/output.md is the JSON-lines contract).

#include <exfilscan/engine.h>
#include <exfilscan/finding.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace exfilscan {

enum class ReportFormat : uint8_t { table, jsonl };
bool parse_report_format(std::string_view name, ReportFormat& out);

struct ReportOptions {
  Severity min_severity = Severity::info;  // findings below are counted, not shown
};

/// Totals of the run, for the closing rows.
struct RunTotals {
  uint64_t lines = 0;
  uint64_t events = 0;
  uint64_t skipped = 0;
  EngineStats engine;
};

/// Pushed findings as they fire, then the ranking and totals once. Writes to a stream it does
/// not own; a write error is remembered (a closed pipe).
class Reporter : public FindingSink {
 public:
  Reporter(ReportOptions options, std::FILE* out) : options_(options), out_(out) {}
  ~Reporter() override = default;
  void on_finding(const Finding& finding) override;
  virtual void finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) = 0;
  bool failed() const { return failed_; }

 protected:
  virtual void write_finding(const Finding& finding) = 0;
  void write(const std::string& text);
  ReportOptions options_;
  std::FILE* out_;
  bool failed_ = false;
};

std::unique_ptr<Reporter> make_reporter(ReportFormat format, ReportOptions options, std::FILE* out);

/// Numbers in reports: integers as integers, fractions to 4 decimals without trailing zeros.
std::string format_number(double value);

}  // namespace exfilscan
