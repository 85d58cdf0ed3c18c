#pragma once
/// The detection engine: per-account rolling windows over event time, the built-in detectors
/// and threshold rules, findings pushed to a sink as they fire, a ranking at the end.

#include <exfilscan/engine/key_profile.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/rules/finding.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include <array>
#include <climits>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace exfilscan {

namespace detail {
struct KeyCluster;
}

/// One detector's verdict on one window of the explained account (`exfilscan explain`).
struct Explanation {
  std::string key;
  std::string detector;
  bool enabled = true;
  int64_t window_start_ns = 0;
  int64_t window_end_ns = 0;  // the last event in the window
  bool fired = false;
  double score = 0;
  std::vector<Metric> metrics;
  std::string reason;
  std::string template_text;
};

/// Why a key is in its cluster, for `explain`: the cluster, what ties its members, and what the
/// explained key shares with them, one line each ("system prompt 3f9a1c2b, shared by 40 of the
/// 42 keys").
struct ClusterTies {
  std::string cluster;  // its key
  std::string links;    // LinkCounts' description
  uint64_t keys = 0;
  std::vector<std::string> members;  // sorted, the first max_listed_keys
  std::vector<std::string> shared;   // what the explained key shares (empty for a cluster's key)
};

struct EngineOptions {
  GroupBy group_by = GroupBy::api_key;
  bool include_prompts = false;  // put sample prompt text in evidence (customers' data)
  /// When set, every window of this account is explained to `explain` as it closes: each
  /// detector's verdict and metrics, fired or not.
  std::string explain_key;
  std::function<void(const Explanation&)> explain;
  /// Events outside [since, until) of event time are counted and left out (--since/--until).
  int64_t since_ns = INT64_MIN;
  int64_t until_ns = INT64_MAX;
  /// Accounts and threshold keys are split by key hash over this many shards, each judged on
  /// its own thread; the findings, ranking and state are the same for every number. (`explain`
  /// uses one.)
  size_t shards = 1;
  /// A member of a group whose clusters the cluster stage links (scan --kafka --profiles-topic):
  /// at each hourly upkeep (`at`: the clock then) every key with enough requests to link is
  /// handed here, in key order, with where the logs' current stretch begins; the engine then
  /// links no cluster itself.
  std::function<void(int64_t at, std::vector<KeyProfile>&& keys, int64_t start_ns)>
      publish_profiles;
  /// The cluster stage (exfilscan campaigns): the clusters in force from the upkeep at `at`,
  /// linked from the members' profiles (cluster_timeline.h), null for none. The engine then
  /// keeps no account of a key's own (the members judge those) nor threshold keys: a member's
  /// events go to its cluster's pooled account only.
  std::function<const std::vector<detail::KeyCluster>*(int64_t at)> clusters_at;
};

struct EngineStats {
  uint64_t events = 0;
  uint64_t events_without_account = 0;  // no value for the group-by field: not attributed
  uint64_t events_out_of_range = 0;     // outside --since/--until
  uint64_t late_events = 0;             // older than --max-skew behind their account: counted only
  /// Far ahead of the event-time clock and never confirmed by later events: judged for no
  /// account (a broken clock's line). docs/detection.md, "Event time".
  uint64_t events_quarantined = 0;
  /// Still held aside when the run ended without finishing (--state: the next run judges or
  /// quarantines them; a --strict stop).
  uint64_t events_held = 0;
  /// Distinct keys this run: one evicted or expired and back counts once (while the engine still
  /// remembers it forgot it: up to max_accounts forgotten keys).
  uint64_t accounts_seen = 0;
  uint64_t accounts_active = 0;
  /// The most accounts held at once (never over max_accounts).
  uint64_t accounts_peak = 0;
  uint64_t accounts_expired = 0;  // idle longer than idle_expiry
  uint64_t accounts_evicted = 0;  // over max_accounts
  /// Summaries of flagged accounts gone idle, dropped from the ranking over max_accounts.
  uint64_t summaries_dropped = 0;
  /// Expired or evicted keys no longer remembered (over max_accounts of them): one that comes
  /// back is judged as new, not dormant.
  uint64_t forgotten_dropped = 0;
  /// Caps inside accounts that bit: a template replaced by a newer one (16 an account), a part
  /// of a key's traffic replaced by a busier newcomer (max_segments of each kind), a prompt's
  /// logit_bias maps not tracked (past 256 prompts in a window).
  uint64_t templates_replaced = 0;
  uint64_t parts_replaced = 0;
  uint64_t probes_untracked = 0;
  uint64_t findings = 0;
  uint64_t suppressed = 0;  // allow-listed
  std::array<uint64_t, 5> by_severity{};
};

