#pragma once
/// Internal: one shard of the engine (the accounts, threshold keys and firings whose keys hash to
/// it) and the state every shard reads but only the upkeep between jobs writes.

#include <exfilscan/engine/engine.h>
#include <exfilscan/hash.h>

#include "detectors/horizons.h"
#include "detectors/model_releases.h"
#include "detectors/registry.h"
#include "detectors/threshold.h"
#include "detectors/volume_spike.h"
#include "engine/account_state.h"
#include "engine/forgotten_keys.h"
#include "engine/string_table.h"

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

namespace exfilscan::detail {

/// Where a finding falls in the order one shard alone would have emitted it: by event, then
/// the hourly upkeep before the event's own rules, threshold rules in their order, the account's
/// detectors, then its cluster's pooled account; upkeep closes windows in key order. `n` keeps one
/// shard's own order.
struct FindingOrder {
  uint64_t seq = 0;    // the event
  uint32_t phase = 0;  // 0 upkeep, 1 threshold rule, 2 the account's detectors, 3 its cluster's
  uint32_t rule = 0;   // threshold rule index
  std::string key;     // upkeep: the account whose window closed
  uint64_t n = 0;
  bool operator<(const FindingOrder& o) const {
    if (seq != o.seq) return seq < o.seq;
    if (phase != o.phase) return phase < o.phase;
    if (rule != o.rule) return rule < o.rule;
    if (key != o.key) return key < o.key;
    return n < o.n;
  }
};

/// The key in a threshold rule's firing id, which is (rule id, 0x1f, key).
inline std::string_view firing_key(std::string_view id) {
  size_t cut = id.find('\x1f');
  return cut == std::string_view::npos ? id : id.substr(cut + 1);
}

/// The ranking's order: risk, then completion tokens, then key (a total order).
bool ranks_above(const AccountSummary& a, const AccountSummary& b);

/// What every shard reads and only the upkeep between jobs writes.
struct SharedState {
  RuleSet rules;
  EngineOptions options;
  uint64_t analysis_gate = 0;  // requests in a window before its prompts are analysed
  /// Completion tokens per account-window, as of the last hourly upkeep: windows closed since
  /// then count from the next one, so a verdict never depends on which shard closed first.
  LogHistogram population;
  int64_t population_since = INT64_MAX;  // when it had min_population_windows of them
  PopulationView population_view;        // its quantiles, taken at each upkeep
  ForgottenKeys forgotten;               // keys expired or evicted, until they come back
  int64_t run_start_ns = 0;              // the clock when this run began (its --state's)
  DetectorList detectors;                // every built-in detector, reading `rules`
  /// The clusters of keys as of the last upkeep (engine/key_linker.h), with each member key's
  /// hash and each cluster id to its index.
  std::vector<KeyCluster> clusters;
  std::unordered_map<uint64_t, uint32_t> cluster_of;
  std::unordered_map<uint64_t, uint32_t> cluster_by_id;
  int64_t logs_start_ns = INT64_MAX;  // the first event judged, in this run or a state's
  ModelReleases releases;             // each model's first appearance (release_chasing)
  /// The cluster the key belongs to, or null.
  const KeyCluster* cluster_of_key(std::string_view key) const {
    if (cluster_of.empty()) return nullptr;
    auto at = cluster_of.find(hash_bytes(key));
    return at == cluster_of.end() ? nullptr : &clusters[at->second];
  }
  const KeyCluster* cluster_by(uint64_t id) const {
    auto at = cluster_by_id.find(id);
    return at == cluster_by_id.end() ? nullptr : &clusters[at->second];
  }
  void population_changed() {
    population_view.update(population, rules.volume_spike, population_since);
  }
  size_t shards = 1;
  /// The shard a key belongs to. It is asked of every event's keys (by each shard, or once when
  /// routing), so it reads only the key's first and last eight bytes and its length: ids differ
  /// there (counters, UUIDs, hashes). Keys that differ only in the middle all land on one
  /// shard: slower, never wrong.
  size_t owner(std::string_view key) const {
    if (shards == 1) return 0;
    uint64_t head = 0, tail = 0;
    if (key.size() >= 8) {
      std::memcpy(&head, key.data(), 8);
      std::memcpy(&tail, key.data() + key.size() - 8, 8);
    } else {
      for (size_t i = 0; i < key.size(); ++i)
        head |= uint64_t{static_cast<unsigned char>(key[i])} << (8 * i);
      tail = head;
    }
    uint64_t h = mix64(head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ (key.size() << 56));
    // The top 32 bits scaled to [0, shards): a multiply, where % divided (every shard asks this
    // of every event's keys).
    return static_cast<size_t>(((h >> 32) * shards) >> 32);
  }
};

/// The accounts, threshold keys and firings whose keys hash to one shard: one writer each, no
/// locks. With one shard this is the whole engine.
struct Shard {
  Shard(SharedState& s, FindingSink& sink, size_t index);

