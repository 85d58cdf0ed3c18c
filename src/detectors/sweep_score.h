#pragma once
/// Internal: the distillation sweep's weighted signals on one horizon's pooled evidence, shared
/// by the sweep and by the detectors that want sweep evidence beside their own (release chasing).

#include "detectors/verdict.h"

namespace exfilscan::detail {

/// Over a horizon of several windows, its windows with traffic and the windows it spans: the
/// share of the time with traffic, once it spans cadence_min_windows (decayed, for the history).
struct Spread {
  double active = 0, spanned = 0;
  int64_t span_ns = -1;  // the time its evidence covers, when not its first to last window's
};

/// A day's spread: from a day before the current window, or the account's (or part's) first.
Spread day_spread(const Settings& settings, const PooledEvidence& e, int64_t first_seen_ns);

/// The sweep's verdict on one horizon's pooled evidence (its `score` metric whether it fired or
/// not). `spread`: none for the window, whose cadence is the share of its sixtieths with traffic.
/// `shared`: for a cluster's pooled account, the share of its distinct prompts two members or
/// more sent (negative: not known, or not a cluster's).
Verdict judge_sweep(const SweepRule& rule, const Settings& settings, const Account& a,
                    const PooledEvidence& e, const Spread* spread, double shared = -1);

/// The sweep's highest score on the account's window, day and history, of the horizons with at
/// least the sweep's min_requests (0 when none has them): the key's sweep evidence, fired or not.
double sweep_score(const SweepRule& rule, const Settings& settings, const Account& a);

}  // namespace exfilscan::detail
