#include "detectors/prompt_templating.h"

#include "detectors/detector.h"

#include "detectors/horizons.h"
#include "detectors/scoring.h"
#include "detectors/template_shapes.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

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

/// A question set asked several ways each (in several languages, styles or roles): the miner
/// learns a template per question, its fixed part the question, its slot what varies. Counted
/// over the templates with two matches and two values or more on the horizon, a question's
/// length of fixed tokens, and fewer than a stamp's min_distinct_fills over their life (a
/// wrapper takes new values for as long as it is used; a question is asked its few ways and
/// left); `prompts` are those since the oldest of them was learnt, at most `cap` (the
/// horizon's own).
struct Variants {
  int top = -1, oldest = -1;  // the busiest of them, the one learnt first
  double matches = 0, questions = 0, prompts = 0;
};

template <typename Count, typename Fills>
Variants variants_of(const TemplateMiner& miner, const TemplatingRule& rule, uint64_t cap,
                     Count&& count, Fills&& fills_of) {
  Variants v;
  // Judged at every turn of an account's traffic: the counts first, the sketches only when
  // enough templates are matched twice for the verdict to fire.
  size_t n = miner.size(), twice = 0;
  if (rule.min_variant_questions == 0) return v;
  for (size_t i = 0; i < n; ++i) twice += count(static_cast<int>(i)) >= 2;
  if (twice < rule.min_variant_questions) return v;
  uint64_t busiest = 0, since = 0;
  for (size_t i = 0; i < n; ++i) {
    int t = static_cast<int>(i);
    uint64_t c = count(t);
    if (c < 2 || miner.fixed_tokens(t) < rule.min_question_tokens || fills_of(t) < 2 ||
        miner.lifetime_fills(t) >= rule.min_distinct_fills)
      continue;
    v.matches += static_cast<double>(c);
    v.questions += 1;
    if (miner.prompts_since_learnt(t) > since) since = miner.prompts_since_learnt(t), v.oldest = t;
    if (c > busiest) busiest = c, v.top = t;
  }
  v.prompts = static_cast<double>(std::min(since, cap));
  return v;
}

/// What the templating verdict on one horizon turns on: `prompts` analysed, `matches` of them
/// filling the templates of a stamp (its busiest `t`, -1: none) with `fills` distinct values.
struct TemplatingCase {
  int t = -1;
  uint64_t templates = 1;
  double prompts = 0, top_share = 0, fills = 0;
  bool variants = false;  // `templates` questions asked several ways, not one stamp's fills
  TemplatingCase(const Stamp& s, double prompts)
      : TemplatingCase(s.top, prompts, s.matches, s.fills) {
    templates = std::max<uint64_t>(1, s.templates);
  }
  explicit TemplatingCase(const Variants& v)
      : TemplatingCase(v.top, v.prompts, v.matches, v.questions) {
    templates = static_cast<uint64_t>(v.questions);
    variants = true;
  }
  TemplatingCase(int t, double prompts, double matches, double fills)
      : t(t),
        prompts(prompts),
        // (A window's matches count the prompt its template was learnt from, which may be older.)
        top_share(prompts > 0 ? std::min(1.0, matches / prompts) : 0),
        // An estimate, bounded by what was counted: never more fills than matches.
        fills(std::round(std::min(fills, std::max(0.0, matches)))) {}
  double min_fills(const TemplatingRule& rule) const {
    return variants ? static_cast<double>(rule.min_variant_questions) : rule.min_distinct_fills;
  }
  bool fires(const TemplatingRule& rule) const {
    if (variants && rule.min_variant_questions == 0) return false;
    return t >= 0 && prompts >= static_cast<double>(rule.min_requests) &&
           top_share >= rule.min_share && fills >= min_fills(rule);
  }
};

