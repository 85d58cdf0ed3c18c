/// DetectionEngine's public methods: they hand over to the merger and gather from its shards.

#include "engine/engine_merger.h"

#include <algorithm>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace exfilscan {

using detail::ranks_above;
using detail::Shard;

DetectionEngine::DetectionEngine(RuleSet rules, EngineOptions options, FindingSink& sink)
    : impl_(std::make_unique<Impl>(std::move(rules), std::move(options), sink)) {}
DetectionEngine::~DetectionEngine() = default;

void DetectionEngine::on_event(const Event& event) {
  impl_->on_event(event);
}

void DetectionEngine::on_events(std::span<const std::span<const Event>> runs) {
  impl_->on_events(runs);
}

bool DetectionEngine::uses_threads() const {
  return impl_->shards.size() > 1;
}

void DetectionEngine::save_state(StateWriter& out) const {
  impl_->save(out);
}
void DetectionEngine::load_state(StateReader& in) {
  impl_->load(in);
}

void DetectionEngine::finish(bool close_windows) {
  if (!close_windows) return;  // held events wait in the state for the next run
  impl_->finish_clock();
  // On this thread, in key order over every shard: the order one shard would close them in.
  // (A cluster's pooled account after a key of the same name.)
  std::vector<std::tuple<std::string_view, bool, Shard*>> keys;
  for (auto& sh : impl_->shards)
    for (bool pooled : {false, true})
      for (auto& [k, a] : sh->table(pooled)) keys.emplace_back(k, pooled, sh.get());
  std::sort(keys.begin(), keys.end());
  for (auto& sh : impl_->shards) sh->direct = true;
  for (auto& [k, pooled, sh] : keys) sh->close_window(*sh->table(pooled).find(k));
}

std::vector<AccountSummary> DetectionEngine::ranking(size_t top_other) const {
  // One row per account, sorted in place: copied into two more vectors as they grew, the rows
  // were a fifth of a key flood's peak memory (issue 17; tests/cli/memory_faults.sh).
  std::vector<AccountSummary> all;
  size_t rows = 0;
  for (const auto& sh : impl_->shards)
    rows += sh->accounts.size() + sh->retired.size() + sh->pools.size() + sh->retired_pools.size();
  all.reserve(rows);
  for (const auto& sh : impl_->shards) {
    for (bool pooled : {false, true}) {
      for (const auto& [k, a] : sh->table(pooled)) {
        // An account a --state carries that had no request in this run is busy in none of it.
        if (a.fired.empty() && a.run_requests == 0) continue;
        all.push_back(sh->summarize(a));
      }
      for (const auto& [k, s] : pooled ? sh->retired_pools : sh->retired)
        if (!sh->table(pooled).contains(k)) all.push_back(s);
    }
  }
  // A member of a flagged cluster ranks with the risk its cluster had while it was a member
  // (credited at each linking, and now for the clusters in force): the pooled evidence is its.
  std::unordered_map<std::string_view, const AccountSummary*> clusters;
  for (const AccountSummary& s : all)
    if (s.key_kind == "cluster" && !s.rules.empty()) clusters.emplace(s.key, &s);
  std::vector<std::pair<size_t, const AccountSummary*>> lifted;
  for (size_t i = 0; i < all.size(); ++i) {
    AccountSummary& s = all[i];
    if (s.cluster.empty()) continue;
    auto c = clusters.find(s.cluster);
    const detail::KeyCluster* now = impl_->shared.cluster_of_key(s.key);
    if (c != clusters.end() && now && now->key == s.cluster)
      s.cluster_risk = std::max(s.cluster_risk, c->second->risk);
    if (s.cluster_risk > s.risk) lifted.emplace_back(i, c != clusters.end() ? c->second : nullptr);
  }
  for (auto [i, c] : lifted) {
    AccountSummary& s = all[i];
    s.risk = s.cluster_risk;
    s.severity = severity_of_score(s.risk);
    if (!c) continue;
    s.top_rule = c->top_rule;
    for (const std::string& r : c->rules)
      if (std::find(s.rules.begin(), s.rules.end(), r) == s.rules.end()) s.rules.push_back(r);
  }
  // A member kept after it went idle that its cluster does not lift, with no request in this
  // run (a --state carried it), is busy in none of it: not among the busiest.
  all.erase(
      std::remove_if(all.begin(), all.end(),
                     [](const AccountSummary& s) { return s.rules.empty() && s.requests == 0; }),
      all.end());
  // The flagged by rank, then the busiest others in this run: with a --state, of today, not of
  // every day it carries. Both orders are total: the key, then its kind (a cluster's pooled
  // account may be named like a key), break ties, so sorting in place gives one order.
  auto before = [](const AccountSummary& a, const AccountSummary& b) {
    if (ranks_above(a, b)) return true;
    if (ranks_above(b, a)) return false;
    return a.key_kind < b.key_kind;
  };
  auto others = std::partition(all.begin(), all.end(),
                               [](const AccountSummary& s) { return !s.rules.empty(); });
  std::sort(all.begin(), others, before);
  size_t keep = std::min<size_t>(top_other, static_cast<size_t>(all.end() - others));
  std::partial_sort(others, others + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [&](const AccountSummary& a, const AccountSummary& b) {
                      if (a.completion_tokens != b.completion_tokens)
                        return a.completion_tokens > b.completion_tokens;
                      return before(a, b);
                    });
  all.erase(others + static_cast<std::ptrdiff_t>(keep), all.end());
  all.shrink_to_fit();
  return all;
}

EngineStats DetectionEngine::stats() const {
  EngineStats s;
  s.events = impl_->events;
  s.events_out_of_range = impl_->events_out_of_range;
  s.forgotten_dropped = impl_->forgotten_dropped;
  s.events_quarantined = impl_->clock.quarantined();
  s.events_held = impl_->clock.held();
  s.accounts_peak = std::max(impl_->accounts_peak, impl_->live_accounts());
  for (const auto& sh : impl_->shards) {
    const EngineStats& x = sh->stats;
    s.events_without_account += x.events_without_account;
    s.late_events += x.late_events;
    s.accounts_seen += x.accounts_seen;
    s.accounts_active += sh->accounts.size() + sh->pools.size();
    s.accounts_expired += x.accounts_expired;
    s.accounts_evicted += x.accounts_evicted;
    s.summaries_dropped += x.summaries_dropped;
    s.templates_replaced += sh->detector_counts.templates_replaced;
    s.parts_replaced += sh->detector_counts.parts_replaced;
    s.probes_untracked += sh->detector_counts.probes_untracked;
    s.findings += x.findings;
    s.suppressed += x.suppressed;
    for (size_t i = 0; i < s.by_severity.size(); ++i) s.by_severity[i] += x.by_severity[i];
  }
  return s;
}

bool DetectionEngine::needs_prompt_text() const {
  const RuleSet& rules = impl_->shared.rules;
  return rules.prompt_templating.enabled || rules.distillation_sweep.enabled ||
         std::any_of(rules.thresholds.begin(), rules.thresholds.end(),
                     [](const ThresholdRule& t) { return t.field == "prompt"; });
}

bool DetectionEngine::needs_turns() const {
  return impl_->shared.rules.distillation_sweep.enabled;
}

}  // namespace exfilscan
