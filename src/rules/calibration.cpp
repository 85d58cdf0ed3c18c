#include <exfilscan/rules/calibration.h>

#include "rules/rules_toml.h"

#include <exfilscan/input/diagnostics.h>
#include <exfilscan/numbers.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan {

ScoreHistograms::ScoreHistograms(std::vector<std::string> detectors, size_t keep_top)
    : detectors_(std::move(detectors)),
      keep_top_(keep_top),
      counts_(detectors_.size()),
      high_counts_(detectors_.size()),
      top_(detectors_.size()) {
  for (auto& c : counts_) c.fill(0);
  for (auto& c : high_counts_) c.fill(0);
}

namespace {

size_t bin_of(double score) {
  if (!(score > 0)) return 0;
  // A score at a bin's edge belongs to it: 0.75 is in bin 750, not 749 by a rounding.
  double scaled = std::round(score * 1e6) / 1e3;
  return std::min<size_t>(ScoreHistograms::bins - 1, static_cast<size_t>(std::floor(scaled)));
}

bool higher(const RuleScore& a, const RuleScore& b) {
  return a.score != b.score ? a.score > b.score : a.rule < b.rule;
}

}  // namespace

void ScoreHistograms::add(const std::string& key, const std::vector<RuleScore>& scores) {
  ++accounts_;
  for (size_t d = 0; d < detectors_.size(); ++d) {
    double best = 0, best_any = 0;
    for (const RuleScore& s : scores) {
      if (s.rule != detectors_[d]) continue;
      best = std::max(best, s.score);
      best_any = std::max({best_any, s.score, s.medium_score});
    }
    ++counts_[d][bin_of(best_any)];
    ++high_counts_[d][bin_of(best)];
    if (best <= 0 || keep_top_ == 0) continue;
    std::vector<RuleScore>& top = top_[d];
    RuleScore entry{key, best};
    if (top.size() == keep_top_ && !higher(entry, top.back())) continue;
    top.insert(std::upper_bound(top.begin(), top.end(), entry, higher), entry);
    if (top.size() > keep_top_) top.pop_back();
  }
}

uint64_t ScoreHistograms::at_or_above(size_t d, size_t b, bool high) const {
  const std::array<uint64_t, bins>& counts = high ? high_counts_[d] : counts_[d];
  uint64_t n = 0;
  for (size_t i = b; i < bins; ++i) n += counts[i];
  return n;
}

double ScoreHistograms::quantile(size_t d, double q) const {
  if (accounts_ == 0) return 0;
  double need = q * static_cast<double>(accounts_);
  uint64_t below = quiet_;
  for (size_t i = 0; i < bins; ++i) {
    below += counts_[d][i];
    if (static_cast<double>(below) >= need) return static_cast<double>(i) / 1000;
  }
  return 1;
}

namespace {

/// The lowest bin edge from `floor` on with at most `allowed` accounts at or above it (the last
/// bin when even a full score has more).
size_t bar_bin(const ScoreHistograms& h, size_t d, size_t floor, double allowed, bool high) {
  for (size_t b = floor; b < ScoreHistograms::bins; ++b)
    if (static_cast<double>(h.at_or_above(d, b, high)) <= allowed) return b;
  return ScoreHistograms::bins - 1;
}

/// One share per detector, the same for all, as large as keeps their sum within `total`: each
/// detector's bar is the lowest with at most that share over it (not below `floor`). A detector
/// with more accounts at a full score than the whole target cannot be held by any bar (learn_bars
/// says so): it takes the last bin, and the others share the target without it (counted, it
/// would leave no share to anyone and put every other bar over its highest score).
std::vector<size_t> shared_bars(const ScoreHistograms& h, double total, size_t floor, bool high) {
  double n = static_cast<double>(h.accounts());
  std::vector<bool> held(h.detectors().size());
  for (size_t d = 0; d < held.size(); ++d)
    held[d] = static_cast<double>(h.at_or_above(d, ScoreHistograms::bins - 1, high)) <= total * n;
  auto bars_at = [&](double share) {
    std::vector<size_t> out;
    for (size_t d = 0; d < h.detectors().size(); ++d)
      out.push_back(bar_bin(h, d, floor, share * n, high));
    return out;
  };
  auto over = [&](const std::vector<size_t>& bars) {
    double sum = 0;
    for (size_t d = 0; d < bars.size(); ++d)
      if (held[d]) sum += static_cast<double>(h.at_or_above(d, bars[d], high));
    return sum;
  };
  double lo = 0, hi = total;
  if (over(bars_at(hi)) <= total * n) return bars_at(hi);
  for (int i = 0; i < 60; ++i) {
    double mid = (lo + hi) / 2;
    (over(bars_at(mid)) <= total * n ? lo : hi) = mid;
  }
  return bars_at(lo);
}

/// Two significant digits, as scan -v shows the target: 2.2% (not 2%), 22%, 0.1%.
std::string percent(double share) {
  return fmt::format("{:.2g}%", share * 100);
}

}  // namespace

