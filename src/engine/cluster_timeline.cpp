/// The cluster stage's hours: every partition's latest snapshot of profiles, linked hour by hour
/// through the engine's linker, and each partition's record offsets mapped to their hours.

#include <exfilscan/engine/cluster_timeline.h>
#include <exfilscan/hash.h>
#include <exfilscan/state.h>

#include "engine/key_linker.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace exfilscan {

struct ClusterTimeline::Impl {
  const RuleSet& rules;
  uint64_t fingerprint;
  // (partition, hour) -> the profiles a member published then; partition -> hour -> its end.
  std::map<std::pair<int32_t, int64_t>, std::vector<KeyProfile>> snapshots;
  std::map<int32_t, std::map<int64_t, ProfileMessage>> ends;
  size_t profiles = 0;
  // Linked: each hour's clusters and the hashes of their members.
  std::vector<int64_t> hours;
  std::vector<std::vector<detail::KeyCluster>> clusters;
  std::vector<std::unordered_set<uint64_t>> members;
  // partition -> (offset of its first record after the hour's upkeep, index into hours)
  std::map<int32_t, std::vector<std::pair<int64_t, size_t>>> segments;
  std::map<std::string, std::string> last_cluster;
  std::set<uint64_t> ids;
};

ClusterTimeline::ClusterTimeline(const RuleSet& rules, uint64_t rules_fingerprint)
    : impl_(std::make_unique<Impl>(
          Impl{rules, rules_fingerprint, {}, {}, 0, {}, {}, {}, {}, {}, {}})) {}
ClusterTimeline::~ClusterTimeline() = default;

void ClusterTimeline::add(std::string_view message) {
  add(decode_profile_message(message));
}

void ClusterTimeline::add(const ProfileMessage& m) {
  if (m.rules_fingerprint != impl_->fingerprint)
    throw StateError(
        "profiles made under other rules (or another --group-by, --max-skew): the members and "
        "the stage must judge with the same");
  int64_t hour = m.hour_ns - m.hour_ns % ns_per_hour;
  if (m.kind == ProfileMessage::Kind::hour_end) {
    impl_->ends[m.partition][hour] = m;
    return;
  }
  impl_->snapshots[{m.partition, hour}].push_back(m.profile);
  ++impl_->profiles;
}

void ClusterTimeline::link() {
  Impl& t = *impl_;
  // A member restarted from a checkpoint publishes the hours after it again: a key's later
  // profile of an hour replaces its earlier one (a key's messages are on one partition of the
  // profiles topic, so they come in the order they were produced).
  for (auto& [at, keys] : t.snapshots) {
    std::stable_sort(keys.begin(), keys.end(),
                     [](const KeyProfile& a, const KeyProfile& b) { return a.key < b.key; });
    std::vector<KeyProfile> latest;
    for (size_t i = 0; i < keys.size(); ++i)
      if (i + 1 == keys.size() || keys[i + 1].key != keys[i].key)
        latest.push_back(std::move(keys[i]));
    keys = std::move(latest);
  }
  std::set<int64_t> hours;
  for (const auto& [p, by_hour] : t.ends)
    for (const auto& [h, end] : by_hour) hours.insert(h);
  std::unordered_map<std::string, uint64_t> previous;  // a key's cluster so far, as its account's
  for (int64_t hour : hours) {
    // Each partition's latest snapshot at or before the hour: a partition whose member had no
    // upkeep in it (no record that hour) keeps its keys as they were.
    std::vector<const KeyProfile*> keys;
    int64_t start = INT64_MAX;
    for (const auto& [p, by_hour] : t.ends) {
      auto end = by_hour.upper_bound(hour);
      if (end == by_hour.begin()) continue;
      --end;
      start = std::min(start, end->second.start_ns);
      auto snap = t.snapshots.find({p, end->first});
      if (snap == t.snapshots.end()) continue;
      for (const KeyProfile& k : snap->second)
        if (k.link_requests >= t.rules.clusters.min_key_requests) keys.push_back(&k);
    }
    std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return a->key < b->key; });
    keys.erase(
        std::unique(keys.begin(), keys.end(), [](auto* a, auto* b) { return a->key == b->key; }),
        keys.end());
    std::vector<detail::LinkCandidate> candidates;
    candidates.reserve(keys.size());
    std::unordered_map<std::string, uint64_t> still;  // keys a member holds keep their cluster
    for (const KeyProfile* k : keys) {
      candidates.push_back(detail::candidate_of(*k, start, t.rules.clusters));
      auto was = previous.find(k->key);
      if (was != previous.end()) {
        candidates.back().previous = was->second;
        still.insert(*was);
      }
    }
    std::vector<detail::KeyCluster> linked = t.rules.clusters.enabled
                                                 ? detail::link_keys(candidates, t.rules.clusters)
                                                 : std::vector<detail::KeyCluster>{};
    previous = std::move(still);  // a key no member holds any more was forgotten
    std::unordered_set<uint64_t> in;
    for (const detail::KeyCluster& c : linked) {
      t.ids.insert(c.id);
      for (const std::string& m : c.members) {
        previous[m] = c.id;
        in.insert(hash_bytes(m));
        t.last_cluster[m] = c.key;
      }
    }
    t.hours.push_back(hour);
    t.clusters.push_back(std::move(linked));
    t.members.push_back(std::move(in));
  }
  for (const auto& [p, by_hour] : t.ends) {
    auto& seg = t.segments[p];
    for (const auto& [h, end] : by_hour) {
      size_t i = static_cast<size_t>(std::lower_bound(t.hours.begin(), t.hours.end(), h) -
                                     t.hours.begin());
      seg.emplace_back(end.offset, i);
    }
    // In offset order; an hour that ends where a later one does (no record between) gives way.
    std::stable_sort(seg.begin(), seg.end());
  }
}

