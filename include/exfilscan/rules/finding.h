#pragma once
/// Findings: what a rule concluded about one account, as a plain value for the reporters.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilscan {

enum class Severity : uint8_t { info, low, medium, high, critical };
std::string_view to_string(Severity severity);
bool parse_severity(std::string_view name, Severity& out);
/// The severity a score in [0,1] earns: >= 0.9 critical, >= 0.75 high, >= 0.5 medium,
/// >= 0.3 low, else info.
Severity severity_of_score(double score);

struct Metric {
  std::string name;
  double value = 0;
};

struct Finding {
  std::string rule;  // rule id, e.g. "volume_spike" or a threshold rule's id
  Severity severity = Severity::info;
  double score = 0;         // in [0,1]
  double account_risk = 0;  // the account's combined risk once this finding counts
  std::string key;
  std::string key_kind;         // api_key, org, project, user, ip
  int64_t first_seen_ns = 0;    // the account's first event (over the runs a --state carries)
  int64_t last_seen_ns = 0;     // its latest event when the finding fired
  int64_t detected_at_ns = 0;   // event time at which the rule fired
  int64_t window_start_ns = 0;  // start of the window the metrics describe
  std::vector<Metric> metrics;
  std::string reason;         // one sentence
  std::string template_text;  // masked template (`Translate into German: <*>`), when there is one
  std::vector<std::string> sample_request_ids;  // up to 5
  std::vector<std::string> sample_prompts;      // only with --include-prompts
  bool suppressed = false;                      // matched an allow-list: counted, not reported
  /// A key's finding: the cluster it is linked into, if any. A cluster's (key_kind "cluster"):
  /// its member keys (the first max_listed_keys, sorted), how many there are, and what ties
  /// them ("42 keys: 40 share system prompt 3f9a1c2b, first seen in 4 waves, 3 /24s").
  std::string cluster;
  std::vector<std::string> keys;
  uint64_t cluster_keys = 0;
  std::string links;
};

/// An account's requests and completion tokens in one clock hour (UTC) of this run.
struct HourlyCount {
  int64_t hour_ns = 0;  // the hour's start
  uint32_t requests = 0;
  uint32_t completion_tokens = 0;  // saturates at 2^32 - 1
};

/// One row of the end-of-run ranking.
/// A rule that fired on an account, and its strongest score.
struct RuleScore {
  std::string rule;
  double score = 0;  // of a verdict that may reach high (Verdict::medium_at_most not set)
  /// Of any verdict, those held under high included (0: score). Calibrate learns the medium bars
  /// on it, the high bars on `score`: a held verdict stays medium under any bars.
  double medium_score = 0;
};

struct AccountSummary {
  std::string key;
  std::string key_kind;
  double risk = 0;
  Severity severity = Severity::info;
  /// This run's traffic; the times are 0 when the account had no event in this run (it ranks on
  /// what a --state carried).
  uint64_t requests = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  /// The same over every run a --state carries, this one included (without a state, this run's).
  uint64_t total_requests = 0;
  uint64_t total_prompt_tokens = 0;
  uint64_t total_completion_tokens = 0;
  int64_t total_first_seen_ns = 0;
  int64_t total_last_seen_ns = 0;
  std::string top_rule;
  std::vector<std::string> rules;  // every rule that fired, in firing order
  /// The same rules with their strongest scores, as they fired on this account itself (not
  /// lifted by its cluster): what `exfilscan calibrate` learns from. Not kept in a state.
  std::vector<RuleScore> rule_scores;
  uint64_t suppressed_findings = 0;
  /// A key linked into a cluster: the cluster's key, and the key's own risk where its cluster's
  /// is higher (risk and severity are then the cluster's: its evidence is the key's). A
  /// cluster's row: its member keys' count.
  std::string cluster;
  double own_risk = 0;
  double cluster_risk = 0;  // its clusters' highest while it was a member (engine internal)
  uint64_t cluster_keys = 0;
  /// Accounts at medium and above: their traffic per hour, oldest first, for the HTML report's
  /// timeline (the last max_hourly_counts hours with traffic of this run; not kept in a state).
  std::vector<HourlyCount> hourly;
};

/// How many hours with traffic an account's hourly series keeps (a week of them).
inline constexpr size_t max_hourly_counts = 168;

/// Receives findings in the order they fire (event order: deterministic for one input).
class FindingSink {
 public:
  virtual ~FindingSink() = default;
  virtual void on_finding(const Finding& finding) = 0;
};

}  // namespace exfilscan
