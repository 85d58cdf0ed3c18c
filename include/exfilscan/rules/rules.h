#pragma once
/// Rules are data: the built-in TOML rule set, files read on top of it, and the compiled values
/// the detectors and threshold rules run on.

#include <exfilscan/parse/account_key.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/rules/finding.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace exfilscan {

constexpr int64_t ns_per_second = 1'000'000'000;
constexpr int64_t ns_per_minute = 60 * ns_per_second;
constexpr int64_t ns_per_hour = 60 * ns_per_minute;
constexpr int64_t ns_per_day = 24 * ns_per_hour;

/// A wrong rules file: the message names the file, line and key.
class RulesError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "30s", "10m", "1h", "7d" to nanoseconds; nullopt when malformed.
std::optional<int64_t> parse_duration(std::string_view text);
std::string format_duration(int64_t ns);

// The parameters of the settings and the built-in detectors have no defaults here: every one
// comes from the rules, and the built-in ones (src/rules/default.toml) must give them all
// (default_rules() refuses a key left out), so there is one source of the values. Zero until
// compiled. docs/detection.md says what each one does.

struct Settings {
  int64_t window_ns = 0;  // the detectors' window (10m to 24h)
  int64_t day_ns = 0;     // the day horizon: the closed windows pooled with the current one
  int64_t history_half_life_ns = 0;   // the history horizon: every window, decayed
  int64_t long_horizon_every_ns = 0;  // the longer horizons judged at most this often
  int64_t cooldown_ns = 0;
  int64_t max_skew_ns = 0;
  int64_t idle_expiry_ns = 0;
  uint64_t max_accounts = 0;
  /// Prompt text is analysed past this share of the smallest min_requests of the text detectors,
  /// in full for the first text_full_analysis prompts of a window, then every text_sample_every-th
  /// request's.
  double text_analysis_start = 0;
  uint64_t text_full_analysis = 0;
  uint64_t text_sample_every = 0;
  /// An answer at least answer_input_ratio times as long as its prompt (and min_answer_tokens)
  /// is the product, however short: a translation or rewrite answers about as long as it asks.
  double answer_input_ratio = 0;
  uint64_t min_answer_tokens = 0;
  double answer_length_correlation = 0;  // and only where answer lengths follow prompt lengths
};

struct AllowList {
  std::vector<std::string> keys, orgs, templates;
};

/// Where a detector's score becomes medium and where high. The built-in bars, 0.5 and 0.75, are
/// the severity scale itself; `exfilscan calibrate` learns others from traffic a user vouches for,
/// and each verdict's score is then mapped onto the scale through them (calibrated_score), so its
/// severity, the account's risk and --min-severity all follow the learnt bars.
struct SeverityBars {
  double medium = 0;
  double high = 0;
  bool builtin() const { return medium == 0.5 && high == 0.75; }
  bool operator==(const SeverityBars&) const = default;
};

/// The score on the severity scale: piecewise linear through (0, 0), (medium, 0.5),
/// (high, 0.75) and (1, 1); the built-in bars leave it as it is.
double calibrated_score(double score, const SeverityBars& bars);

/// Which calibration set the bars (`exfilscan calibrate` writes it; `scan` reports its name).
struct CalibrationInfo {
  std::string name;       // "none" for the built-in bars
  double target_fpr = 0;  // the share of the known-good accounts it let reach high
  uint64_t accounts = 0;  // how many accounts it learnt from
};

struct VolumeSpikeRule {
  bool enabled = false;
  SeverityBars bars;
  uint64_t min_requests = 0;
  uint64_t min_completion_tokens = 0;
  uint64_t baseline_hours = 0;
  uint64_t min_baseline_hours = 0;
  double baseline_mads = 0;  // the baseline: median window + this many MADs
  double ratio = 0;
  double peer_quantile = 0;             // and above this quantile of all account-windows
  uint64_t min_population_windows = 0;  // before the population's quantiles are trusted
  double new_account_quantile = 0;
  double new_account_ratio = 0;  // a new account must do this many times that quantile
  int64_t warmup_ns = 0;         // accounts first seen this early in the input...
  double warmup_ratio = 0;       // ...must do this many times more again
  int64_t dormant_after_ns = 0;
  double max_score = 0;
  double full_score_ratio = 0;  // max_score at this many times the bar
};

