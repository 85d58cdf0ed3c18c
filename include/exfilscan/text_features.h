#pragma once
/// Prompt text as detectors see it: tokens, style flags, templates, distinct-value sketches.
/// Nothing here keeps raw prompt text except a template's fixed parts.

#include <exfilscan/hash.h>
#include <exfilscan/state.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

/// What a prompt looks like, from its first few hundred bytes.
struct PromptStyle {
  bool instruction = false;       // imperative task ("Write...", "Solve...", "Translate...")
  bool benchmark = false;         // multiple choice, math word problem or code task
  bool chain_of_thought = false;  // asks for reasoning written out
};
PromptStyle classify_prompt(std::string_view text);

/// Distinct-count estimate from the k smallest hashes (exact below k values).
class DistinctSketch {
 public:
  static constexpr size_t k = 64;
  void add(uint64_t hash);
  double estimate() const;
  void clear() { size_ = 0; }
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  std::array<uint64_t, k> smallest_{};  // sorted ascending, first size_ valid
  size_t size_ = 0;
};

struct MinerOptions {
  size_t max_templates = 16;     // per account; the least recently used one is replaced
  size_t unmatched_memory = 32;  // recent prompts kept (as hashes) to find new templates in
  size_t min_fixed_tokens = 3;   // prefix + suffix tokens a template needs
  size_t signature_tokens = 12;  // tokens of each end compared (and longest fixed part)
};

/// Finds prompts stamped from one template: a fixed prefix and/or suffix around a variable slot
/// ("Translate into German: <*>", "Question: <*>\nAnswer step by step."). Templates are learnt
/// from pairs of recent prompts sharing enough fixed tokens.
class TemplateMiner {
 public:
  explicit TemplateMiner(MinerOptions options = {}) : options_(options) {}

  /// Index of the template the prompt fits (learning one when it can), or -1.
  int add(std::string_view text) { return add(text, hash_bytes(text)); }
  /// The same, with the text's hash_bytes already at hand.
  int add(std::string_view text, uint64_t text_hash);
  size_t size() const { return templates_.size(); }
  /// The fixed text with the slot masked: "Translate into German: <*>".
  std::string masked(int index) const;
  /// Prompts matched and distinct slot values since the last reset_counts().
  uint64_t matches(int index) const { return templates_[index].matches; }
  double distinct_fills(int index) const { return templates_[index].fills.estimate(); }
  /// Starts a new window: counts and fill sketches restart, templates stay.
  void reset_counts();
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  /// A recent prompt that fit no template, kept only as token hashes of its two ends.
  struct Signature {
    std::vector<uint64_t> head, tail;
    size_t length = 0;       // tokens
    uint64_t text_hash = 0;  // of the whole text: tells repeats from stamped prompts
  };
  struct Template {
    std::vector<uint64_t> prefix, suffix;
    std::string prefix_text, suffix_text;
    bool slot = true;  // false: the prompts differ only in their numbers
    uint64_t matches = 0;
    DistinctSketch fills;
    uint64_t last_used = 0;
  };
  bool fits(const Template& t) const;
  MinerOptions options_;
  std::vector<Template> templates_;
  std::vector<Signature> unmatched_;
  size_t unmatched_next_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace exfilscan
