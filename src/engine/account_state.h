#pragma once
/// Internal: what the engine keeps per account, and the population-wide distribution new
/// accounts are judged against. Budget per account (documented in docs/detection.md): about
/// 3 KB of window state and history, plus up to ~9 KB of template state once it sends text.

#include <exfilscan/features/text_features.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/rules/finding.h>
#include <exfilscan/state.h>

#include "engine/key_linker.h"

#include <array>
#include <bitset>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace exfilscan::detail {

/// A log2 histogram (4 bins per doubling) of non-negative values: medians and quantiles of
/// token counts in constant space.
class LogHistogram {
 public:
  void add(double value, uint64_t weight = 1);
  void merge(const LogHistogram& other);
  double quantile(double q) const;
  uint64_t count() const { return count_; }
  void clear();
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  static constexpr size_t bins = 4 * 40;
  std::array<uint64_t, bins> counts_{};
  uint64_t count_ = 0;
  size_t lo_ = bins, hi_ = 0;  // the bins used lie in [lo_, hi_)
};

/// How answer lengths follow prompt lengths: the moments of (log asked, log answered) tokens.
/// A translation's or a rewrite's answer grows with what it is given (correlation near 1); a
/// summary's, a classifier's or an extractor's stays about the same whatever it reads.
struct LengthPairs {
  double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  void add(double asked_tokens, double answer_tokens);
  void merge(const LengthPairs& o) {
    n += o.n, sx += o.sx, sy += o.sy, sxx += o.sxx, syy += o.syy, sxy += o.sxy;
  }
  /// Pearson's r of the logs, in [-1, 1]; 0 under 3 pairs or without spread.
  double correlation() const;
  /// How many times as long the answers are as what they answer (geometric mean of the
  /// ratios, each length plus one token); 0 without pairs.
  double expansion() const { return n > 0 ? std::exp((sy - sx) / n) : 0; }
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

struct LegacyDetectorData;

/// One window (an hour from the account's first event in it) of an account's traffic.
struct WindowStats {
  int64_t start_ns = 0;
  int64_t last_ns = 0;
  uint64_t requests = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t text_requests = 0;  // prompts analysed (from the engine's analysis gate on)
  uint64_t instruction = 0;    // instruction or benchmark style
  uint64_t chain_of_thought = 0;
  uint64_t single_turn = 0;
  uint64_t turns_known = 0;           // requests whose turn count the log gives
  uint64_t sampling = 0;              // logprobs, n > 1 or best_of > 1
  uint64_t with_system = 0;           // prompts analysed that carry a system prompt
  uint64_t product_answers = 0;       // answers long for their prompt (answer_input_ratio)
  LengthPairs lengths;                // answer against prompt lengths
  DistinctSketch end_users;           // distinct end users (the `user` field) in the window
  LogHistogram completion;            // per-request completion tokens
  DistinctSketch prompts;             // distinct prompt texts
  int64_t slice_ns = 60'000'000'000;  // window / 60
  std::bitset<60> slices;             // sixtieths of the window with traffic
  uint64_t throttled = 0;             // HTTP 429
  uint64_t client_errors = 0;         // other 4xx
  uint64_t server_errors = 0;         // 5xx
  double min_temperature = 1e9, max_temperature = -1;  // spread of the temperatures asked for
  // Inter-arrival times (Welford): a machine sends at a steady rate, people in bursts.
  int64_t last_gap_ns = 0;
  uint64_t gaps = 0;
  double gap_mean = 0, gap_m2 = 0;
  std::array<std::string, 5> sample_ids;      // most recent request ids
  std::array<std::string, 5> sample_prompts;  // only kept with --include-prompts
  size_t samples = 0;
  void clear(int64_t start, int64_t window_ns);
  /// A window that is empty (just cleared) starts at `start` instead: its first request.
  void restart(int64_t start);
  void save(StateWriter& w) const;
  /// Format 4 and older kept logit_probe's counts in the window: they go to `legacy`.
  void load(StateReader& r, LegacyDetectorData& legacy);
  /// Coefficient of variation of the gaps between requests (1 for Poisson arrivals); -1 under
  /// `min_gaps` of them.
  double gap_variation(uint64_t min_gaps) const;
  /// Median completion tokens per request, kept until the next request (two detectors ask).
  double median_completion() const {
    if (median_at_ != completion.count()) {
      median_ = completion.quantile(0.5);
      median_at_ = completion.count();
    }
    return median_;
  }

