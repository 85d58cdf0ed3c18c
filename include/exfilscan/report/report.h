#pragma once
/// Reporters: findings as they fire and the account ranking at the end, as a table, CSV or JSON
/// lines (docs/output.md is the JSON-lines contract).

#include <exfilscan/engine/engine.h>
#include <exfilscan/numbers.h>
#include <exfilscan/order/event_order.h>
#include <exfilscan/rules/finding.h>
#include <exfilscan/time_zone.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace exfilscan {

enum class ReportFormat : uint8_t { table, jsonl, csv };
bool parse_report_format(std::string_view name, ReportFormat& out);

struct ReportOptions {
  Severity min_severity = Severity::info;  // findings below are counted, not shown
  TimeZone tz;            // times in the table and the HTML report (--tz); data stays UTC
  size_t width = 0;       // the table's width (the terminal's, or COLUMNS); 0: no limit
  bool terminal = false;  // the table goes to a terminal: a key too long for a heading is cut
  bool colour = false;    // ANSI colour in the table (a terminal without NO_COLOR)
};

/// Totals of the run, for the closing rows.
struct RunTotals {
  uint64_t lines = 0;
  uint64_t events = 0;
  uint64_t skipped = 0;
  EngineStats engine;
  /// Event time of the earliest and the latest event judged (within --since/--until); both 0
  /// when none was.
  int64_t first_event_ns = 0;
  int64_t last_event_ns = 0;
  /// Which calibration set the detectors' bars ("none": the built-in ones).
  std::string calibration = "none";
  /// How the events were put in time order.
  OrderStats order{};
};

/// "in_order" (every event came in time order), "sorted" (put in time order before judging) or
/// "as_read" (a stream, some of whose events came out of order and were judged where they came).
std::string_view event_order_name(const RunTotals& totals);

/// The run's findings split by --min-severity: those written and those held back (fired, counted,
/// not written), by severity. Allow-listed ones are in neither.
struct FindingCounts {
  std::array<uint64_t, 5> written{};
  std::array<uint64_t, 5> held_back{};
  uint64_t total_written() const;
  uint64_t total_held_back() const;
};
FindingCounts finding_counts(const EngineStats& engine, Severity min_severity);

/// Pushed findings as they fire, then the ranking and totals once. Writes to a stream it does
/// not own; a write error is remembered (a closed pipe).
class Reporter : public FindingSink {
 public:
  Reporter(ReportOptions options, std::FILE* out) : options_(options), out_(out) {}
  ~Reporter() override = default;
  void on_finding(const Finding& finding) override;
  virtual void finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) = 0;
  virtual bool failed() const { return failed_; }
  /// The errno of the first failed write (EPIPE: the reader went away), 0 while none failed.
  int error() const { return error_; }

 protected:
  virtual void write_finding(const Finding& finding) = 0;
  void write(const std::string& text);
  /// Marks the output failed, keeping the errno of the first failure.
  void fail() {
    if (!failed_) error_ = errno;
    failed_ = true;
  }
  ReportOptions options_;
  std::FILE* out_;
  bool failed_ = false;
  int error_ = 0;
};

std::unique_ptr<Reporter> make_reporter(ReportFormat format, ReportOptions options, std::FILE* out);
/// The ranking as CSV (one header row, the columns of docs/output.md), for --summary-csv.
std::unique_ptr<Reporter> make_summary_csv_reporter(ReportOptions options, std::FILE* out);

/// Several reporters fed as one (a cron run writing its table, CSV and JSON lines together).
/// It has failed when all of them have.
class ReportFanout : public Reporter {
 public:
  explicit ReportFanout(std::vector<std::unique_ptr<Reporter>> reporters);
  void on_finding(const Finding& finding) override;
  void finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) override;
  /// Whether the i-th reporter (in construction order) could not write.
  bool failed_at(size_t i) const { return reporters_[i]->failed(); }
  int error_at(size_t i) const { return reporters_[i]->error(); }

 protected:
  void write_finding(const Finding&) override {}

 private:
  std::vector<std::unique_ptr<Reporter>> reporters_;
};

/// Findings held until the input is known to be in time order (read again to sort it, they
/// are dropped: judging starts over), then passed on in the order they fired.
class FindingHold : public FindingSink {
 public:
  explicit FindingHold(FindingSink& next) : next_(next) {}
  void on_finding(const Finding& finding) override { held_.push_back(finding); }
  void release();
  void drop() { held_.clear(); }

 private:
  FindingSink& next_;
  std::vector<Finding> held_;
};

/// The JSON-lines rows of docs/output.md, with their line break: a `finding` and an `account`.
std::string finding_json(const Finding& finding);
std::string account_json(const AccountSummary& account);

/// RFC 4180 field: quoted when it holds a comma, quote, CR or LF; quotes doubled.
void append_csv_field(std::string& out, std::string_view field);

/// Numbers in reports: integers as integers, fractions to 4 decimals without trailing zeros.
std::string format_number(double value);
/// A duration for people, to the second: "0.25 s", "42 s", "3 min 12 s", "5 h 3 min", "2 days 4 h".
std::string format_lateness(int64_t ns);

}  // namespace exfilscan
