#pragma once
/// Internal: the built-in detectors, in the order their verdicts are judged and their findings
/// ordered. A new detector is one line in registry.cpp.

#include "detectors/detector.h"

#include <memory>
#include <vector>

namespace exfilscan::detail {

struct PopulationView;

using DetectorList = std::vector<std::unique_ptr<Detector>>;

/// Every built-in detector, enabled or not, reading `rules` and `population` (which must outlive
/// them).
DetectorList make_detectors(const RuleSet& rules, const PopulationView& population);

}  // namespace exfilscan::detail
