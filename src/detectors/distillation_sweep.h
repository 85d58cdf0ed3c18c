#pragma once
/// Internal: the distillation_sweep detector: instruction-style, diverse, single-turn traffic at
/// a machine's cadence, as a distillation harvest sends it.

#include "detectors/verdict.h"

namespace exfilscan::detail {

/// On the window and on the day horizon (`day_ns` of windows `window_ns` long): the stronger.
Verdict evaluate_sweep(const SweepRule& rule, const Account& account, int64_t window_ns,
                       int64_t day_ns);

}  // namespace exfilscan::detail