const std::vector<detail::KeyCluster>* ClusterTimeline::clusters_at(int64_t at) const {
  const Impl& t = *impl_;
  auto it = std::upper_bound(t.hours.begin(), t.hours.end(), at);
  if (it == t.hours.begin()) return nullptr;
  return &t.clusters[static_cast<size_t>(it - t.hours.begin()) - 1];
}

bool ClusterTimeline::wanted(int32_t partition, int64_t offset, std::string_view key) const {
  const Impl& t = *impl_;
  auto seg = t.segments.find(partition);
  if (seg == t.segments.end()) return false;
  const auto& s = seg->second;
  auto it = std::upper_bound(s.begin(), s.end(), std::pair{offset, SIZE_MAX});
  if (it == s.begin()) return false;  // judged before the first upkeep: in no cluster
  return t.members[std::prev(it)->second].contains(hash_bytes(key));
}

std::vector<std::pair<std::string, std::string>> ClusterTimeline::members() const {
  return {impl_->last_cluster.begin(), impl_->last_cluster.end()};
}

std::vector<AccountSummary> ClusterTimeline::with_members(std::vector<AccountSummary> ranking,
                                                          std::string_view key_kind) const {
  std::map<std::string_view, std::vector<std::string_view>> of;  // cluster -> its keys, sorted
  for (const auto& [key, cluster] : impl_->last_cluster) of[cluster].push_back(key);
  std::vector<AccountSummary> out;
  for (AccountSummary& row : ranking) {
    out.push_back(std::move(row));
    const AccountSummary c = out.back();  // a copy: the members' rows grow `out`
    auto keys = of.find(c.key);
    if (c.key_kind != "cluster" || c.rules.empty() || keys == of.end()) continue;
    for (std::string_view key : keys->second) {
      AccountSummary m;
      m.key = std::string(key);
      m.key_kind = std::string(key_kind);
      m.risk = m.cluster_risk = c.risk;
      m.severity = c.severity;
      m.top_rule = c.top_rule;
      m.rules = c.rules;
      m.cluster = c.key;
      out.push_back(std::move(m));
    }
  }
  return out;
}

size_t ClusterTimeline::hours() const {
  return impl_->hours.size();
}
size_t ClusterTimeline::profiles() const {
  return impl_->profiles;
}
size_t ClusterTimeline::clusters() const {
  return impl_->ids.size();
}

}  // namespace exfilscan
