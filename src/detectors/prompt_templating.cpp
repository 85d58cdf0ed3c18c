#include "detectors/prompt_templating.h"

#include "detectors/detector.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace exfilscan::detail {

namespace {

/// The templates a horizon's prompts are stamped from: the busiest max_wrappers, the first
/// always and each other one where it has min_distinct_fills values of its own (a harvest
/// rotates a few wrappers around one slot; a template with a handful of values beside the main
/// one is a form's other field, and counts for nothing).
struct Stamp {
  static constexpr size_t most = 16;  // (max_wrappers is at most this)
  int top = -1;                       // the busiest (-1: none)
  double matches = 0, fills = 0;
  uint64_t templates = 0;
  std::array<int, most> chosen{};  // the first `templates`
};

template <typename Count, typename Fills>
Stamp stamp_of(const TemplateMiner& miner, const TemplatingRule& rule, Count&& count,
               Fills&& fills_of) {
  // One pass for the busiest, in order (ties: the earlier template): judged every minute of an
  // account's traffic, this must stay a scan of counts.
  std::array<int, Stamp::most> busiest{};
  std::array<uint64_t, Stamp::most> counts{};
  size_t kept = 0, want = std::min<size_t>(rule.max_wrappers, Stamp::most);
  if (want == 0) return {};  // (the rules hold 1 or more; a rule built in code may not)
  for (size_t i = 0, n = miner.size(); i < n; ++i) {
    uint64_t c = count(static_cast<int>(i));
    if (c == 0 || (kept == want && c <= counts[kept - 1])) continue;
    size_t at = kept < want ? kept++ : kept - 1;
    while (at > 0 && counts[at - 1] < c) {
      busiest[at] = busiest[at - 1], counts[at] = counts[at - 1];
      --at;
    }
    busiest[at] = static_cast<int>(i), counts[at] = c;
  }
  Stamp s;
  for (size_t i = 0; i < kept; ++i) {
    double fills = fills_of(busiest[i]);
    if (i > 0 && fills < rule.min_distinct_fills) continue;
    if (i == 0) s.top = busiest[i];
    s.matches += static_cast<double>(counts[i]);
    s.fills += fills;
    s.chosen[s.templates++] = busiest[i];
  }
  return s;
}

/// What the templating verdict on one horizon turns on: `prompts` analysed, `matches` of them
/// filling the templates of a stamp (its busiest `t`, -1: none) with `fills` distinct values.
struct TemplatingCase {
  int t = -1;
  uint64_t templates = 1;
  double prompts = 0, top_share = 0, fills = 0;
  TemplatingCase(const Stamp& s, double prompts)
      : TemplatingCase(s.top, prompts, s.matches, s.fills) {
    templates = std::max<uint64_t>(1, s.templates);
  }
  TemplatingCase(int t, double prompts, double matches, double fills)
      : t(t),
        prompts(prompts),
        // (A window's matches count the prompt its template was learnt from, which may be older.)
        top_share(prompts > 0 ? std::min(1.0, matches / prompts) : 0),
        // An estimate, bounded by what was counted: never more fills than matches.
        fills(std::round(std::min(fills, std::max(0.0, matches)))) {}
  bool fires(const TemplatingRule& rule) const {
    return t >= 0 && prompts >= static_cast<double>(rule.min_requests) &&
           top_share >= rule.min_share && fills >= rule.min_distinct_fills;
  }
};

/// The templating verdict on one horizon, answers of `median_completion` tokens. The share of
/// answers that are the product and the span's wording are asked of `product_share()` and
/// `span()` only when it fires (judging allocates nothing until a verdict is kept).
template <typename ProductShare, typename Span>
Verdict judge_templating(const TemplatingRule& rule, const TemplateMiner* miner,
                         const TemplatingCase& c, double median_completion,
                         ProductShare&& product_share_of, Span&& span_of) {
  Verdict v;
  double prompts = c.prompts, top_share = c.top_share, fills = c.fills;
  int t = c.t;
  v.metrics = {{"prompts_analysed", prompts},
               {"top_template_share", top_share},
               {"distinct_fills", fills},
               {"median_completion_tokens", median_completion}};
  if (!c.fires(rule)) return v;
  double product_share = product_share_of();
  std::string span = span_of();
  v.fired = true;
  v.template_text = miner->masked(t);
  double score =
      0.5 + 0.3 * clamp01((top_share - rule.min_share) / (1 - rule.min_share + 1e-9)) +
      0.2 * clamp01(fills / (rule.fills_full_ratio * std::max(1.0, rule.min_distinct_fills)));
  // The answers are the product: long, or mostly as long as what was asked (a translation).
  bool long_outputs = median_completion >= static_cast<double>(rule.long_completion_tokens) ||
                      product_share >= rule.product_answer_share;
  // Held there under any bars too, whether or not the score reached the cap: the evidence is
  // what the detector trusts less.
  auto cap = [&](double at) {
    score = std::min(score, at);
    if (severity_of_score(at) < Severity::high) v.medium_at_most = true;
  };
  if (!long_outputs) cap(rule.max_score_short_outputs);
  // A few dozen templated prompts with long answers are also what content pipelines send:
  // high needs several times the minimum evidence (or a second signal, through the risk).
  if (prompts < rule.full_evidence_ratio * static_cast<double>(rule.min_requests))
    cap(rule.max_score_little_evidence);
  v.score = score;
  v.reason = fmt::format(
      "{:.0f}% of {:.0f} prompts {} fill {} with {:.0f} distinct values{}", top_share * 100,
      prompts, span,
      c.templates == 1 ? std::string("one template") : fmt::format("{} templates", c.templates),
      fills,
      !long_outputs ? " (short answers: a pipeline as often as a harvest)"
      : median_completion >= static_cast<double>(rule.long_completion_tokens)
          ? fmt::format(", with long answers (median {:.0f} tokens)", median_completion)
          : fmt::format(", answered at length for what they ask ({:.0f}%)", product_share * 100));
  return v;
}

/// The account's templates (only once it sends prompt text).
struct TemplatingState final : DetectorState {
  TemplateMiner miner;
  void save(StateWriter& w) const override { miner.save(w); }
  void load(StateReader& r) override { miner.load(r); }
};

class PromptTemplating final : public Detector {
 public:
  explicit PromptTemplating(const RuleSet& rules)
      : rule_(rules.prompt_templating), settings_(rules.settings) {}
  const char* name() const override { return "prompt_templating"; }
  bool enabled() const override { return rule_.enabled; }
  const SeverityBars& bars() const override { return rule_.bars; }
  std::unique_ptr<DetectorState> new_state() const override {
    return std::make_unique<TemplatingState>();
  }
  void observe(std::unique_ptr<DetectorState>& state, const Account&,
               const Observation& o) const override {
    if (!o.analysed) return;
    TemplateMiner& miner = state_of<TemplatingState>(state).miner;
    uint64_t replaced = miner.replaced();
    miner.add(o.prompt, o.analysed_hash);
    if (o.counts) o.counts->templates_replaced += miner.replaced() - replaced;
  }
  Verdict judge(const DetectorState* state, const Account& a) const override;
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    if (!state) return;
    TemplateMiner& miner = static_cast<TemplatingState&>(*state).miner;
    miner.reset_counts(a.window.start_ns);
    if (miner.empty()) state.reset();  // no text analysed for a week
  }
  std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const override {
    if (!legacy.miner) return nullptr;
    auto s = std::make_unique<TemplatingState>();
    s->miner = std::move(*legacy.miner);
    return s;
  }

