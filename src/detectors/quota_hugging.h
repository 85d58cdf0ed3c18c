#pragma once
/// Internal: the quota_hugging detector: an account held at a steady high fraction of its own
/// observed ceiling, window after window, with HTTP 429s at its edge; above all a cluster's
/// pooled account (its keys held under a limit together).

#include "detectors/verdict.h"

#include <memory>

namespace exfilscan::detail {

class Detector;

std::unique_ptr<Detector> make_quota_hugging(const RuleSet& rules);

}  // namespace exfilscan::detail
