#pragma once
/// Internal: a key's prompts by traffic shape, for prompt_templating. A stamp injected into an
/// application's key (a tenth of its traffic, say) holds a tenth of the key's prompts, under
/// any share a template must hold; but it arrives with a shape of its own (no system prompt or
/// another one, no end users, another client: detectors/segments.h) and holds most of that
/// shape's prompts. So each shape's prompts and answers are counted, and each template the
/// miner holds is tagged with the shape it is filled from, once the key's traffic splits.

#include "engine/account_state.h"

#include <exfilscan/features/text_features.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include <cstdint>
#include <vector>

namespace exfilscan::detail {

/// Answers to templated prompts against what filled the slot (4 bytes a token): a
/// translation's or a rewrite's answer grows with its fill and is about as long, whatever the
/// wrapper around it and however short the fill; a label's, an extract's or a one-line
/// summary's does not grow with it, and a label is a fraction of it.
struct SlotAnswers {
  LengthPairs lengths;                // (fill tokens, answer tokens)
  uint64_t answers = 0, product = 0;  // product: at least answer_input_ratio times the fill
  void add(size_t fill_bytes, int64_t completion_tokens, double answer_input_ratio);
  /// The share of the answers that are the product, where answer lengths follow fill lengths
  /// (Pearson's r of their logs at least `min_correlation`); else 0.
  double product_share(double min_correlation) const {
    if (answers == 0 || lengths.correlation() < min_correlation) return 0;
    return static_cast<double>(product) / static_cast<double>(answers);
  }
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// One shape's prompts analysed and their answers, in the window and since it was first kept.
struct ShapePrompts {
  uint64_t shape = 0;
  bool with_system = false, with_end_users = false;
  struct Counts {
    uint64_t prompts = 0, answers = 0, product = 0;  // answers: completions known
    double log_completion = 0;                       // sum of log(1 + completion tokens)
    double median_completion() const;                // their geometric mean
    double product_share() const { return answers ? double(product) / double(answers) : 0; }
    SlotAnswers slot;  // of its prompts that fit a template
  };
  Counts window, life;
};

/// The shape a template is filled from, and its matches from it since it was tagged (the
/// miner's own counts cover the template's whole life, from any shape: a template learnt
/// before the key's traffic split, or in a state of format 10, would credit its history to
/// the shape that fills it next).
struct TemplateShape {
  uint64_t identity = UINT64_MAX;  // the template's (TemplateMiner::identity); none yet
  uint64_t shape = 0;
  bool mixed = false;  // filled from two shapes or more: the application's own
  uint64_t base = 0;   // its shape's life prompts before the first match counted here
  uint64_t window_matches = 0, life_matches = 0;
};

struct TemplateShapes {
  std::vector<ShapePrompts> shapes;      // at most max_segments: a new one takes the quietest's
  std::vector<TemplateShape> templates;  // by the miner's index, once there are two shapes

  /// One analysed prompt of `ev`, its answer `completion` (if known) for a prompt of `asked`
  /// tokens; `index`: the miner's template for it (-1: none).
  void observe(const Event& ev, const Settings& settings, size_t max_shapes,
               const TemplateMiner& miner, int index);
  /// A window closes: the window's counts start again.
  void close_window();
  /// The miner dropped or moved templates (TemplateMiner::reset_counts, a load): each tag
  /// follows its template's identity to its index, and a tag without a template goes.
  void realign(const TemplateMiner& miner);
  /// The tag of the template at `index` when it is filled from `shape` alone, else null.
  const TemplateShape* only_from(const TemplateMiner& miner, int index, uint64_t shape) const;
  void save(StateWriter& w) const;
  void load(StateReader& r, size_t max_shapes, size_t max_templates);
};

}  // namespace exfilscan::detail
