#pragma once
/// Internal: the distillation_sweep detector: instruction-style, diverse, single-turn traffic at
/// a machine's cadence, as a distillation harvest sends it.

#include "detectors/verdict.h"

#include <memory>

namespace exfilscan::detail {

class Detector;

/// Judged on the window and on the day horizon (settings.day of windows): the stronger.
std::unique_ptr<Detector> make_distillation_sweep(const RuleSet& rules);

}  // namespace exfilscan::detail