/// The templating verdict on one horizon, answers of `median_completion` tokens, `expansion`
/// times as long as what they answer (geometric mean; 0: not known). The share of
/// answers that are the product and the span's wording are asked of `product_share()` and
/// `span()` only when it fires (judging allocates nothing until a verdict is kept).
template <typename ProductShare, typename Span>
Verdict judge_templating(const TemplatingRule& rule, const TemplateMiner* miner,
                         const TemplatingCase& c, double median_completion, double expansion,
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
  // The answers are the product: long, or mostly as long as what was asked (a translation), or
  // several times as long as it (written out from a line: a label, an extract, a summary
  // never is).
  bool long_answers = median_completion >= static_cast<double>(rule.long_completion_tokens);
  bool expanded = rule.answer_expansion > 0 && expansion >= rule.answer_expansion;
  bool long_outputs = long_answers || product_share >= rule.product_answer_share || expanded;
  // Many templates filled a few times each, with short answers, is what a pipeline over a task
  // collection sends (a label or a number per prompt): no evidence of a harvest at all.
  if (c.variants && !long_outputs) return v;
  std::string span = span_of();
  v.fired = true;
  // A question's template is the customer's question itself: not shown.
  if (!c.variants) v.template_text = miner->masked(t);
  // (Variants: the part for fills is full at twice the minimum of templates, 16 by default:
  // all an account keeps.)
  double fills_full = c.variants ? 2 * c.min_fills(rule)
                                 : rule.fills_full_ratio * std::max(1.0, rule.min_distinct_fills);
  double score = 0.5 + 0.3 * clamp01((top_share - rule.min_share) / (1 - rule.min_share + 1e-9)) +
                 0.2 * clamp01(fills / fills_full);
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
  std::string what = c.variants
                         ? fmt::format("fit {:.0f} templates, each filled a few ways", fills)
                         : fmt::format("fill {} with {:.0f} distinct values",
                                       c.templates == 1 ? std::string("one template")
                                                        : fmt::format("{} templates", c.templates),
                                       fills);
  v.reason = fmt::format(
      "{:.0f}% of {:.0f} prompts {} {}{}", top_share * 100, prompts, span, what,
      !long_outputs  ? " (short answers: a pipeline as often as a harvest)"
      : long_answers ? fmt::format(", with long answers (median {:.0f} tokens)", median_completion)
      : product_share >= rule.product_answer_share
          ? fmt::format(", answered at length for what they ask ({:.0f}%)", product_share * 100)
          : fmt::format(", answered at {:.1f} times the length of what they ask", expansion));
  return v;
}

constexpr size_t max_kept_shapes = 16;  // (the rules' max_segments is at most this)

/// The account's templates (only once it sends prompt text), and its prompts by shape.
struct TemplatingState final : DetectorState {
  TemplateMiner miner;
  TemplateShapes shapes;
  SlotAnswers window_slots, life_slots;  // the key's, in the window and over its life
  void save(StateWriter& w) const override {
    miner.save(w);
    shapes.save(w);
    window_slots.save(w);
    life_slots.save(w);
  }
  void load(StateReader& r) override {
    miner.load(r);
    // (Format 10 and older kept no shapes: a split key's are counted from the next prompt.)
    if (r.version() >= 11) {
      shapes.load(r, max_kept_shapes, MinerOptions{}.max_templates);
      shapes.realign(miner);
    }
    window_slots = life_slots = SlotAnswers{};
    if (r.version() >= 13) {
      window_slots.load(r);
      life_slots.load(r);
    }
  }
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
    TemplatingState& s = state_of<TemplatingState>(state);
    uint64_t replaced = s.miner.replaced();
    int index = s.miner.add(o.prompt, o.analysed_hash);
    if (o.counts) o.counts->templates_replaced += s.miner.replaced() - replaced;
    s.shapes.observe(o.event, settings_, rule_.max_segments, s.miner, index);
    if (index >= 0 && s.miner.last_fill_bytes() > 0 && o.event.completion_tokens)
      for (SlotAnswers* a : {&s.window_slots, &s.life_slots})
        a->add(s.miner.last_fill_bytes(), *o.event.completion_tokens, settings_.answer_input_ratio);
  }
  Verdict judge(const DetectorState* state, const Account& a) const override {
    Verdict key = judge_key(state, a);
    if (!state) return key;
    return judge_shapes(static_cast<const TemplatingState&>(*state), a, std::move(key));
  }
  void close_window(std::unique_ptr<DetectorState>& state, const Account& a) const override {
    if (!state) return;
    TemplateMiner& miner = static_cast<TemplatingState&>(*state).miner;
    miner.reset_counts(a.window.start_ns);
    TemplateShapes& shapes = static_cast<TemplatingState&>(*state).shapes;
    shapes.close_window();
    static_cast<TemplatingState&>(*state).window_slots = SlotAnswers{};
    shapes.realign(miner);             // (reset_counts forgets templates unused for a week)
    if (miner.empty()) state.reset();  // no text analysed for a week
  }
  std::unique_ptr<DetectorState> from_legacy(LegacyDetectorData& legacy) const override {
    if (!legacy.miner) return nullptr;
    auto s = std::make_unique<TemplatingState>();
    s->miner = std::move(*legacy.miner);
    return s;
  }

 private:
  /// How many times as long the answers are as what they answer, where they are answers at all
  /// (a median of settings.min_answer_tokens: under it, labels); else 0. What they answer is
  /// the last user message, and at most the key's answers over its prompts as the log counts
  /// their tokens: a prompt that names a document it does not hold is not a line.
  double expansion(const Account& a, const LengthPairs& lengths, double median_completion) const {
    if (median_completion < static_cast<double>(settings_.min_answer_tokens)) return 0;
    double x = lengths.expansion();
    if (a.prompt_tokens > 0)
      x = std::min(x,
                   static_cast<double>(a.completion_tokens) / static_cast<double>(a.prompt_tokens));
    return x;
  }
  /// A shape's answers that are the product: long for the whole prompt, or following what
  /// filled the slot.
  double product_share(const ShapePrompts::Counts& c) const {
    return std::max(c.product_share(), c.slot.product_share(settings_.answer_length_correlation));
  }
  /// The key's prompts as a whole.
  Verdict judge_key(const DetectorState* state, const Account& a) const;
  /// Each shape's prompts on their own where the key's traffic splits: the stronger of `best`
  /// and theirs.
  Verdict judge_shapes(const TemplatingState& s, const Account& a, Verdict best) const;

  const TemplatingRule& rule_;
  const Settings& settings_;
};

