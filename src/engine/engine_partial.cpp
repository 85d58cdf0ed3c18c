/// Parts of the engine's state (--state-dir): one Kafka partition's keys saved, added to a
/// running engine when the partition is assigned, dropped when it is revoked.

#include "engine/engine_merger.h"

#include <exfilscan/parse/account_key.h>

#include <algorithm>

namespace exfilscan {

namespace {

/// A part is loaded into an engine of its own first: load() checks every byte of it, and
/// nothing is added when it throws.
struct NoFindings : FindingSink {
  void on_finding(const Finding&) override {}
};

}  // namespace

void DetectionEngine::save_state(StateWriter& out, const KeyFilter& keep) const {
  impl_->save(out, &keep);
}

void DetectionEngine::add_state(StateReader& in) {
  impl_->add(in);
}

void DetectionEngine::forget_keys(const KeyFilter& drop) {
  impl_->forget(drop);
}

int64_t DetectionEngine::event_time() const {
  return impl_->clock.watermark();
}

void DetectionEngine::Impl::add(StateReader& r) {
  // Nothing judged, nothing loaded: the part is the whole state there is, as load() takes it.
  // Every part of one save then adds up to that save (a member restarted from its checkpoint).
  if (events == 0 && !loaded) return load(r);
  NoFindings none;
  EngineOptions options = shared.options;
  options.explain = nullptr;
  Impl other(shared.rules, options, none);
  other.load(r);
  absorb(other);
}

void DetectionEngine::Impl::absorb(Impl& other) {
  // The same number of shards: a key's shard is the same in both.
  for (size_t s = 0; s < shards.size(); ++s) {
    detail::Shard& to = *shards[s];
    detail::Shard& from = *other.shards[s];
    for (bool pooled : {false, true})
      for (auto& [k, a] : from.table(pooled)) *to.table(pooled).try_emplace(k).first = std::move(a);
    for (size_t t = 0; t < to.thresholds.size(); ++t) to.thresholds[t].absorb(from.thresholds[t]);
    for (auto& [id, f] : from.threshold_fired) *to.threshold_fired.try_emplace(id).first = f;
    for (auto& [k, summary] : from.retired) to.retired[k] = std::move(summary);
    for (auto& [k, summary] : from.retired_pools) to.retired_pools[k] = std::move(summary);
  }
  // What keys share. The clock only goes forward: the later one, so that no window is judged
  // at a time before one already judged here. The events the part holds aside are of its keys:
  // they join those held here, to be judged when the clock confirms their time.
  clock.advance_to(other.clock);
  clock.take_held(other.clock);
  shared.logs_start_ns = std::min(shared.logs_start_ns, other.shared.logs_start_ns);
  // The population of account-windows cannot be split by key (it is a histogram): each part
  // carries its saver's whole one, and the one that has seen more windows is the better guess.
  if (other.shared.population.count() > shared.population.count()) {
    shared.population = other.shared.population;
    shared.population_since = other.shared.population_since;
    shared.population_changed();
  }
  std::vector<uint64_t> none;
  std::vector<detail::ForgottenKeys::Entry> forgotten = other.shared.forgotten.entries();
  forgotten_dropped += shared.forgotten.update(none, forgotten, shared.rules.settings.max_accounts);
  for (const auto& [hash, model] : other.shared.releases.models)
    if (shared.releases.models.size() < detail::ModelReleases::max_models)
      shared.releases.models.try_emplace(hash, model);
  // A cluster of the part whose keys all are in none here joins the clusters in force; the next
  // upkeep links every key anew anyway.
  const size_t cap = shared.rules.settings.max_accounts;
  for (detail::KeyCluster& c : other.shared.clusters) {
    bool apart = !shared.cluster_by_id.contains(c.id) &&
                 std::none_of(c.members.begin(), c.members.end(), [&](const std::string& m) {
                   return shared.cluster_of.contains(hash_bytes(m));
                 });
    if (!apart || shared.cluster_of.size() + c.members.size() > cap) continue;
    auto index = static_cast<uint32_t>(shared.clusters.size());
    shared.cluster_by_id.emplace(c.id, index);
    for (const std::string& m : c.members) shared.cluster_of.emplace(hash_bytes(m), index);
    shared.clusters.push_back(std::move(c));
  }
  // Each event may make one account: the room left shrinks by the accounts added.
  size_t before = room;
  set_room();
  room = std::min(before, room);
  loaded = true;
}

void DetectionEngine::Impl::forget(const DetectionEngine::KeyFilter& drop) {
  for (auto& sh : shards) {
    for (bool pooled : {false, true})
      sh->table(pooled).erase_if(
          [&](const std::string& k, const detail::Account&) { return drop(k); });
    for (detail::ThresholdTracker& t : sh->thresholds) t.drop_keys(drop);
    sh->threshold_fired.erase_if([&](const std::string& id, const detail::RuleFiring&) {
      return drop(detail::firing_key(id));
    });
    for (auto* retired : {&sh->retired, &sh->retired_pools})
      std::erase_if(*retired, [&](const auto& entry) { return drop(entry.first); });
  }
  // The held events of those keys are in the part saved for their next owner: released here,
  // they would make accounts that no part holds.
  clock.drop_held(held_of(drop));
  // `room` stays: counted down from the last upkeep, it is what the saved state says, and a
  // partition taken back later leaves it as it was (never more than the cap allows).
}

detail::EventClock::HeldFilter DetectionEngine::Impl::held_of(
    const DetectionEngine::KeyFilter& keys) const {
  return [&keys, group_by = shared.options.group_by](const Event& ev) {
    std::string scratch;
    return keys(account_key(ev, group_by, scratch));
  };
}

}  // namespace exfilscan