struct TemplatingRule {
  bool enabled = false;
  SeverityBars bars;
  uint64_t min_requests = 0;
  double min_share = 0;
  double min_distinct_fills = 0;
  double fills_full_ratio = 0;  // the score's fill part is full at this many times the minimum
  int64_t long_completion_tokens = 0;
  double product_answer_share = 0;  // or this share of answers long for their prompt
  double answer_expansion = 0;      // or answers this many times as long as their prompts
  double max_score_short_outputs = 0;
  double full_evidence_ratio = 0;        // prompts, in times min_requests, before high...
  double max_score_little_evidence = 0;  // ...below which the score stays under it
  uint64_t max_wrappers = 0;  // templates, each with min_distinct_fills, counted as one stamp
  uint64_t min_variant_questions = 0;  // questions each asked two ways or more (0: not judged)
  uint64_t min_question_tokens = 0;    // fixed tokens of such a question's template
  uint64_t max_segments = 0;           // traffic shapes kept per key, each judged on its own
  double segment_max_share = 0;        // a shape above this share of the key's prompts is it
};

struct SweepWeights {
  double instruction = 0, diversity = 0, chain_of_thought = 0, single_turn = 0, long_completion = 0,
         sampling = 0, cadence = 0;
};

struct SweepRule {
  bool enabled = false;
  SeverityBars bars;
  uint64_t min_requests = 0;
  double min_score = 0;
  int64_t long_completion_tokens = 0;
  double sampling_full_share = 0;          // of requests with logprobs / n>1 / best_of>1
  double chain_of_thought_full_share = 0;  // of prompts asking for written-out reasoning
  double human_instruction_share = 0;      // of people's prompts in instruction style: only
                                           // the excess over it is evidence
  uint64_t shared_list_min_prompts = 0;    // a cluster's distinct prompts before the share...
  double shared_list_full_share = 0;       // ...its members share counts (fully at this)
  uint64_t cadence_min_slices = 0;         // sixtieths elapsed before coverage counts
  uint64_t cadence_min_gaps = 0;           // gaps between requests before regularity counts
  uint64_t cadence_min_windows = 0;        // windows a longer horizon spans before its share
                                           // of active windows counts as coverage
  SweepWeights weights;
  double metadata_only_weight = 0;   // what the score is worth without prompt text
  int64_t short_sweep_ns = 0;        // traffic shorter than this...
  double max_score_short_sweep = 0;  // ...scores at most this (a one-off eval)
  double sustained_ratio = 0;        // a horizon with this many times min_requests...
  double sustained_bonus = 0;        // ...adds this to the score: a harvest goes on
  uint64_t max_segments = 0;         // parts of a key's traffic judged on their own
  double segment_max_share = 0;      // a part above this share of the key is the key
};

struct LogitProbeRule {
  bool enabled = false;
  SeverityBars bars;
  uint64_t min_distinct_biases = 0;
  int64_t max_completion_tokens = 0;
  double full_score_ratio = 0;       // score 1 at this many times min_distinct_biases
  double echo_min_ratio = 0;         // echo+logprobs probes, in times min_distinct_biases
  double echo_full_score_ratio = 0;  // and score 1 at this many times
};

/// A key (or a cluster) that moves most of its traffic to a model within hours of that model's
/// first appearance in the logs, with sweep evidence: a harvest of the newest model.
struct ReleaseChasingRule {
  bool enabled = false;
  SeverityBars bars;
  int64_t established_ns = 0;        // a model first seen this soon after the logs began was there
  int64_t restart_after_ns = 0;      // a gap in all traffic this long begins the logs anew
  int64_t max_lag_ns = 0;            // the key's first request to it at most this long after it
  uint64_t min_requests = 0;         // requests to the new model before it is judged
  uint64_t min_requests_before = 0;  // the key's requests before it moved: a move, not a new key
  double min_moved_share = 0;        // of the key's requests since its first one to the model
  double min_sweep_score = 0;        // the sweep's score on the key (fired or not) at least
  double move_bonus = 0;             // added to that score for a whole move at once
  double max_score = 0;
};

/// Keys held at a steady high fraction of their own observed ceiling, with HTTP 429s at its edge:
/// a campaign spreading its load under per-key rate limits.
struct QuotaHuggingRule {
  bool enabled = false;
  SeverityBars bars;
  uint64_t min_windows = 0;             // consecutive closed windows before it is judged...
  uint64_t max_windows = 0;             // ...and the most it weighs (the score is full there)
  uint64_t min_window_requests = 0;     // each with at least this many requests
  double max_dispersion = 0;            // their variance over their mean (Poisson's is 1) at most
  double min_ceiling_share = 0;         // their median at least this share of the busiest
  uint64_t min_throttled = 0;           // HTTP 429s over them, at least...
  double max_throttled_share = 0;       // ...and at most this share of requests (more: a storm)
  double min_keys_throttled_share = 0;  // a cluster's: of its keys, throttled themselves...
  uint64_t min_key_throttled = 0;       // ...this many times each
  double max_score_key = 0;             // a key alone: a batch job run at its limit looks the same
  double max_score = 0;                 // a cluster's pooled account
};