/// The stronger of two verdicts that fired (`a` when neither did).
Verdict stronger(Verdict a, Verdict b) {
  return b.fired && (!a.fired || b.score > a.score) ? std::move(b) : std::move(a);
}

Verdict PromptTemplating::judge_key(const DetectorState* state, const Account& a) const {
  const TemplateMiner* miner = state ? &static_cast<const TemplatingState*>(state)->miner : nullptr;
  const WindowStats& w = a.window;
  auto matches = [&](int i) { return miner->matches(i); };
  auto fills = [&](int i) { return miner->distinct_fills(i); };
  Stamp now;
  if (miner) now = stamp_of(*miner, rule_, matches, fills);
  TemplatingCase hour(now, static_cast<double>(w.text_requests));
  const TemplatingState* ts = static_cast<const TemplatingState*>(state);
  // Answers at length for what they ask: the whole message, or what filled the slot.
  auto slot_share = [&](const SlotAnswers TemplatingState::*slots) {
    return ts ? (ts->*slots).product_share(settings_.answer_length_correlation) : 0.0;
  };
  auto window_share = [&] {
    PooledEvidence now;
    now.add(window_evidence(a));
    return std::max(now.transform_share(settings_.answer_length_correlation),
                    slot_share(&TemplatingState::window_slots));
  };
  auto window_span = [&] { return "in " + window_text(w); };
  Verdict window =
      judge_templating(rule_, miner, hour, w.median_completion(),
                       expansion(a, w.lengths, w.median_completion()), window_share, window_span);
  if (!miner) return window;
  TemplatingCase asked(variants_of(*miner, rule_, w.text_requests, matches, fills));
  if (asked.fires(rule_))
    window =
        stronger(std::move(window), judge_templating(rule_, miner, asked, w.median_completion(),
                                                     expansion(a, w.lengths, w.median_completion()),
                                                     window_share, window_span));
  if (!a.judge_long) return window;
  // Over the templates' lives: those filled most since they were learnt, over the prompts
  // since the oldest of them was.
  auto life_matches = [&](int i) { return miner->lifetime_matches(i); };
  auto life_fills = [&](int i) { return miner->lifetime_fills(i); };
  Stamp life_stamp = stamp_of(*miner, rule_, life_matches, life_fills);
  std::optional<TemplatingCase> life_case;
  int oldest = life_stamp.top;
  if (oldest >= 0 && miner->prompts_since_learnt(oldest) > w.text_requests) {
    uint64_t since = 0;
    for (uint64_t i = 0; i < life_stamp.templates; ++i)
      if (miner->prompts_since_learnt(life_stamp.chosen[i]) > since) {
        oldest = life_stamp.chosen[i];
        since = miner->prompts_since_learnt(oldest);
      }
    life_case.emplace(life_stamp, static_cast<double>(since));
  }
  Variants life_variants = variants_of(*miner, rule_, UINT64_MAX, life_matches, life_fills);
  TemplatingCase life_asked(life_variants);
  // The life verdicts count only when they fire: the day's evidence is pooled only then.
  bool stamped = life_case && life_case->fires(rule_);
  bool varied =
      life_asked.fires(rule_) && life_asked.prompts > static_cast<double>(w.text_requests);
  if (!stamped && !varied) return window;
  PooledEvidence day = day_evidence(a);
  auto day_share = [&] {
    return std::max(day.transform_share(settings_.answer_length_correlation),
                    slot_share(&TemplatingState::life_slots));
  };
  auto life_span = [&](int since_template) {
    return [&, since_template] {
      int64_t since = miner->learnt_ns(since_template);
      if (since == INT64_MIN) since = w.start_ns;
      double hours = static_cast<double>(w.last_ns - since) / static_cast<double>(ns_per_hour);
      return hours < 2 ? std::string("in the last hours") : fmt::format("over {:.0f} hours", hours);
    };
  };
  if (stamped)
    window = stronger(std::move(window),
                      judge_templating(rule_, miner, *life_case, day.median_completion(),
                                       expansion(a, day.lengths, day.median_completion()),
                                       day_share, life_span(oldest)));
  if (varied)
    window = stronger(std::move(window),
                      judge_templating(rule_, miner, life_asked, day.median_completion(),
                                       expansion(a, day.lengths, day.median_completion()),
                                       day_share, life_span(life_variants.oldest)));
  return window;
}

