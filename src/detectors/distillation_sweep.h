#pragma once
/// Internal: the distillation_sweep detector: instruction-style, diverse, single-turn traffic at
/// a machine's cadence, as a distillation harvest sends it.

#include "detectors/verdict.h"

namespace exfilscan::detail {

/// On the window and on the day horizon (settings.day of windows): the stronger.
Verdict evaluate_sweep(const SweepRule& rule, const Settings& settings, const Account& account);

}  // namespace exfilscan::detail
