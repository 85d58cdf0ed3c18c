#pragma once
/// Severity bars learnt from traffic a user vouches for (`exfilscan calibrate`): each detector's
/// strongest score per account kept as a histogram, and bars set so that at most a target share
/// of those accounts reaches high (and a looser share medium). docs/detection.md, "Calibration".

#include <exfilscan/rules/rules.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace exfilscan {

struct CalibrationOptions {
  double target_fpr = 0.001;  // the share of the accounts allowed at high
  double medium_factor = 10;  // and this many times it at medium
  /// Fewer accounts than min_expected / target_fpr cannot place the bar (a share of 0.01% of
  /// 1,000 accounts is a tenth of one): refused, or with `widen` the target is widened to fit.
  double min_expected = 10;
  bool widen = false;
  /// The lowest bars calibration sets. A detector fires from 0.5 on: a high bar there would make
  /// every verdict high, and a medium bar under it would make its low verdicts (a spike at its
  /// bar, 0.39) medium. (What a detector holds under high on purpose stays there whatever the
  /// bars: Verdict::medium_at_most.)
  double min_high_bar = 0.55;
  double min_medium_bar = 0.5;
  size_t named_accounts = 5;  // the top accounts named where they lift a bar
};

/// A refused calibration (too few accounts for the target): the message says what would do.
class CalibrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Each detector's per-account strongest score, as a histogram of 1,001 bins (0.001 wide), and
/// the accounts with the highest scores: memory bounded by the detectors, not the accounts. Two
/// histograms: every verdict's score (the medium bars), and only those of verdicts that may reach
/// high (the high bars: a verdict held under high stays medium under any bars).
class ScoreHistograms {
 public:
  static constexpr size_t bins = 1001;
  explicit ScoreHistograms(std::vector<std::string> detectors, size_t keep_top = 5);

  /// One account: its strongest scores from each detector that fired on it (others: 0; rules
  /// that are not detectors are ignored). Accounts no detector fired on are add_quiet().
  void add(const std::string& key, const std::vector<RuleScore>& scores);
  void add_quiet(uint64_t accounts) { accounts_ += accounts, quiet_ += accounts; }

  uint64_t accounts() const { return accounts_; }
  const std::vector<std::string>& detectors() const { return detectors_; }
  /// Accounts whose score from detector d is at least bin b's lower edge (b / 1000): of any
  /// verdict, or (`high`) of a verdict that may reach high.
  uint64_t at_or_above(size_t d, size_t b, bool high = false) const;
  uint64_t fired(size_t d) const { return accounts_ - quiet_ - counts_[d][0]; }
  /// The score below which a share `q` of the accounts fall (0 for most: most never fire).
  double quantile(size_t d, double q) const;
  /// The accounts with the highest scores that may reach high from detector d, highest first
  /// (ties: key order).
  const std::vector<RuleScore>& top(size_t d) const { return top_[d]; }

 private:
  std::vector<std::string> detectors_;
  size_t keep_top_;
  uint64_t accounts_ = 0;
  uint64_t quiet_ = 0;  // accounts no detector fired on: at 0 for every one (not in the bins)
  std::vector<std::array<uint64_t, bins>> counts_;       // any verdict's
  std::vector<std::array<uint64_t, bins>> high_counts_;  // of verdicts that may reach high
  std::vector<std::vector<RuleScore>> top_;  // RuleScore::rule holds the account's key here
};

/// What calibration learnt of one detector.
struct DetectorBars {
  std::string detector;
  SeverityBars bars;
  uint64_t fired = 0;         // accounts it fired on
  uint64_t at_medium = 0;     // accounts at or above the learnt medium bar
  uint64_t at_high = 0;       // and high bar (with a verdict that may reach high)
  uint64_t over_default = 0;  // and the built-in high bar (0.75), as at_high
  double p99 = 0, p999 = 0, p9999 = 0, max = 0;  // score quantiles over all the accounts
  bool saturated = false;          // more accounts at a full score than the target allows
  std::vector<RuleScore> lifting;  // top accounts, named when the bar rose over the built-in
};

struct CalibrationResult {
  double target_fpr = 0;  // as used (widened when CalibrationOptions::widen had to)
  double medium_share = 0;
  uint64_t accounts = 0;
  std::vector<DetectorBars> detectors;
  std::vector<std::string> warnings;  // widened target, saturated detectors, lifted bars
};

/// The bars that keep, by the union bound over the detectors, at most target_fpr of the accounts
/// at high and medium_factor times it at medium. Throws CalibrationError.
CalibrationResult learn_bars(const ScoreHistograms& scores, const CalibrationOptions& options);

/// What the run that gathered the scores read, for the rules file's comments.
struct CalibrationSource {
  std::string build;        // "exfilscan 1.2.0"
  std::string name;         // the calibration's name (the run row's `calibration`)
  std::string from, until;  // first and last event times
  uint64_t events = 0;
  uint64_t clusters = 0;             // clusters' pooled accounts whose scores their members took
  std::string group_by = "api_key";  // what an account was: scan must group by it too
};

/// `base` with the learnt bars and the calibration's name, as a rules file: the quantiles seen,
/// the accounts, the span and the build as comments, then every rule (rules_toml).
std::string calibrated_rules_toml(RuleSet base, const CalibrationResult& result,
                                  const CalibrationSource& source);

/// The detector's bars in `rules` by its name (null for a name that is no detector).
SeverityBars* bars_of(RuleSet& rules, std::string_view detector);

}  // namespace exfilscan
