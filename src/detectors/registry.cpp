#include "detectors/registry.h"

#include "detectors/distillation_sweep.h"
#include "detectors/logit_probe.h"
#include "detectors/prompt_templating.h"
#include "detectors/volume_spike.h"

namespace exfilscan::detail {

DetectorList make_detectors(const RuleSet& rules, const PopulationView& population) {
  DetectorList d;
  d.push_back(make_volume_spike(rules, population));
  d.push_back(make_prompt_templating(rules));
  d.push_back(make_distillation_sweep(rules));
  d.push_back(make_logit_probe(rules));
  return d;
}

}  // namespace exfilscan::detail