CalibrationResult learn_bars(const ScoreHistograms& h, const CalibrationOptions& o) {
  CalibrationResult r;
  r.accounts = h.accounts();
  r.target_fpr = o.target_fpr;
  double n = static_cast<double>(h.accounts());
  if (!(o.target_fpr > 0 && o.target_fpr < 1))
    throw CalibrationError(
        fmt::format("--target-fpr {} is not a share between 0 and 1", o.target_fpr));
  if (n * o.target_fpr < o.min_expected) {
    double widened = n > 0 ? o.min_expected / n : 1;
    std::string needed = fmt::format(
        "{} accounts cannot calibrate a target of {}: a bar there rests on {:.2g} accounts and "
        "should rest on {:.0f} or more ({} accounts)",
        with_commas(h.accounts()), percent(o.target_fpr), n * o.target_fpr, o.min_expected,
        with_commas(static_cast<uint64_t>(std::ceil(o.min_expected / o.target_fpr))));
    if (!o.widen || widened > 0.1)
      throw CalibrationError(
          needed + (widened > 0.1
                        ? " (too few to calibrate at all)"
                        : fmt::format("; --widen calibrates at {} instead", percent(widened))));
    r.target_fpr = widened;
    r.warnings.push_back(fmt::format("{}; widened to {} (--widen)", needed, percent(widened)));
  }
  r.medium_share = std::min(0.5, r.target_fpr * o.medium_factor);
  std::vector<size_t> high = shared_bars(h, r.target_fpr, bin_of(o.min_high_bar), true);
  std::vector<size_t> medium = shared_bars(h, r.medium_share, bin_of(o.min_medium_bar), false);
  for (size_t d = 0; d < h.detectors().size(); ++d) {
    DetectorBars b;
    b.detector = h.detectors()[d];
    b.bars.high = static_cast<double>(high[d]) / 1000;
    b.bars.medium = std::min(static_cast<double>(medium[d]) / 1000, b.bars.high - 0.01);
    b.fired = h.fired(d);
    b.at_high = h.at_or_above(d, high[d], true);
    b.at_medium = h.at_or_above(d, bin_of(b.bars.medium));
    b.over_default = h.at_or_above(d, 750, true);
    b.p99 = h.quantile(d, 0.99);
    b.p999 = h.quantile(d, 0.999);
    b.p9999 = h.quantile(d, 0.9999);
    b.max = h.quantile(d, 1);
    b.saturated = static_cast<double>(b.at_high) > r.target_fpr * n;
    if (b.saturated)
      r.warnings.push_back(fmt::format(
          "{}: {} accounts reach a full score, more than {} allows: no bar holds it to the target "
          "(turn it off, or allow-list those accounts, if they are what you vouch for)",
          b.detector, with_commas(b.at_high), percent(r.target_fpr)));
    if (b.bars.high > 0.75 && b.over_default > 0) {
      b.lifting = h.top(d);
      std::vector<std::string> named;
      for (const RuleScore& s : b.lifting)
        // Keys come from the logs: made safe for a terminal (stderr) and a rules file's comment.
        named.push_back(fmt::format("\"{}\" {:.2f}", printable(s.rule), s.score));
      r.warnings.push_back(fmt::format(
          "{}: the high bar rose from 0.75 to {:.3f}: {} score{} 0.75 or more ({}); if any is a "
          "campaign, calibrate again without it",
          b.detector, b.bars.high,
          b.over_default == 1 ? std::string("1 account")
                              : fmt::format("{} accounts", with_commas(b.over_default)),
          b.over_default == 1 ? "s" : "", fmt::join(named, ", ")));
    }
    r.detectors.push_back(std::move(b));
  }
  return r;
}

SeverityBars* bars_of(RuleSet& rules, std::string_view d) {
  if (d == "volume_spike") return &rules.volume_spike.bars;
  if (d == "prompt_templating") return &rules.prompt_templating.bars;
  if (d == "distillation_sweep") return &rules.distillation_sweep.bars;
  if (d == "logit_probe") return &rules.logit_probe.bars;
  if (d == "release_chasing") return &rules.release_chasing.bars;
  if (d == "quota_hugging") return &rules.quota_hugging.bars;
  return nullptr;
}

std::string calibrated_rules_toml(RuleSet rules, const CalibrationResult& r,
                                  const CalibrationSource& src) {
  std::string out = fmt::format(
      "# Calibrated by {} on {} accounts ({} events, {} to {}){}.\n"
      "# Bars set so that at most {} of these accounts reach high and {} medium (the union\n"
      "# over the detectors). Scan with `exfilscan scan{} --rules THIS_FILE` (accounts by {}, as\n"
      "# here); calibrate again when the traffic changes (docs/detection.md, \"Calibration\").\n"
      "#\n"
      "# detector             fired   p99    p99.9  p99.99 max    medium high   at medium at "
      "high\n",
      src.build, with_commas(r.accounts), with_commas(src.events), src.from, src.until,
      src.clusters ? fmt::format(", {} clusters of keys (a key takes its cluster's pooled score)",
                                 src.clusters)
                   : "",
      percent(r.target_fpr), percent(r.medium_share),
      src.group_by == "api_key" ? std::string() : fmt::format(" --group-by {}", src.group_by),
      src.group_by);
  for (const DetectorBars& b : r.detectors) {
    out += fmt::format(
        "# {:<20} {:>7} {:.3f}  {:.3f}  {:.3f}  {:.3f}  {:.3f}  {:.3f}  {:>9} {:>7}\n", b.detector,
        b.fired, b.p99, b.p999, b.p9999, b.max, b.bars.medium, b.bars.high, b.at_medium, b.at_high);
    if (SeverityBars* bars = bars_of(rules, b.detector)) *bars = b.bars;
  }
  for (const std::string& w : r.warnings) out += "# warning: " + w + "\n";
  out += "\n";
  rules.calibration.name = src.name;
  rules.calibration.target_fpr = r.target_fpr;
  rules.calibration.accounts = r.accounts;
  out += rules_toml(rules);
  return out;
}

}  // namespace exfilscan
