#pragma once
/// Internal: the logit_probe detector: one prompt sent with many logit_bias maps, or echo with
/// logprobs, to harvest token probabilities.

#include "detectors/verdict.h"

#include <memory>

namespace exfilscan::detail {

class Detector;

std::unique_ptr<Detector> make_logit_probe(const RuleSet& rules);

}  // namespace exfilscan::detail