class DetectionEngine : public EventSink {
 public:
  DetectionEngine(RuleSet rules, EngineOptions options, FindingSink& sink);
  ~DetectionEngine() override;
  void on_event(const Event& event) override;
  /// Runs of events in input order: with several shards, judged by all of them at once.
  void on_events(std::span<const std::span<const Event>> runs) override;
  void on_events(std::span<const Event> events) { on_events({&events, 1}); }
  /// True with more than one shard (for ReaderOptions::sink_uses_threads).
  bool uses_threads() const;
  /// At the end of the input: closes every open window, judging it. With `close_windows` false
  /// (cron mode) they stay open, to be continued by the next run from the saved state.
  void finish(bool close_windows = true);
  /// Everything the next events need, so that saving, loading and going on equals never having
  /// stopped (docs/cron.md).
  void save_state(StateWriter& out) const;
  /// Throws StateError when the state does not fit (it is from other rules).
  void load_state(StateReader& in);

  // A part of the state (--state-dir: one Kafka partition's keys, docs/scale-out.md).

  /// Which keys a part of the state holds.
  using KeyFilter = std::function<bool(std::string_view key)>;
  /// save_state's format holding only the accounts (pooled ones by their cluster's key),
  /// threshold keys, firings, retired summaries and events held aside by the clock (by their
  /// account's key) whose key `keep` takes, and whole what all keys share: the clock, the
  /// population, the clusters, the forgotten keys, the models seen.
  void save_state(StateWriter& out, const KeyFilter& keep) const;
  /// Adds a part (or a whole state) to this engine between batches: its keys replace those held.
  /// An engine that has judged nothing and loaded nothing takes what the part's keys share as it
  /// is, so that loading every part of one save equals loading that save; a running one keeps
  /// its own and merges: the later clock, the events held aside by both (interleaved by time),
  /// the earlier start of the logs, the forgotten keys and models of both, the part's clusters
  /// whose keys are in none of its own, and the population with more windows. Throws
  /// StateError as load_state does (then nothing is added).
  void add_state(StateReader& in);
  /// Drops the accounts, threshold keys, firings, summaries and held events whose key `drop`
  /// takes (a partition revoked); what keys share stays.
  void forget_keys(const KeyFilter& drop);
  /// The event-time clock: 0 before the first event.
  int64_t event_time() const;
  /// Accounts with findings (by risk), then the `top_other` busiest others.
  std::vector<AccountSummary> ranking(size_t top_other) const;
  EngineStats stats() const;
  /// For `explain`: each threshold rule, and the highest value its aggregate reached for the
  /// explained key (-1 when the rule groups by another field or never saw the key).
  std::vector<std::pair<const ThresholdRule*, double>> threshold_peaks(std::string_view key) const;
  /// For `explain`: the cluster the key is in now (or the cluster the key names), with what
  /// ties it; nullopt when it is in none.
  std::optional<ClusterTies> cluster_ties(std::string_view key) const;
  /// True when a detector reads prompt text (the reader can skip it otherwise).
  bool needs_prompt_text() const;
  /// True when a detector uses conversation turns (distillation_sweep's single-turn share).
  bool needs_turns() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exfilscan
