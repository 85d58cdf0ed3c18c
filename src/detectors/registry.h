#pragma once
/// Internal: the built-in detectors, in the order their verdicts are judged and their findings
/// ordered. A new detector is one line in registry.cpp.

#include "detectors/detector.h"

#include <memory>
#include <vector>

namespace exfilscan::detail {

struct PopulationView;
struct ModelReleases;

using DetectorList = std::vector<std::unique_ptr<Detector>>;

/// Every built-in detector, enabled or not, reading `rules`, `population` and `releases` (which
/// must outlive them).
DetectorList make_detectors(const RuleSet& rules, const PopulationView& population,
                            const ModelReleases& releases);

}  // namespace exfilscan::detail
