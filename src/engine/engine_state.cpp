/// The engine's saved state (--state): what the next events need from the merger and every
/// shard, written in key order so that it is the same for any number of shards.

#include "engine/engine_merger.h"

#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>
#include <tuple>

namespace exfilscan {

using detail::Account;

void DetectionEngine::Impl::save(StateWriter& w, const DetectionEngine::KeyFilter* keep) const {
  auto kept = [keep](std::string_view key) { return !keep || (*keep)(key); };
  clock.save_clock(w);
  w.i64(shared.population_since);
  shared.population.save(w);
  detail::LogHistogram added;  // since the last upkeep: joins the population at the next one
  std::vector<int64_t> closes;
  for (const auto& sh : shards) {
    added.merge(sh->population_added);
    closes.insert(closes.end(), sh->closed_at.begin(), sh->closed_at.end());
  }
  added.save(w);
  std::sort(closes.begin(), closes.end());
  w.u64(closes.size());
  for (int64_t t : closes) w.i64(t);
  std::vector<const Account*> sorted;
  for (const auto& sh : shards)
    for (bool pooled : {false, true})
      for (const auto& [k, a] : sh->table(pooled))
        if (kept(k)) sorted.push_back(&a);
  std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) {
    return std::tie(x->key, x->pooled) < std::tie(y->key, y->pooled);
  });
  w.u64(sorted.size());
  for (const Account* a : sorted) {
    a->save(w);
    // Each detector's part under its name, as its own bytes: a detector reads only its own.
    size_t kept = 0;
    for (const auto& s : a->states) kept += s != nullptr;
    w.u64(kept);
    for (size_t d = 0; d < a->states.size(); ++d) {
      if (!a->states[d]) continue;
      StateWriter part;
      a->states[d]->save(part);
      w.str(shared.detectors[d]->name());
      w.str(part.data());
    }
  }
  w.u64(shared.rules.thresholds.size());
  for (size_t r = 0; r < shared.rules.thresholds.size(); ++r) {
    w.str(shared.rules.thresholds[r].id);
    std::vector<const detail::ThresholdTracker*> parts;
    for (const auto& sh : shards) parts.push_back(&sh->thresholds[r]);
    detail::ThresholdTracker::save(w, parts, keep);
  }
  std::vector<std::pair<const std::string*, const detail::RuleFiring*>> fired;
  for (const auto& sh : shards)
    for (const auto& [id, f] : sh->threshold_fired)
      if (kept(detail::firing_key(id))) fired.emplace_back(&id, &f);
  std::sort(fired.begin(), fired.end(), [](auto& x, auto& y) { return *x.first < *y.first; });
  w.u64(fired.size());
  for (const auto& [id, f] : fired) {
    w.str(*id);
    w.str(f->rule);
    w.f64(f->score);
    w.i64(f->last_fired_ns);
    w.f64(f->episode_score);
  }
  std::vector<const AccountSummary*> gone;
  for (const auto& sh : shards)
    for (const auto* retired : {&sh->retired, &sh->retired_pools})
      for (const auto& [k, s] : *retired)
        if (kept(k)) gone.push_back(&s);
  std::sort(gone.begin(), gone.end(), [](auto* x, auto* y) {
    return std::tie(x->key, x->key_kind) < std::tie(y->key, y->key_kind);
  });
  w.u64(gone.size());
  for (const AccountSummary* s : gone) {
    w.str(s->key);
    w.str(s->key_kind);
    w.f64(s->risk);
    w.u8(static_cast<uint8_t>(s->severity));
    // The totals: the next run's part of them starts at 0.
    for (uint64_t v : {s->total_requests, s->total_prompt_tokens, s->total_completion_tokens,
                       s->suppressed_findings})
      w.u64(v);
    w.i64(s->total_first_seen_ns);
    w.i64(s->total_last_seen_ns);
    w.str(s->top_rule);
    w.u64(s->rules.size());
    for (const std::string& r : s->rules) w.str(r);
    w.str(s->cluster);
    w.f64(s->own_risk);
    w.f64(s->cluster_risk);
    w.u64(s->cluster_keys);
  }
  std::vector<uint64_t> returned;  // since the last upkeep: no longer forgotten
  for (const auto& sh : shards)
    returned.insert(returned.end(), sh->returned.begin(), sh->returned.end());
  std::sort(returned.begin(), returned.end());
  shared.forgotten.save(w, returned);
  if (keep) {
    // The held events too are its keys' alone: each is judged by the member that owns its key.
    detail::EventClock::HeldFilter held = held_of(*keep);
    clock.save_held(w, &held);
  } else {
    clock.save_held(w);
  }
  w.u64(room);
  w.i64(shared.logs_start_ns);
  w.u64(shared.clusters.size());
  for (const detail::KeyCluster& c : shared.clusters) c.save(w);
  detail::NotedModels pending;  // noted since the last upkeep: merged at the next one
  for (const auto& sh : shards)
    for (const auto& [model, ts] : sh->models_noted) detail::note_model(pending, model, ts);
  shared.releases.save(w, pending);
}