 private:
  mutable double median_ = 0;
  mutable uint64_t median_at_ = UINT64_MAX;  // completion.count() when median_ was taken
};

/// What the longer horizons keep of a closed window: the counts the detectors' shares are made
/// of, as floats (exact to 2^24, far above a window's counts), and the answer-length sums as
/// doubles (their correlation is a difference of large sums): 144 bytes a window, up to a day
/// of them. Every value is finite, counts and gaps non-negative, temperatures in [0, 10] or
/// unset (1e9 and -1): what a live run makes is what a load accepts.
struct WindowEvidence {
  int64_t start_ns = 0, last_ns = 0;
  float requests = 0, text_requests = 0, instruction = 0, chain_of_thought = 0, single_turn = 0,
        turns_known = 0, sampling = 0, with_system = 0;
  float distinct_prompts = 0;   // the window's estimate
  float completion_known = 0;   // requests whose completion tokens the log gives
  float product_answers = 0;    // of them, answers long for their prompt
  float median_completion = 0;  // their median
  float slices_active = 0, slices_elapsed = 0;
  float gaps = 0, gap_mean = 0, gap_m2 = 0;  // inter-arrival times (Welford), seconds
  float end_users = 0;
  float min_temperature = 1e9f, max_temperature = -1;
  LengthPairs lengths;
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// Evidence pooled over a horizon (the current window, a day of windows): sums of the counts,
/// gaps combined, medians weighted by their requests.
struct PooledEvidence {
  int64_t first_ns = INT64_MAX, last_ns = INT64_MIN;
  size_t windows = 0;
  double requests = 0, text_requests = 0, instruction = 0, chain_of_thought = 0, single_turn = 0,
         turns_known = 0, sampling = 0, with_system = 0, distinct_prompts = 0, completion_known = 0,
         product_answers = 0, median_weighted = 0, slices_active = 0, slices_elapsed = 0, gaps = 0,
         gap_mean = 0, gap_m2 = 0, end_users = 0;
  double min_temperature = 1e9, max_temperature = -1;
  LengthPairs lengths;
  int64_t first_start_ns = INT64_MAX, last_start_ns = INT64_MIN;
  void add(const WindowEvidence& e);
  /// Every count weighs `f` times as much (shares, means and variances stay).
  void scale(double f);
  void save(StateWriter& w) const;
  void load(StateReader& r);
  double median_completion() const {
    return completion_known > 0 ? median_weighted / completion_known : 0;
  }
  /// Coefficient of variation of the pooled gaps; -1 under `min_gaps` of them.
  double gap_variation(double min_gaps) const;
  int64_t span_ns() const { return windows ? last_ns - first_ns : 0; }
  /// Share of answers that are the product for their length: long for what they were asked,
  /// where answer lengths follow prompt lengths (at least `min_correlation`); else 0.
  double transform_share(double min_correlation) const {
    if (completion_known <= 0 || lengths.correlation() < min_correlation) return 0;
    return product_answers / completion_known;
  }
};

/// The account's whole history, decayed: a closed window's counts weigh half as much after each
/// half-life, so weeks of a slow sweep add up and a month-old burst has faded.
struct DecayedEvidence {
  PooledEvidence pool;
  double active = 0;   // windows with traffic, decayed
  double spanned = 0;  // windows elapsed from the first one's start, decayed
  /// The window joins (they come in time order: each starts after the last one added).
  void add(const WindowEvidence& e, int64_t window_ns, int64_t half_life_ns);
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// An account's completed window, for its own baseline. Counts saturate at 2^32 - 1 (an hour
/// past four billion tokens is far above any bar anyway): 16 bytes a point, not 24.
struct HistoryPoint {
  int64_t start_ns;
  uint32_t requests;
  uint32_t completion_tokens;
  static uint32_t saturate(uint64_t n) {
    return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
  }
};

/// What a state of format 4 or older kept inline in an account and now belongs to detectors.
struct LegacyDetectorData {
  std::vector<HistoryPoint> history;
  std::unique_ptr<TemplateMiner> miner;
  uint64_t probe_requests = 0;
  std::unordered_map<uint64_t, DistinctSketch> biases_by_prompt;
};

class DetectorState;

struct RuleFiring {
  std::string rule;
  double score = 0;           // best score over the run (for the account's risk)
  int64_t last_fired_ns = 0;  // latest positive verdict: the episode lasts while they keep coming
  double episode_score = 0;   // best score reported in the current episode
  double open_score = 0;      // best of the verdicts not held under high (not kept in a state)
};

struct Account {
  std::string key;
  std::string org;  // latest org seen, for the org allow-list
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  /// The last event before the current window (0: none). Dormancy is measured from it: it
  /// outlives the history's horizon, and a key that comes back after it was forgotten gets it
  /// from the forgotten keys.
  int64_t active_before_ns = 0;
  int64_t last_evaluated_minute = -1;
  /// The last minute the longer horizons were judged in, and whether the judgement under way
  /// is to judge them (settings.long_horizon_every; always when the window closes).
  int64_t long_judged_minute = -1;
  bool judge_long = true;
  uint64_t requests = 0;  // these three over the runs a --state carries
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  /// This run's part of them (not saved: a loaded account starts the run at 0), and whether the
  /// account counts in this run's accounts_seen yet.
  uint64_t run_requests = 0;
  uint64_t run_prompt_tokens = 0;
  uint64_t run_completion_tokens = 0;
  int64_t run_first_seen_ns = 0;
  int64_t run_last_seen_ns = 0;
  bool counted_in_run = false;
  WindowStats window;
  /// Oldest first: the closed windows of the last day (the day horizon), and their pool.
  std::vector<WindowEvidence> recent;
  PooledEvidence recent_pool;
  DecayedEvidence history;        // every closed window, decayed (the history horizon)
  std::bitset<24> hours_of_day;   // UTC hours with traffic over the account's life: 24x7 or not
  std::vector<RuleFiring> fired;  // per rule: episode cooldown and best score
  uint64_t suppressed = 0;
  /// This run's traffic per clock hour, for the summary of an account at medium and above: at
  /// most max_hourly_counts entries (16 bytes each), oldest dropped; not saved in a state.
  std::vector<HourlyCount> hourly;
  /// What the linker knows of the key's traffic (engine/key_linker.h), and the cluster it was
  /// last linked into (0: never): kept after the cluster is gone, so the ranking points at it.
  LinkProfile links;
  uint64_t cluster = 0;
  /// The highest risk its clusters' pooled accounts had while it was a member of them, taken at
  /// each linking: a key that joined a cluster for an hour is not lent its later evidence.
  double cluster_risk = 0;
  bool pooled = false;   // a cluster's pooled account (its key is the cluster's), not a key
  uint64_t members = 0;  // a pooled account's: its cluster's keys at the last linking
  /// One per detector, in the registry's order, each null until its detector makes it.
  std::vector<std::unique_ptr<DetectorState>> states;

  Account();
  ~Account();
  Account(Account&&) noexcept;
  Account& operator=(Account&&) noexcept;
  /// Everything but the detectors' states (the engine saves those with their detectors' names).
  void save(StateWriter& w) const;
  /// A state of format 4 or older also fills `legacy`.
  void load(StateReader& r, LegacyDetectorData& legacy);
};

}  // namespace exfilscan::detail
