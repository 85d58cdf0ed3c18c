/// The cluster stage of the hourly upkeep: every key's link profile to the linker, its
/// clusters to the shards (routing, and each member's pointer to its cluster).

#include "engine/engine_merger.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace exfilscan {

using detail::Account;

KeyProfile DetectionEngine::Impl::profile_of(const Account& a) const {
  const ClusterRule& rule = shared.rules.clusters;
  const detail::LinkProfile& p = a.links;
  KeyProfile k;
  k.key = a.key;
  k.first_seen_ns = a.first_seen_ns;
  k.last_seen_ns = a.last_seen_ns;
  k.requests = a.requests;
  k.link_requests = p.requests;
  double share = rule.dominant_share;
  k.system = p.system.dominant(p.requests, share);
  k.shape = p.shape.dominant(p.requests, share);
  k.net = p.net.dominant(p.requests, share);
  k.agent = p.agent.dominant(p.requests, share);
  k.org = a.org.empty() ? 0 : hash_bytes(a.org) | 1;
  return k;
}

int64_t DetectionEngine::Impl::links_start() const {
  // The logs begin at their current stretch: old stray lines a day or more before the traffic
  // (release_chasing's restart_after) do not make every key new.
  return shared.releases.since_ns != INT64_MAX ? shared.releases.since_ns : shared.logs_start_ns;
}

detail::LinkCandidate DetectionEngine::Impl::candidate_of(const Account& a) const {
  // The linker sees a key as its profile, the one members publish to a cluster stage.
  detail::LinkCandidate c =
      detail::candidate_of(profile_of(a), links_start(), shared.rules.clusters);
  c.key = a.key;  // (the profile is a temporary: the candidate views the account's own key)
  c.previous = a.cluster;
  return c;
}

void DetectionEngine::Impl::link_clusters(int64_t at) {
  const ClusterRule& rule = shared.rules.clusters;
  if (!rule.enabled) return;
  std::vector<Account*> keys;
  for (auto& sh : shards)
    for (auto& [k, a] : sh->accounts)
      if (a.links.requests >= rule.min_key_requests) keys.push_back(&a);
  std::sort(keys.begin(), keys.end(), [](auto* x, auto* y) { return x->key < y->key; });
  if (shared.options.publish_profiles) {  // a member of a group: the cluster stage links
    // Clusters a state brought (saved before this member published profiles) are not routed
    // to any more: they are the stage's now.
    if (!shared.clusters.empty()) {
      shared.clusters.clear();
      shared.cluster_of.clear();
      shared.cluster_by_id.clear();
    }
    std::vector<KeyProfile> profiles;
    profiles.reserve(keys.size());
    for (Account* a : keys) profiles.push_back(profile_of(*a));
    shared.options.publish_profiles(at, std::move(profiles), links_start());
    return;
  }
  // The hour gone: each member is credited with its cluster's risk as it stands.
  for (const detail::KeyCluster& c : shared.clusters) {
    detail::Shard& owner = *shards[shared.owner(c.key)];
    const Account* pooled = owner.pools.find(c.key);
    if (!pooled) continue;
    double risk = owner.risk_of(*pooled);
    for (const std::string& m : c.members)
      if (Account* a = shards[shared.owner(m)]->accounts.find(m))
        a->cluster_risk = std::max(a->cluster_risk, risk);
  }
  if (shared.options.clusters_at) {  // the cluster stage: linked from the members' profiles
    const std::vector<detail::KeyCluster>* linked = shared.options.clusters_at(at);
    shared.clusters = linked ? *linked : std::vector<detail::KeyCluster>{};
  } else {
    std::vector<detail::LinkCandidate> candidates;
    candidates.reserve(keys.size());
    for (Account* a : keys) candidates.push_back(candidate_of(*a));
    shared.clusters = detail::link_keys(candidates, rule);
  }
  shared.cluster_of.clear();
  shared.cluster_by_id.clear();
  for (uint32_t i = 0; i < shared.clusters.size(); ++i) {
    const detail::KeyCluster& c = shared.clusters[i];
    shared.cluster_by_id.emplace(c.id, i);
    const std::string& key = c.key;
    if (Account* pooled = shards[shared.owner(key)]->pools.find(key))
      pooled->members = c.members.size();
    for (const std::string& m : c.members) {
      shared.cluster_of.emplace(hash_bytes(m), i);
      if (Account* a = shards[shared.owner(m)]->accounts.find(m)) a->cluster = c.id;
    }
  }
}

std::optional<ClusterTies> DetectionEngine::cluster_ties(std::string_view key) const {
  const detail::SharedState& shared = impl_->shared;
  const detail::KeyCluster* c = shared.cluster_of_key(key);
  for (const detail::KeyCluster& k : shared.clusters)
    if (k.key == key) c = &k;
  if (!c) return std::nullopt;
  ClusterTies t;
  t.cluster = c->key;
  t.links = c->links.describe();
  t.keys = c->members.size();
  size_t n = std::min<size_t>(c->members.size(), shared.rules.clusters.max_listed_keys);
  t.members.assign(c->members.begin(), c->members.begin() + static_cast<std::ptrdiff_t>(n));
  auto account = [&](std::string_view k) -> const Account* {
    return impl_->shards[shared.owner(k)]->accounts.find(k);
  };
  const Account* self = c->key == key ? nullptr : account(key);  // a cluster's key: its own
  if (!self) return t;
  detail::LinkCandidate me = impl_->candidate_of(*self);
  size_t system = 0, shape = 0, net = 0, agent = 0, org = 0, wave = 0;
  const int64_t width = shared.rules.clusters.wave_ns;
  for (const std::string& m : c->members) {
    const Account* a = account(m);
    if (!a || m == key) continue;
    detail::LinkCandidate o = impl_->candidate_of(*a);
    system += me.system && o.system == me.system;
    shape += me.shape && o.shape == me.shape;
    net += me.net && o.net == me.net;
    agent += me.agent && o.agent == me.agent;
    org += me.org && o.org == me.org;
    wave += me.in_wave && o.in_wave && std::abs(o.first_seen_ns - me.first_seen_ns) < width;
  }
  auto line = [&](size_t count, std::string what) {
    if (count > 0)
      t.shared.push_back(
          fmt::format("{}: shared with {} of the other {} keys", what, count, t.keys - 1));
  };
  line(wave, fmt::format("first seen within {} of each other", format_duration(width)));
  line(system, fmt::format("system prompt {:08x}", me.system >> 32));
  line(shape, "one request shape (model, endpoint, sampling parameters)");
  line(net, "one /24");
  line(agent, "one user agent");
  line(org, "one org");
  return t;
}

}  // namespace exfilscan