/// Keys linked into clusters at each hourly upkeep, each cluster judged as one pooled account by
/// the content detectors: a campaign spread over many small keys is one sweep. Two keys link by
/// what unrelated customers rarely share together: a time (first seen in one wave) or a content
/// (the same system prompt) beside another attribute; infrastructure alone never links.
struct ClusterRule {
  bool enabled = false;
  uint64_t min_keys = 0;          // a cluster has at least this many keys
  uint64_t min_key_requests = 0;  // a key links once it has sent this many requests
  double max_member_share = 0;    // a cluster where one key sent more is that key's alone
  double core_share = 0;          // this share of a cluster's keys has one value in common
  uint64_t common_hours = 0;      // a value keys first seen in this many hours carry ties nothing
  double dominant_share = 0;      // a key's system prompt, shape, /24, agent: its share of them
  int64_t wave_ns = 0;            // keys first seen this close together came in one wave
  int64_t settled_ns = 0;         // keys first seen this soon after the logs begin were there
  double new_after_requests = 0;  // and a key is new once its rate says the logs before its
                                  // first request should have held this many of its requests
  uint64_t max_listed_keys = 0;   // member keys a finding names (the count is always whole)
  /// A cluster whose keys were mostly made together (first seen in waves) is a second signal
  /// beside its pooled verdict: this much is added to a verdict that fired, in full from
  /// coordination_full_keys keys on.
  double coordination_bonus = 0;
  uint64_t coordination_full_keys = 0;
};

/// Which events a threshold rule counts. Empty lists match everything.
struct EventFilter {
  std::vector<int64_t> statuses;
  std::vector<std::string> status_classes;  // "2xx", "4xx", "5xx"
  std::vector<EndpointKind> endpoints;
  std::vector<std::string> models;
  std::optional<bool> logprobs;
  bool matches(const Event& event) const;
};

enum class Aggregate : uint8_t { count, sum, distinct };

/// A declarative rule in the style of Sigma correlation rules: filter, group-by, window,
/// condition ("count > 500", "sum(completion_tokens) > 2000000", "distinct(api_key) > 50").
struct ThresholdRule {
  std::string id;
  std::string description;
  EventFilter filter;
  GroupBy group_by = GroupBy::api_key;
  int64_t window_ns = ns_per_hour;
  Aggregate aggregate = Aggregate::count;
  std::string field;       // for sum and distinct
  bool inclusive = false;  // >= rather than >
  double limit = 0;
  Severity severity = Severity::medium;
  std::string condition;  // as written, for reports
};

/// Fields a sum() may add up and a distinct() may count.
bool is_sum_field(std::string_view field);
bool is_distinct_field(std::string_view field);

struct RuleSet {
  Settings settings;
  AllowList allow;
  VolumeSpikeRule volume_spike;
  TemplatingRule prompt_templating;
  SweepRule distillation_sweep;
  LogitProbeRule logit_probe;
  ReleaseChasingRule release_chasing;
  QuotaHuggingRule quota_hugging;
  ClusterRule clusters;
  CalibrationInfo calibration;
  std::vector<ThresholdRule> thresholds;
};

/// The text of the built-in rules (src/rules/default.toml).
std::string_view default_rules_text();
/// The built-in rules, compiled.
RuleSet default_rules();
/// Compiles rules that must give every setting and detector parameter, as the built-in ones
/// do: a key left out is an error naming it, not a silent zero. Throws RulesError.
RuleSet compile_complete_rules(std::string_view toml_text, std::string_view source);
/// The built-in parameters with every detector off, no allow-lists and no threshold rules: a
/// start for a rules file that replaces the built-in ones (--no-default-rules).
RuleSet empty_rules();
/// Reads TOML on top of `rules`. Throws RulesError naming `source`, the line and the key.
void merge_rules(RuleSet& rules, std::string_view toml_text, std::string_view source);
void merge_rules_file(RuleSet& rules, const std::string& path);

}  // namespace exfilscan

namespace exfilscan {

/// The rules as a TOML rules file, for `exfilscan rules`: every setting, allow-list, detector
/// parameter and threshold rule, each detector and threshold rule with a comment saying what it
/// does. Compiled alone (compile_complete_rules, or on top of empty_rules()) it gives `rules`
/// back.
std::string rules_toml(const RuleSet& rules);

}  // namespace exfilscan
