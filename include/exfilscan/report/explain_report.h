#pragma once
/// `exfilscan explain`'s output: each detector's verdict on every window of one account (with the
/// bar a "no" missed), the account's findings as they fired and its threshold rules' peaks, as
/// text for a person or as JSON lines (docs/output.md).

#include <exfilscan/engine/engine.h>
#include <exfilscan/rules/finding.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/time_zone.h>

#include <optional>
#include <string>
#include <vector>

namespace exfilscan {

enum class ExplainFormat : uint8_t { text, jsonl };

struct ExplainOptions {
  ExplainFormat format = ExplainFormat::text;
  TimeZone tz;                // times in the text (--tz); JSON lines stay UTC
  bool only_flagged = false;  // only windows where a detector fired or a finding came
};

/// Why a detector said no: the first bar its verdict did not reach, from the rules in force and
/// the verdict's metrics. `metric` is empty when the bar is not one metric (no population yet).
struct MissedBar {
  std::string metric;
  double value = 0;
  double bar = 0;
  std::string text;  // "completion_tokens 800 < 1200"
};
MissedBar missed_bar(const RuleSet& rules, const Explanation& verdict);

/// Gathers what the engine tells of the explained account, then writes it all at the end.
class ExplainReport : public FindingSink {
 public:
  ExplainReport(ExplainOptions options, const RuleSet& rules, std::string key);
  void on_finding(const Finding& finding) override;
  void on_explanation(const Explanation& explanation);
  /// The cluster the account is in, and why (written after its windows).
  void set_cluster(std::optional<ClusterTies> ties) { cluster_ = std::move(ties); }

  struct Totals {
    uint64_t lines = 0, events = 0, skipped = 0;
  };
  /// The output: the account (null when the input had no event of it: nothing is written),
  /// its windows and findings, and each threshold rule's peak for it.
  std::string finish(const AccountSummary* account,
                     const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                     GroupBy group_by, const Totals& totals) const;
  size_t windows() const { return windows_.size(); }

 private:
  struct Window {
    int64_t start_ns = 0, end_ns = 0;
    std::vector<Finding> findings;  // fired while it was open
    std::vector<Explanation> verdicts;
    bool flagged() const;
  };
  std::string text(const AccountSummary& a,
                   const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                   GroupBy group_by) const;
  std::string jsonl(const AccountSummary& a,
                    const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                    GroupBy group_by, const Totals& totals) const;
  std::string when(int64_t ns) const;

  ExplainOptions options_;
  const RuleSet& rules_;
  std::string key_;
  std::vector<Window> windows_;
  std::vector<Finding> pending_;  // findings of the window still open
  std::optional<ClusterTies> cluster_;
};

}  // namespace exfilscan
