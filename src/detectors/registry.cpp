#include "detectors/registry.h"

#include "detectors/distillation_sweep.h"
#include "detectors/logit_probe.h"
#include "detectors/prompt_templating.h"
#include "detectors/quota_hugging.h"
#include "detectors/release_chasing.h"
#include "detectors/volume_spike.h"

namespace exfilscan::detail {

DetectorList make_detectors(const RuleSet& rules, const PopulationView& population,
                            const ModelReleases& releases) {
  DetectorList d;
  d.push_back(make_volume_spike(rules, population));
  d.push_back(make_prompt_templating(rules));
  d.push_back(make_distillation_sweep(rules));
  d.push_back(make_logit_probe(rules));
  d.push_back(make_release_chasing(rules, releases));
  d.push_back(make_quota_hugging(rules));
  return d;
}

}  // namespace exfilscan::detail