 private:
  const TemplatingRule& rule_;
  const Settings& settings_;
};

Verdict PromptTemplating::judge(const DetectorState* state, const Account& a) const {
  const TemplateMiner* miner = state ? &static_cast<const TemplatingState*>(state)->miner : nullptr;
  const WindowStats& w = a.window;
  Stamp now;
  if (miner)
    now = stamp_of(
        *miner, rule_, [&](int i) { return miner->matches(i); },
        [&](int i) { return miner->distinct_fills(i); });
  TemplatingCase hour(now, static_cast<double>(w.text_requests));
  Verdict window = judge_templating(
      rule_, miner, hour, w.median_completion(),
      [&] {
        PooledEvidence now;
        now.add(window_evidence(a));
        return now.transform_share(settings_.answer_length_correlation);
      },
      [&] { return "in " + window_text(w); });
  if (!miner || !a.judge_long) return window;
  // Over the templates' lives: those filled most since they were learnt, over the prompts
  // since the oldest of them was.
  Stamp life_stamp = stamp_of(
      *miner, rule_, [&](int i) { return miner->lifetime_matches(i); },
      [&](int i) { return miner->lifetime_fills(i); });
  int best = life_stamp.top;
  if (best < 0 || miner->prompts_since_learnt(best) <= w.text_requests) return window;
  uint64_t since = 0;
  int oldest = best;
  for (uint64_t i = 0; i < life_stamp.templates; ++i)
    if (miner->prompts_since_learnt(life_stamp.chosen[i]) > since) {
      oldest = life_stamp.chosen[i];
      since = miner->prompts_since_learnt(oldest);
    }
  TemplatingCase life_case(life_stamp, static_cast<double>(since));
  // The life verdict counts only when it fires: the day's evidence is pooled only then.
  if (!life_case.fires(rule_)) return window;
  PooledEvidence day = day_evidence(a);
  Verdict life = judge_templating(
      rule_, miner, life_case, day.median_completion(),
      [&] { return day.transform_share(settings_.answer_length_correlation); },
      [&] {
        int64_t since = miner->learnt_ns(oldest);
        if (since == INT64_MIN) since = w.start_ns;
        double hours = static_cast<double>(w.last_ns - since) / static_cast<double>(ns_per_hour);
        return hours < 2 ? std::string("in the last hours")
                         : fmt::format("over {:.0f} hours", hours);
      });
  if (life.fired && (!window.fired || life.score > window.score)) return life;
  return window;
}

}  // namespace

std::unique_ptr<Detector> make_prompt_templating(const RuleSet& rules) {
  return std::make_unique<PromptTemplating>(rules);
}

}  // namespace exfilscan::detail
