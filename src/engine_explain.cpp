/// What `exfilscan explain` sees of a shard: every detector's verdict on each closing window of
/// the explained account.

#include "engine_shard.h"

namespace exfilscan {

void detail::Shard::explain(const Account& a) {
  auto report = [&](const char* name, bool enabled, Verdict v) {
    Explanation e;
    e.key = a.key;
    e.detector = name;
    e.enabled = enabled;
    e.window_start_ns = a.window.start_ns;
    e.window_end_ns = a.window.last_ns;
    e.fired = v.fired;
    e.score = v.score;
    e.metrics = v.metrics.to_vector();
    e.reason = std::move(v.reason);
    e.template_text = std::move(v.template_text);
    options.explain(e);
  };
  report("volume_spike", rules.volume_spike.enabled,
         evaluate_volume_spike(rules.volume_spike, a, population));
  report("prompt_templating", rules.prompt_templating.enabled,
         evaluate_templating(rules.prompt_templating, a));
  report("distillation_sweep", rules.distillation_sweep.enabled,
         evaluate_sweep(rules.distillation_sweep, a));
  report("logit_probe", rules.logit_probe.enabled, evaluate_logit_probe(rules.logit_probe, a));
}

}  // namespace exfilscan