  SharedState& shared;
  const RuleSet& rules;
  const EngineOptions& options;
  const PopulationView& population;
  FindingSink& sink;
  size_t index;
  /// The cluster stage's engine (EngineOptions::clusters_at): pooled accounts only.
  bool pools_only = false;
  StringTable<Account> accounts;
  /// The clusters' pooled accounts, by cluster key: apart from the keys' accounts, since a key
  /// in the logs may be named like a cluster ("cluster-3f9a1c2b04d5") and must stay a key.
  StringTable<Account> pools;
  StringTable<Account>& table(bool pooled) { return pooled ? pools : accounts; }
  const StringTable<Account>& table(bool pooled) const { return pooled ? pools : accounts; }
  std::vector<ThresholdTracker> thresholds;
  /// Firing state of threshold rules, per (rule, key): their keys are not the engine's accounts.
  StringTable<RuleFiring> threshold_fired;
  /// Summaries of flagged accounts that were expired or evicted, so the ranking keeps them.
  std::unordered_map<std::string, AccountSummary> retired;
  std::unordered_map<std::string, AccountSummary> retired_pools;  // the pooled accounts'
  LogHistogram population_added;  // windows closed since the last upkeep
  /// While the population has fewer than min_population_windows windows: when each of those
  /// closed (the last of them says since when it is usable, whichever shard closed it).
  std::vector<int64_t> closed_at;
  /// For the forgotten keys, at the next upkeep: those that came back, those just forgotten.
  std::vector<uint64_t> returned;
  std::vector<ForgottenKeys::Entry> forgotten_now;
  /// Models this shard saw that the upkeep did not know yet, with their earliest event.
  NotedModels models_noted;
  EngineStats stats;
  DetectorCounts detector_counts;
  std::string scratch;
  std::string account_scratch;  // the account's key, while `scratch` serves the rules' keys
  std::string link_scratch;     // the event's /24, for the account's link profile
  /// With more than one shard, findings wait here for the ordered merge.
  bool direct = true;
  FindingOrder order;
  std::vector<std::pair<FindingOrder, Finding>> pending;

  int64_t window_ns() const { return rules.settings.window_ns; }

  // Routing and windows (engine_shard.cpp).

  /// The shards that need the event (bit s for shard s): its account's, and each threshold
  /// rule's whose filter it passes. Shard 0 also counts events without an account.
  uint64_t route(const Event& ev);
  /// The event's threshold rules and account, where their keys belong to this shard, and its
  /// cluster's pooled account.
  void on_event(const Event& ev, uint64_t seq);
  /// The key's account, made on its first event.
  Account& open_account(std::string_view key, int64_t ts, bool pooled);
  /// The event joins the account (a key's or a cluster's): its window, totals and judgement.
  /// `member`: for a cluster's pooled account, the hash of the member key that sent it.
  void account_event(Account& a, const Event& ev, uint64_t member = 0);
  /// The event joins the account's window features, then its enabled detectors see it.
  void add_to_window(Account& a, const Event& ev, uint64_t member);
  /// Every enabled detector's verdict on the account's window, each considered for a finding.
  void evaluate(Account& a, int64_t now);
  /// The window's last judgement; then the detectors and the day horizon keep what they need.
  void close_window(Account& a);
  /// Windows that fell out of the day horizon leave it.
  void prune_recent(Account& a);
  /// This shard's part of the hourly upkeep (before event `seq`): close windows no event will
  /// reopen, forget idle accounts and keys.
  void upkeep(int64_t watermark, uint64_t seq);

  // Episodes and risk (engine_episodes.cpp).

  /// Fires once per episode: again only after `cooldown` without a positive verdict, or when
  /// the severity rises within the episode.
  bool should_fire(RuleFiring& f, double score, int64_t now);
  void consider(Account& a, const char* rule, Verdict v, int64_t now);
  /// A cluster's verdict that fired, with the second signal its keys' making gives (rules
  /// clusters.coordination_bonus).
  void coordinate(const Account& a, Verdict& v) const;
  void fire_threshold(const ThresholdRule& rule, std::string_view key, double value,
                      const Event& ev);
  double risk_of(const Account& a) const;
  void emit(const Finding& f);
  AccountSummary summarize(const Account& a) const;
  void retire(const Account& a);

  // Explain (engine_explain.cpp).

  /// Every detector's verdict on the explained account's closing window, to options.explain.
  void explain(const Account& a);
};

}  // namespace exfilscan::detail
