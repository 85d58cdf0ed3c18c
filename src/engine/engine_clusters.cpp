/// The cluster stage of the hourly upkeep: every key's link profile to the linker, its
/// clusters to the shards (routing, and each member's pointer to its cluster).

#include "engine/engine_merger.h"

#include <algorithm>

namespace exfilscan {

using detail::Account;

void DetectionEngine::Impl::link_clusters() {
  const ClusterRule& rule = shared.rules.clusters;
  if (!rule.enabled) return;
  // The hour gone: each member is credited with its cluster's risk as it stands.
  for (const detail::KeyCluster& c : shared.clusters) {
    detail::Shard& owner = *shards[shared.owner(c.key)];
    const Account* pooled = owner.accounts.find(c.key);
    if (!pooled) continue;
    double risk = owner.risk_of(*pooled);
    for (const std::string& m : c.members)
      if (Account* a = shards[shared.owner(m)]->accounts.find(m))
        a->cluster_risk = std::max(a->cluster_risk, risk);
  }
  std::vector<Account*> keys;
  for (auto& sh : shards)
    for (auto& [k, a] : sh->accounts)
      if (!a.pooled && a.links.requests >= rule.min_key_requests) keys.push_back(&a);
  std::sort(keys.begin(), keys.end(), [](auto* x, auto* y) { return x->key < y->key; });
  std::vector<detail::LinkCandidate> candidates;
  candidates.reserve(keys.size());
  const int64_t settled =
      shared.logs_start_ns == INT64_MAX ? INT64_MAX : shared.logs_start_ns + rule.settled_ns;
  for (Account* a : keys) {
    const detail::LinkProfile& p = a->links;
    detail::LinkCandidate c;
    c.key = a->key;
    c.first_seen_ns = a->first_seen_ns;
    c.in_wave = a->first_seen_ns >= settled;
    double share = rule.dominant_share;
    c.system = p.system.dominant(p.requests, share);
    c.shape = p.shape.dominant(p.requests, share);
    c.net = p.net.dominant(p.requests, share);
    c.agent = p.agent.dominant(p.requests, share);
    c.org = a->org.empty() ? 0 : hash_bytes(a->org) | 1;
    c.previous = a->cluster;
    c.requests = p.requests;
    candidates.push_back(c);
  }
  shared.clusters = detail::link_keys(candidates, rule);
  shared.cluster_of.clear();
  shared.cluster_by_id.clear();
  for (uint32_t i = 0; i < shared.clusters.size(); ++i) {
    const detail::KeyCluster& c = shared.clusters[i];
    shared.cluster_by_id.emplace(c.id, i);
    const std::string& key = c.key;
    if (Account* pooled = shards[shared.owner(key)]->accounts.find(key))
      pooled->members = c.members.size();
    for (const std::string& m : c.members) {
      shared.cluster_of.emplace(hash_bytes(m), i);
      shards[shared.owner(m)]->accounts.find(m)->cluster = c.id;
    }
  }
}

}  // namespace exfilscan
