#pragma once
/// Internal: the built-in detectors. Each looks at one account's current window (and history)
/// and returns its verdict with the metrics behind it, fired or not (so `explain` can show why).

#include "account_state.h"

#include <exfilscan/rules.h>

namespace exfilscan::detail {

struct Verdict {
  bool fired = false;
  double score = 0;
  std::vector<Metric> metrics;
  std::string reason;
  std::string template_text;
};

/// `population_since_ns`: when the population distribution became usable (200 account-windows).
/// New accounts are judged only after it, and an account first seen within `warmup` of it cannot
/// be told from an old one that the input caught mid-way.
Verdict evaluate_volume_spike(const VolumeSpikeRule& rule, const Account& account,
                              const LogHistogram& population, int64_t population_since_ns);
Verdict evaluate_templating(const TemplatingRule& rule, const Account& account);
Verdict evaluate_sweep(const SweepRule& rule, const Account& account);
Verdict evaluate_logit_probe(const LogitProbeRule& rule, const Account& account);

/// Index of the account's template with most matches in the window, or -1.
int top_template(const Account& account);

}  // namespace exfilscan::detail
