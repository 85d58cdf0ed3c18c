#pragma once
/// Internal: the volume_spike detector: an account's completion tokens in a window against its
/// own baseline, or, for a new or dormant account, against what the population does.

#include "detectors/verdict.h"

#include <climits>
#include <cstdint>
#include <memory>

namespace exfilscan::detail {

/// What all accounts do in a window, as of the last hourly upkeep (it changes only there, so
/// its quantiles are taken once then, not at every judgement).
struct PopulationView {
  uint64_t windows = 0;          // account-windows in the distribution
  double peers = 0;              // its peer_quantile, in completion tokens per window
  double new_account_q = 0;      // the quantile the volume_spike rule judges new accounts by
  int64_t since_ns = INT64_MAX;  // when it reached min_population_windows
  void update(const LogHistogram& population, const VolumeSpikeRule& rule, int64_t since);
};

class Detector;

/// `population.since_ns`: when the population distribution became usable (min_population_windows
/// account-windows). New accounts are judged only after it, and an account first seen within
/// `warmup` of it cannot be told from an old one that the input caught mid-way.
std::unique_ptr<Detector> make_volume_spike(const RuleSet& rules, const PopulationView& population);

}  // namespace exfilscan::detail
