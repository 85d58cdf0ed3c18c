#pragma once
/// Internal: the logit_probe detector: one prompt sent with many logit_bias maps, or echo with
/// logprobs, to harvest token probabilities.

#include "detectors/verdict.h"

namespace exfilscan::detail {

Verdict evaluate_logit_probe(const LogitProbeRule& rule, const Account& account);

}  // namespace exfilscan::detail
