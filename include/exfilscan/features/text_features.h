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

/// What a prompt looks like, from its opening 256 bytes and its last 200 (where a long question
/// puts its answer options and a request for reasoning).
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

/// Which prompts several senders share: the k smallest prompt hashes (a uniform sample of the
/// distinct prompts, exact below k), each with the first sender seen with it and whether
/// another one sent it too. A cluster's keys asking the same questions work from one list;
/// unrelated people rarely send one long prompt word for word.
class SharedPromptSketch {
 public:
  static constexpr size_t k = 64;
  /// (Senders are hashes: the lowest bit of one is not looked at.)
  void add(uint64_t prompt_hash, uint64_t sender_hash);
  /// Distinct prompts in the sample, and of them those sent by two senders or more.
  size_t sampled() const { return size_; }
  size_t shared() const;
  void clear() { size_ = 0; }
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  struct Entry {
    uint64_t prompt;
    uint64_t sender;  // the first; 0 once a second one came
  };
  std::array<Entry, k> smallest_{};  // by prompt, ascending; first size_ valid
  size_t size_ = 0;
};

struct MinerOptions {
  size_t max_templates = 16;     // per account; the least recently used one is replaced
  size_t unmatched_memory = 32;  // recent prompts kept (as hashes) to find new templates in
  size_t min_fixed_tokens = 3;   // prefix + suffix tokens a template needs
  size_t min_frame_tokens = 2;   // or as few as this around the slot ("Question: <*> Answer:")
                                 // or after a label ("Portuguese translation: <*>")
  size_t signature_tokens = 12;  // tokens of each end compared (and longest fixed part)
  /// A template none of whose prompts came for this long is forgotten (relearnt from two
  /// prompts if it comes back): an account's templates are those of its last week, so its
  /// memory stops growing once it has a week of traffic.
  int64_t forget_after_ns = 7 * 86'400'000'000'000LL;
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
  /// The slot's length in bytes in the prompt the last add() matched (0: none, or a template
  /// whose only slots are numbers): what the prompt gave the template to work on.
  size_t last_fill_bytes() const { return last_fill_bytes_; }
  /// The fixed text with the slot masked: "Translate into German: <*>".
  std::string masked(int index) const;
  /// Prompts matched and distinct slot values since the last reset_counts().
  uint64_t matches(int index) const { return templates_[index].matches; }
  double distinct_fills(int index) const { return templates_[index].fills.estimate(); }
  /// The same since the template was learnt (the longest horizon: its whole life), and the
  /// prompts added since then, matching or not.
  uint64_t lifetime_matches(int index) const { return templates_[index].lifetime_matches; }
  double lifetime_fills(int index) const { return templates_[index].lifetime_fills.estimate(); }
  /// Which template holds an index now: an index is reused when a template is replaced, an
  /// identity is not (the prompt count at its first prompt).
  uint64_t identity(int index) const { return templates_[index].learnt_clock; }
  /// Its fixed tokens (prefix and suffix; at most twice signature_tokens).
  size_t fixed_tokens(int index) const {
    return templates_[index].prefix.size() + templates_[index].suffix.size();
  }
  /// Start of the window it was learnt in; INT64_MIN until that window ends.
  int64_t learnt_ns(int index) const { return templates_[index].learnt_ns; }
  uint64_t prompts_since_learnt(int index) const {
    return clock_ - templates_[index].learnt_clock + 1;
  }
  /// Ends the window that began at `window_start_ns`: counts and fill sketches restart;
  /// templates stay, but those unmatched for forget_after_ns are forgotten, and so are recent
  /// prompts older than that.
  void reset_counts(int64_t window_start_ns);
  /// Templates replaced by newer ones (past max_templates) since this miner was made.
  uint64_t replaced() const { return replaced_; }
  /// Holds nothing (no template, no recent prompt): the owner may drop it.
  bool empty() const { return templates_.empty() && unmatched_.empty(); }
  void save(StateWriter& w) const;
  void load(StateReader& r);

 private:
  static constexpr int64_t unknown_time = INT64_MIN;  // not yet set, or from a format 2 state
  /// A recent prompt that fit no template, kept only as token hashes of its two ends.
  struct Signature {
    std::vector<uint64_t> head, tail;
    size_t length = 0;                // tokens
    uint64_t text_hash = 0;           // of the whole text: tells repeats from stamped prompts
    int64_t added_ns = unknown_time;  // start of the window it came in (set when that closes)
  };
  struct Template {
    std::vector<uint64_t> prefix, suffix;
    std::string prefix_text, suffix_text;
    bool slot = true;  // false: the prompts differ only in their numbers
    uint64_t matches = 0;
    DistinctSketch fills;
    uint64_t lifetime_matches = 0;
    DistinctSketch lifetime_fills;
    uint64_t learnt_clock = 0;  // clock_ at its first prompt (the partner's)
    int64_t learnt_ns = unknown_time;
    uint64_t last_used = 0;
    int64_t matched_ns = unknown_time;  // start of the latest window with a match
  };
  bool fits(const Template& t, std::string_view text) const;
  MinerOptions options_;
  std::vector<Template> templates_;
  std::vector<Signature> unmatched_;
  size_t unmatched_next_ = 0;
  uint64_t clock_ = 0;  // prompts added
  uint64_t replaced_ = 0;
  size_t last_fill_bytes_ = 0;
};

}  // namespace exfilscan
