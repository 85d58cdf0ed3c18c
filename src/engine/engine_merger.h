#pragma once
/// Internal: the engine behind DetectionEngine, the merger of its shards: it runs the event-time
/// clock, hands events to the shards, does the hourly upkeep that needs all of them (population,
/// eviction) and merges their findings into the order one shard would have emitted them.

#include <exfilscan/engine/engine.h>

#include "engine/engine_shard.h"
#include "engine/event_clock.h"
#include "worker_pool.h"

#include <memory>
#include <span>
#include <vector>

namespace exfilscan {

struct DetectionEngine::Impl {
  Impl(RuleSet r, EngineOptions o, FindingSink& s);

  detail::SharedState shared;
  FindingSink& sink;
  std::vector<std::unique_ptr<detail::Shard>> shards;
  std::unique_ptr<detail::WorkerPool> pool;
  uint64_t events = 0;
  uint64_t events_out_of_range = 0;
  uint64_t forgotten_dropped = 0;
  uint64_t seq = 0;  // events judged so far: the order of their findings
  detail::EventClock clock;
  /// Events that may still each create an account before max_accounts could be passed (set
  /// at the upkeep and by make_room; saved, so that chained runs evict where one run does).
  size_t room = 0;
  /// The most accounts live at once: they only grow between barriers, so it is seen at each.
  size_t accounts_peak = 0;
  std::vector<detail::ClockStep> steps;  // the batch being judged, in order
  std::vector<uint64_t> routes;          // per event: the shards that need it

  // The clock and the upkeep (engine_merger.cpp).

  /// Event time and the hourly upkeep: one pass in input order before the shards judge, so
  /// every shard sees the same clock. Appends to `steps` what to judge (events inside
  /// --since/--until, and held ones that the clock confirmed).
  void advance_clock(const Event& ev);
  /// Judges `steps` (on every shard at once when there are several), with the upkeep where
  /// it falls.
  void judge_steps();
  /// At the end of the input: the held events, judged or quarantined.
  void finish_clock();
  /// The upkeep's global part, between shard jobs: the windows closed since the last upkeep
  /// join the population, and accounts over max_accounts are evicted (least recently seen).
  void merge_upkeep(int64_t at);
  /// max_accounts holds at every event, not only at the upkeep: `room` counts the events that
  /// may still each create an account; when none is left, a barrier between shard jobs (like
  /// the upkeep's) evicts the least recently seen across all shards (docs/detection.md).
  void make_room();
  size_t live_accounts() const;
  /// The clusters whose pooled account is not held (a member's next event makes it).
  size_t pools_missing() const;
  /// `room` from the accounts held and the pooled accounts missing.
  void set_room();
  /// Evicts the least recently seen accounts (ties by key) over `keep`, into `forgotten`.
  void evict_down_to(size_t keep, std::vector<detail::ForgottenKeys::Entry>& forgotten);
  /// The keys forgotten and returned since the last update, with `forgotten`, into the shared set.
  void update_forgotten(std::vector<detail::ForgottenKeys::Entry>& forgotten);
  /// Flagged accounts that went idle keep a summary for the ranking; over `cap` of them (a
  /// long cron chain under key rotation flags and forgets keys without end) those that would
  /// rank lowest are dropped, counted. The set is the same at every upkeep for any number of
  /// shards, and so is what is dropped.
  void drop_summaries_over(size_t cap);
  /// The clusters of keys anew from every key's link profile (engine_clusters.cpp): the
  /// members' later events also go to their cluster's pooled account.
  /// With publish_profiles, the keys' profiles are handed out instead; with clusters_at, the
  /// clusters are the stage's.
  void link_clusters(int64_t at);
  /// What the linker sees of a key.
  detail::LinkCandidate candidate_of(const detail::Account& a) const;
  /// What a member publishes of a key (publish_profiles).
  KeyProfile profile_of(const detail::Account& a) const;
  /// Where the logs' current stretch begins, for the waves (INT64_MAX: no event yet).
  int64_t links_start() const;
  void on_event(const Event& ev);
  void on_events(std::span<const std::span<const Event>> runs);
  void upkeep(int64_t at);
  /// The shards' findings, in the order one shard would have emitted them.
  void flush();

  // The saved state (engine_state.cpp).

  /// With `keep`, only its keys' parts (engine_partial.cpp).
  void save(StateWriter& w, const DetectionEngine::KeyFilter* keep = nullptr) const;
  void load(StateReader& r);
  bool loaded = false;  // a state was loaded or added

  // Parts of the state (engine_partial.cpp).

  void add(StateReader& r);
  /// What `other` (a part just loaded) holds, moved in; what keys share merged.
  void absorb(Impl& other);
  void forget(const DetectionEngine::KeyFilter& drop);
  /// The held events of the keys `keys` takes: by their account's key, as the shards key them.
  detail::EventClock::HeldFilter held_of(const DetectionEngine::KeyFilter& keys) const;
};

}  // namespace exfilscan