void DetectionEngine::Impl::load(StateReader& r) {
  // The file's checksum holds for any bytes: the clock's times must be event times.
  clock.load_clock(r);
  int64_t since = r.i64();
  if (since != INT64_MAX && (since < 0 || since >= timestamp_end_s * ns_per_second))
    throw StateError("the state's clock is out of range");
  shared.population_since = since;
  shared.population.load(r);
  shared.population_changed();
  for (auto& sh : shards) sh->population_added.clear(), sh->closed_at.clear();
  // Format 1 merged every closed window into the population at once.
  if (r.version() >= 2) {
    shards[0]->population_added.load(r);
    shards[0]->closed_at.resize(r.count(100'000'000));
    for (int64_t& t : shards[0]->closed_at) t = r.time();
  }
  for (auto& sh : shards) sh->accounts.clear(), sh->pools.clear();
  size_t n = r.count(shared.rules.settings.max_accounts + 1);
  for (size_t i = 0; i < n; ++i) {
    Account a;
    detail::LegacyDetectorData legacy;
    a.load(r, legacy);
    if (a.pooled && (a.cluster == 0 || a.key != detail::cluster_key(a.cluster)))
      throw StateError("a cluster's pooled account is not named after its cluster");
    const detail::DetectorList& detectors = shared.detectors;
    a.states.resize(detectors.size());
    if (r.version() < 5) {
      for (size_t d = 0; d < detectors.size(); ++d)
        if (detectors[d]->enabled()) a.states[d] = detectors[d]->from_legacy(legacy);
    } else {
      size_t kept = r.count(detectors.size());
      for (size_t i = 0; i < kept; ++i) {
        std::string name = r.str();
        std::string bytes = r.str();
        auto d = std::find_if(detectors.begin(), detectors.end(),
                              [&](const auto& x) { return name == x->name(); });
        if (d == detectors.end()) {
          bool plain = name.size() <= 40 && std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                       });
          throw StateError(plain ? fmt::format("the state holds a part of detector '{}', which "
                                               "this build does not have",
                                               name)
                                 : std::string("the state holds a part of an unknown detector"));
        }
        size_t index = static_cast<size_t>(d - detectors.begin());
        if (a.states[index]) throw StateError("the state holds a detector's part twice");
        if (!(*d)->enabled()) continue;  // off now: its state is dropped
        StateReader part(bytes, r.version());
        a.states[index] = (*d)->new_state();
        if (!a.states[index]) throw StateError("the state holds a part for a stateless detector");
        a.states[index]->load(part);
        if (!part.at_end()) throw StateError("a detector's part has bytes after its end");
      }
    }
    std::string key = a.key;
    *shards[shared.owner(key)]->table(a.pooled).try_emplace(key).first = std::move(a);
  }
  const auto& rules = shared.rules.thresholds;
  if (r.count(rules.size()) != rules.size())
    throw StateError("the state's threshold rules are not the rules in force");
  for (size_t t = 0; t < rules.size(); ++t) {
    if (r.str() != rules[t].id)
      throw StateError("the state's threshold rules are not the rules in force");
    std::vector<detail::ThresholdTracker*> parts;
    for (auto& sh : shards) parts.push_back(&sh->thresholds[t]);
    detail::ThresholdTracker::load(r, parts,
                                   [&](std::string_view key) { return shared.owner(key); });
  }
  for (auto& sh : shards) sh->threshold_fired.clear();
  size_t f = r.count(100'000'000);
  for (size_t i = 0; i < f; ++i) {
    std::string id = r.str();
    detail::RuleFiring& firing = shards[shared.owner(detail::firing_key(id))]->threshold_fired[id];
    firing.rule = r.str();
    firing.score = r.f64();
    firing.last_fired_ns = r.time();
    firing.episode_score = r.f64();
  }
  for (auto& sh : shards) sh->retired.clear(), sh->retired_pools.clear();
  size_t g = r.count(100'000'000);
  for (size_t i = 0; i < g; ++i) {
    AccountSummary s;
    s.key = r.str();
    s.key_kind = r.str();
    s.risk = r.f64();
    if (!(s.risk >= 0 && s.risk <= 1)) throw StateError("a summary's risk is out of range");
    s.severity = static_cast<Severity>(std::min<uint8_t>(r.u8(), 4));
    for (uint64_t* v : {&s.total_requests, &s.total_prompt_tokens, &s.total_completion_tokens,
                        &s.suppressed_findings})
      *v = r.u64();
    s.total_first_seen_ns = r.time();
    s.total_last_seen_ns = r.time();
    s.top_rule = r.str();
    s.rules.resize(r.count(1000));
    for (std::string& rule : s.rules) rule = r.str();
    s.own_risk = s.risk;
    if (r.version() >= 7) {
      s.cluster = r.str();
      s.own_risk = r.f64();
      s.cluster_risk = r.f64();
      s.cluster_keys = r.u64();
      // What a live run makes: the reports print the cluster's key as it is.
      if (!s.cluster.empty() && !detail::is_cluster_key(s.cluster))
        throw StateError("a summary's cluster is not a cluster's key");
      if (!(s.own_risk >= 0 && s.own_risk <= 1) || !(s.cluster_risk >= 0 && s.cluster_risk <= 1))
        throw StateError("a summary's risk is out of range");
    }
    std::string key = s.key;
    detail::Shard& owner = *shards[shared.owner(key)];
    (s.key_kind == "cluster" ? owner.retired_pools : owner.retired)[key] = std::move(s);
  }
  for (auto& sh : shards) sh->returned.clear(), sh->forgotten_now.clear();
  shared.forgotten = {};
  if (r.version() >= 4) shared.forgotten.load(r, shared.rules.settings.max_accounts);
  room = 0;  // formats before 6: worked out at the first event
  if (r.version() >= 6) {
    clock.load_held(r);
    // Each event takes one from it and makes at most one account: never more than the cap's
    // room left by the accounts loaded.
    uint64_t left = r.u64();
    if (left > shared.rules.settings.max_accounts - std::min(n, shared.rules.settings.max_accounts))
      throw StateError("the state's room for new accounts is out of range");
    room = static_cast<size_t>(left);
  }
  shared.logs_start_ns = INT64_MAX;
  shared.clusters.clear();
  shared.cluster_of.clear();
  shared.cluster_by_id.clear();
  if (r.version() >= 7) {
    shared.logs_start_ns = r.i64();
    if (shared.logs_start_ns != INT64_MAX &&
        (shared.logs_start_ns < 0 || shared.logs_start_ns >= timestamp_end_s * ns_per_second))
      throw StateError("the state's clock is out of range");
    // Each cluster holds keys the engine had as accounts: no more of either than max_accounts.
    const size_t cap = shared.rules.settings.max_accounts;
    size_t clusters = r.count(cap);
    for (uint32_t i = 0; i < clusters; ++i) {
      detail::KeyCluster& c = shared.clusters.emplace_back();
      c.load(r);
      if (c.id == 0) throw StateError("a cluster in the state has no id");
      if (!shared.cluster_by_id.emplace(c.id, i).second)
        throw StateError("the state holds a cluster twice");
      for (const std::string& m : c.members)
        if (!shared.cluster_of.emplace(hash_bytes(m), i).second)
          throw StateError("the state holds a key in two clusters");
      if (shared.cluster_of.size() > cap)
        throw StateError("the state's clusters hold more keys than max_accounts");
    }
  }
  shared.releases = {};
  for (auto& sh : shards) sh->models_noted.clear();
  if (r.version() >= 8) shared.releases.load(r, shards[0]->models_noted);
  shared.run_start_ns = clock.watermark();
  if (!r.at_end()) throw StateError("the state has bytes after its end");
  loaded = true;
}

}  // namespace exfilscan
