#pragma once
/// Internal: the built-in detectors. Each looks at one account's current window (and history)
/// and returns its verdict with the metrics behind it, fired or not (so `explain` can show why).

#include "engine/account_state.h"

#include <exfilscan/rules/rules.h>

#include <array>
#include <initializer_list>
#include <vector>

namespace exfilscan::detail {

/// A verdict's metrics, named by literals: judging allocates nothing until a verdict is kept
/// (a finding, or `explain`), and most verdicts are not.
class VerdictMetrics {
 public:
  struct Item {
    const char* name;
    double value;
  };
  VerdictMetrics() = default;
  VerdictMetrics(std::initializer_list<Item> items) {
    for (const Item& m : items) push_back(m);
  }
  void push_back(Item m) {
    if (size_ < items_.size()) items_[size_++] = m;
  }
  const Item* begin() const { return items_.data(); }
  const Item* end() const { return items_.data() + size_; }
  std::vector<Metric> to_vector() const {
    std::vector<Metric> out;
    for (const Item& m : *this) out.push_back({m.name, m.value});
    return out;
  }

 private:
  std::array<Item, 16> items_{};
  size_t size_ = 0;
};

struct Verdict {
  bool fired = false;
  double score = 0;
  VerdictMetrics metrics;
  std::string reason;
  std::string template_text;
};

/// What all accounts do in a window, as of the last hourly upkeep (it changes only there, so
/// its quantiles are taken once then, not at every judgement).
struct PopulationView {
  uint64_t windows = 0;          // account-windows in the distribution
  double peers = 0;              // its peer_quantile, in completion tokens per window
  double new_account_q = 0;      // the quantile the volume_spike rule judges new accounts by
  int64_t since_ns = INT64_MAX;  // when it reached min_population_windows
  void update(const LogHistogram& population, const VolumeSpikeRule& rule, int64_t since);
};

/// `population.since_ns`: when the population distribution became usable (min_population_windows
/// account-windows).
/// New accounts are judged only after it, and an account first seen within `warmup` of it cannot
/// be told from an old one that the input caught mid-way.
Verdict evaluate_volume_spike(const VolumeSpikeRule& rule, const Account& account,
                              const PopulationView& population);
Verdict evaluate_templating(const TemplatingRule& rule, const Account& account);
Verdict evaluate_sweep(const SweepRule& rule, const Account& account);
Verdict evaluate_logit_probe(const LogitProbeRule& rule, const Account& account);

/// Index of the account's template with most matches in the window, or -1.
int top_template(const Account& account);

}  // namespace exfilscan::detail