Verdict PromptTemplating::judge_shapes(const TemplatingState& s, const Account& a,
                                       Verdict best) const {
  const std::vector<ShapePrompts>& shapes = s.shapes.shapes;
  if (shapes.size() < 2 || rule_.max_segments == 0) return best;
  const TemplateMiner& miner = s.miner;
  double window_all = 0, life_all = 0;
  for (const ShapePrompts& p : shapes) {
    window_all += static_cast<double>(p.window.prompts);
    life_all += static_cast<double>(p.life.prompts);
  }
  const double min_prompts = static_cast<double>(rule_.min_requests);
  for (const ShapePrompts& p : shapes) {
    auto tag = [&](int i) { return s.shapes.only_from(miner, i, p.shape); };
    auto own = [&](Verdict v, double share) {
      v.metrics.push_back({"segment_share", share});
      v.reason = fmt::format("in {:.0f}% of the key's prompts ({}, {}): {}", share * 100,
                             p.with_system ? "with a system prompt" : "no system prompt",
                             p.with_end_users ? "with end users" : "no end users", v.reason);
      best = stronger(std::move(best), std::move(v));
    };
    double in_window = static_cast<double>(p.window.prompts);
    auto window_counts = [&](int i) -> uint64_t {
      const TemplateShape* t = tag(i);
      return t ? t->window_matches : 0;
    };
    auto window_fills = [&](int i) { return miner.distinct_fills(i); };
    auto window_verdict = [&](const TemplatingCase& c) {
      Verdict v = judge_templating(
          rule_, &miner, c, p.window.median_completion(), 0,
          [&] { return product_share(p.window); }, [&] { return "in " + window_text(a.window); });
      if (v.fired) own(std::move(v), in_window / window_all);
    };
    if (in_window > 0 && in_window >= min_prompts &&
        in_window <= rule_.segment_max_share * window_all) {
      window_verdict(
          TemplatingCase(stamp_of(miner, rule_, window_counts, window_fills), in_window));
      TemplatingCase asked(
          variants_of(miner, rule_, p.window.prompts, window_counts, window_fills));
      if (asked.fires(rule_)) window_verdict(asked);
    }
    double in_life = static_cast<double>(p.life.prompts);
    if (!a.judge_long || in_life == 0 || in_life > rule_.segment_max_share * life_all) continue;
    // Over the shape's prompts since the oldest of a case's templates was learnt.
    auto since = [&](int oldest) {
      uint64_t base = s.shapes.templates[static_cast<size_t>(oldest)].base;
      return static_cast<double>(p.life.prompts - std::min(base, p.life.prompts));
    };
    auto life_verdict = [&](const TemplatingCase& c, int oldest) {
      if (c.prompts <= in_window || !c.fires(rule_)) return;  // the window's own case
      Verdict v = judge_templating(
          rule_, &miner, c, p.life.median_completion(), 0, [&] { return product_share(p.life); },
          [&] {
            int64_t from = miner.learnt_ns(oldest);
            if (from == INT64_MIN) from = a.window.start_ns;
            double hours =
                static_cast<double>(a.window.last_ns - from) / static_cast<double>(ns_per_hour);
            return hours < 2 ? std::string("in the last hours")
                             : fmt::format("over {:.0f} hours", hours);
          });
      if (v.fired) own(std::move(v), in_life / life_all);
    };
    auto life_counts = [&](int i) -> uint64_t {
      const TemplateShape* t = tag(i);
      return t ? t->life_matches : 0;
    };
    auto life_fills = [&](int i) { return miner.lifetime_fills(i); };
    Stamp st = stamp_of(miner, rule_, life_counts, life_fills);
    if (st.top >= 0) {
      int oldest = st.top;
      for (uint64_t i = 0; i < st.templates; ++i)
        if (since(st.chosen[i]) > since(oldest)) oldest = st.chosen[i];
      life_verdict(TemplatingCase(st, since(oldest)), oldest);
    }
    Variants asked = variants_of(miner, rule_, UINT64_MAX, life_counts, life_fills);
    if (asked.oldest >= 0) {
      asked.prompts = since(asked.oldest);
      life_verdict(TemplatingCase(asked), asked.oldest);
    }
  }
  return best;
}

}  // namespace

std::unique_ptr<Detector> make_prompt_templating(const RuleSet& rules) {
  return std::make_unique<PromptTemplating>(rules);
}

}  // namespace exfilscan::detail
