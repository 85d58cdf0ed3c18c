// Prompt tokens, distinct-value sketches and the template miner (text_features.h; the prompt
// style is in prompt_style.cpp).
#include <exfilscan/features/text_features.h>
#include <exfilscan/hash.h>
#include <exfilscan/timestamp.h>

#include "features/prompt_ends.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace exfilscan {

namespace {

using detail::number_token;
using detail::Token;
using Ends = detail::PromptEnds;

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// The fixed text of a template, token by token, numbers shown as <#>.
std::string fixed_text(std::string_view text, const Token* tokens, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && out.size() < 200; ++i) {
    if (i) out += ' ';
    if (tokens[i].norm == number_token)
      out += "<#>";
    else
      out.append(text.substr(tokens[i].begin, tokens[i].end - tokens[i].begin));
  }
  return out;
}

std::string first_words(const std::string& s, size_t n) {
  if (n == 0) return "";
  size_t pos = 0;
  for (size_t i = 0; i < n; ++i) {
    pos = s.find(' ', i ? pos + 1 : 0);
    if (pos == std::string::npos) return s;
  }
  return s.substr(0, pos);
}

std::string last_words(const std::string& s, size_t n) {
  if (n == 0) return "";
  size_t pos = s.size();
  for (size_t i = 0; i < n; ++i) {
    size_t sp = pos ? s.rfind(' ', pos - 1) : std::string::npos;
    if (sp == std::string::npos) return s;
    pos = sp;
  }
  return s.substr(pos + 1);
}

size_t common_prefix(const std::vector<uint64_t>& a, const std::vector<Token>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i].norm) ++i;
  return i;
}

size_t common_suffix(const std::vector<uint64_t>& a, const std::vector<Token>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[a.size() - 1 - i] == b[b.size() - 1 - i].norm) ++i;
  return i;
}

// The ends of the prompt being added, shared by add() and fits() (one miner runs on one
// thread; reusing the vectors keeps add() free of allocations).
thread_local Ends scratch;

}  // namespace

void DistinctSketch::add(uint64_t h) {
  // Full: a hash not below the k-th smallest changes nothing (most of them, once full).
  if (size_ == k && h >= smallest_[k - 1]) return;
  uint64_t* end = smallest_.data() + size_;
  uint64_t* pos = std::lower_bound(smallest_.data(), end, h);
  if (pos != end && *pos == h) return;
  if (size_ == k) {
    if (pos == end) return;
    std::memmove(pos + 1, pos, static_cast<size_t>(end - pos - 1) * sizeof(uint64_t));
  } else {
    std::memmove(pos + 1, pos, static_cast<size_t>(end - pos) * sizeof(uint64_t));
    ++size_;
  }
  *pos = h;
}

double DistinctSketch::estimate() const {
  if (size_ < k) return static_cast<double>(size_);
  // k-minimum-values: the k-th smallest of n uniform hashes sits near k/n of the range.
  return static_cast<double>(k - 1) * 18446744073709551616.0 /
         static_cast<double>(smallest_[k - 1]);
}

void SharedPromptSketch::add(uint64_t prompt, uint64_t sender) {
  sender |= 1;  // 0 marks a prompt already shared
  if (size_ == k && prompt > smallest_[k - 1].prompt) return;
  Entry* end = smallest_.data() + size_;
  Entry* pos = std::lower_bound(smallest_.data(), end, prompt,
                                [](const Entry& e, uint64_t p) { return e.prompt < p; });
  if (pos != end && pos->prompt == prompt) {
    if (pos->sender != sender) pos->sender = 0;
    return;
  }
  if (size_ == k) {
    if (pos == end) return;
    std::memmove(pos + 1, pos, static_cast<size_t>(end - pos - 1) * sizeof(Entry));
  } else {
    std::memmove(pos + 1, pos, static_cast<size_t>(end - pos) * sizeof(Entry));
    ++size_;
  }
  *pos = {prompt, sender};
}

size_t SharedPromptSketch::shared() const {
  return static_cast<size_t>(std::count_if(smallest_.begin(), smallest_.begin() + size_,
                                           [](const Entry& e) { return e.sender == 0; }));
}

void SharedPromptSketch::save(StateWriter& w) const {
  w.u64(size_);
  for (size_t i = 0; i < size_; ++i) {
    w.u64(smallest_[i].prompt);
    w.u64(smallest_[i].sender);
  }
}

void SharedPromptSketch::load(StateReader& r) {
  size_ = r.count(k);
  for (size_t i = 0; i < size_; ++i) {
    smallest_[i] = {r.u64(), r.u64()};
    if (i > 0 && smallest_[i].prompt <= smallest_[i - 1].prompt)
      throw StateError("a shared-prompt sample is out of order");
  }
}

bool TemplateMiner::fits(const Template& t, std::string_view text) const {
  const Ends& e = scratch;
  size_t fixed = t.prefix.size() + t.suffix.size();
  if (t.slot ? fixed >= e.total : fixed != e.total) return false;
  if (t.prefix.size() > e.head.size() || t.suffix.size() > e.tail.size()) return false;
  for (size_t i = 0; i < t.prefix.size(); ++i)
    if (t.prefix[i] != e.head[i].norm) return false;
  for (size_t i = 0; i < t.suffix.size(); ++i)
    if (t.suffix[t.suffix.size() - 1 - i] != e.tail[e.tail.size() - 1 - i].norm) return false;
  // A last line's few words (enough_fixed) are that template only as a line of their own:
  // "can you simplify this" is not "<*>\n\nsimplify this".
  if (t.slot && t.prefix.empty() && !t.suffix.empty() && fixed < options_.min_fixed_tokens) {
    uint32_t begin = e.tail[e.tail.size() - t.suffix.size()].begin;
    if (begin == 0 || begin > text.size() || text[begin - 1] != '\n') return false;
  }
  return true;
}

namespace {

/// Enough fixed tokens for a template: `prefix` of the prompt's first and `suffix` of its last
/// tokens. Fewer than min_fixed_tokens do for a frame, a word before the slot and one after it
/// ("Question: <*> Answer:"), or for a label before it ("Portuguese translation: <*>", its
/// last token ending in a colon), or for a last line of its own after the text ("<*>\n\nshorter
/// please"); two words that only open a prompt do not ("What is <*>").
/// Their words are words: a number at a prompt's end is a slot of its own.
bool enough_fixed(const MinerOptions& o, size_t prefix, size_t suffix, const detail::PromptEnds& e,
                  std::string_view text) {
  if (prefix + suffix >= o.min_fixed_tokens) return true;
  if (prefix + suffix < o.min_frame_tokens) return false;
  if (prefix == 0) {
    // A request on a line of its own after the text ("<*>\n\nsimplify this"): the words end
    // the prompt's last line and begin it.
    if (suffix == 0 || suffix > e.tail.size()) return false;
    uint32_t begin = e.tail[e.tail.size() - suffix].begin;
    return suffix >= o.min_frame_tokens && begin > 0 && begin <= text.size() &&
           text[begin - 1] == '\n' && e.tail.back().norm != detail::number_token;
  }
  if (e.head[0].norm == detail::number_token) return false;
  if (suffix > 0) return e.tail.back().norm != detail::number_token;
  uint32_t end = e.head[prefix - 1].end;
  return end > 0 && end <= text.size() && text[end - 1] == ':';
}

}  // namespace

int TemplateMiner::add(std::string_view text, uint64_t text_hash) {
  Ends& e = scratch;
  detail::prompt_ends(text, options_.signature_tokens, e);
  last_fill_bytes_ = 0;
  if (e.total == 0) return -1;
  ++clock_;

  auto count = [&](int index) {
    Template& t = templates_[index];
    if (t.slot) {
      size_t slot_begin = t.prefix.empty() ? 0 : e.head[t.prefix.size() - 1].end;
      size_t slot_end =
          t.suffix.empty() ? text.size() : e.tail[e.tail.size() - t.suffix.size()].begin;
      uint64_t fill = hash_bytes(text.substr(slot_begin, slot_end - slot_begin));
      // (A short prompt's ends may overlap: then no slot is left between them.)
      last_fill_bytes_ = slot_end > slot_begin ? slot_end - slot_begin : 0;
      t.fills.add(fill);
      t.lifetime_fills.add(fill);
    } else {
      t.fills.add(text_hash);  // the numbers are the fill: the whole text, hashed already
      t.lifetime_fills.add(text_hash);
    }
    ++t.matches;
    ++t.lifetime_matches;
    t.last_used = clock_;
    return index;
  };

  // 1. The template with the most fixed tokens that the prompt fits.
  int best = -1;
  size_t best_fixed = 0;
  for (size_t i = 0; i < templates_.size(); ++i) {
    size_t fixed = templates_[i].prefix.size() + templates_[i].suffix.size();
    if (fixed > best_fixed && fits(templates_[i], text))
      best = static_cast<int>(i), best_fixed = fixed;
  }
  if (best >= 0) return count(best);

  // 2. A template that still shares most of its fixed part: generalise it to the shared part.
  for (size_t i = 0; i < templates_.size(); ++i) {
    Template& t = templates_[i];
    size_t p = common_prefix(t.prefix, e.head), s = common_suffix(t.suffix, e.tail);
    size_t fixed = t.prefix.size() + t.suffix.size();
    if (!enough_fixed(options_, p, s, e, text) || 2 * (p + s) < fixed || p + s >= e.total) continue;
    if (p + s > best_fixed) best = static_cast<int>(i), best_fixed = p + s;
  }
  if (best >= 0) {
    Template& t = templates_[best];
    size_t p = common_prefix(t.prefix, e.head), s = common_suffix(t.suffix, e.tail);
    t.prefix.resize(p);
    t.suffix.erase(t.suffix.begin(), t.suffix.end() - static_cast<std::ptrdiff_t>(s));
    t.prefix_text = first_words(t.prefix_text, p);
    t.suffix_text = last_words(t.suffix_text, s);
    t.slot = true;
    return count(best);
  }

  // 3. A recent unmatched prompt with enough of the same fixed tokens: a new template.
  int partner = -1;
  size_t best_p = 0, best_s = 0;
  for (size_t i = 0; i < unmatched_.size(); ++i) {
    const Signature& u = unmatched_[i];
    size_t p = common_prefix(u.head, e.head), s = common_suffix(u.tail, e.tail);
    if (u.text_hash == text_hash) continue;  // a repeat is not a template
    size_t shortest = std::min(u.length, e.total);
    bool same_tokens = u.length == e.total && e.total <= 2 * options_.signature_tokens &&
                       p == e.head.size() && s == e.tail.size();
    if (same_tokens) {
      // The same tokens but for numbers: a template whose only slots are <#>.
      p = e.head.size();
      s = e.total - p;
    } else {
      while (p + s >= shortest && (p || s)) (s ? --s : --p);  // each needs a slot of its own
    }
    if (enough_fixed(options_, p, s, e, text) && p + s > best_p + best_s)
      partner = static_cast<int>(i), best_p = p, best_s = s;
  }
  if (partner >= 0) {
    Template t;
    for (size_t i = 0; i < best_p; ++i) t.prefix.push_back(e.head[i].norm);
    for (size_t i = e.tail.size() - best_s; i < e.tail.size(); ++i)
      t.suffix.push_back(e.tail[i].norm);
    t.prefix_text = fixed_text(text, e.head.data(), best_p);
    t.suffix_text = fixed_text(text, e.tail.data() + (e.tail.size() - best_s), best_s);
    t.slot = best_p + best_s < e.total;
    t.fills.add(unmatched_[partner].text_hash);
    t.lifetime_fills.add(unmatched_[partner].text_hash);
    t.learnt_clock = clock_ - 1;  // the partner came at least one prompt earlier
    unmatched_.erase(unmatched_.begin() + partner);
    if (unmatched_next_ > unmatched_.size()) unmatched_next_ = 0;
    int index;
    if (templates_.size() < options_.max_templates) {
      templates_.push_back(std::move(t));
      index = static_cast<int>(templates_.size() - 1);
    } else {
      auto lru = std::min_element(
          templates_.begin(), templates_.end(),
          [](const Template& a, const Template& b) { return a.last_used < b.last_used; });
      *lru = std::move(t);
      ++replaced_;
      index = static_cast<int>(lru - templates_.begin());
    }
    templates_[index].matches = 1;  // the partner prompt, seen earlier
    templates_[index].lifetime_matches = 1;
    return count(index);
  }

  Signature sig;
  for (const Token& t : e.head) sig.head.push_back(t.norm);
  for (const Token& t : e.tail) sig.tail.push_back(t.norm);
  sig.length = e.total;
  sig.text_hash = text_hash;
  if (unmatched_.size() < options_.unmatched_memory) {
    unmatched_.push_back(std::move(sig));
  } else {
    unmatched_[unmatched_next_] = std::move(sig);
    unmatched_next_ = (unmatched_next_ + 1) % unmatched_.size();
  }
  return -1;
}

std::string TemplateMiner::masked(int index) const {
  const Template& t = templates_[index];
  if (!t.slot) return t.suffix_text.empty() ? t.prefix_text : t.prefix_text + ' ' + t.suffix_text;
  std::string out = t.prefix_text;
  if (!out.empty()) out += ' ';
  out += "<*>";
  if (!t.suffix_text.empty()) out += ' ' + t.suffix_text;
  return out;
}

void DistinctSketch::save(StateWriter& w) const {
  w.u64(size_);
  for (size_t i = 0; i < size_; ++i) w.u64(smallest_[i]);
}

void DistinctSketch::load(StateReader& r) {
  size_ = r.count(k);
  for (size_t i = 0; i < size_; ++i) smallest_[i] = r.u64();
}

namespace {
void save_hashes(StateWriter& w, const std::vector<uint64_t>& v) {
  w.u64(v.size());
  for (uint64_t h : v) w.u64(h);
}
void load_hashes(StateReader& r, std::vector<uint64_t>& v) {
  v.resize(r.count(64));
  for (uint64_t& h : v) h = r.u64();
}
}  // namespace

void TemplateMiner::save(StateWriter& w) const {
  w.u64(templates_.size());
  for (const Template& t : templates_) {
    save_hashes(w, t.prefix);
    save_hashes(w, t.suffix);
    w.str(t.prefix_text);
    w.str(t.suffix_text);
    w.u8(t.slot);
    w.u64(t.matches);
    t.fills.save(w);
    w.u64(t.last_used);
    w.i64(t.matched_ns);
    w.u64(t.lifetime_matches);
    t.lifetime_fills.save(w);
    w.u64(t.learnt_clock);
    w.i64(t.learnt_ns);
  }
  w.u64(unmatched_.size());
  for (const Signature& u : unmatched_) {
    save_hashes(w, u.head);
    save_hashes(w, u.tail);
    w.u64(u.length);
    w.u64(u.text_hash);
    w.i64(u.added_ns);
  }
  w.u64(unmatched_next_);
  w.u64(clock_);
}

namespace {
/// A time in a saved miner: unknown, or an event time (1970 to 2262). A state whose checksum
/// holds can still carry any bytes, and a wild time would overflow the week's arithmetic.
int64_t load_time(StateReader& r, int64_t unknown) {
  if (r.version() < 3) return unknown;  // the clock starts at the load
  int64_t t = r.i64();
  if (t != unknown && (t < 0 || t >= timestamp_end_s * 1'000'000'000))
    throw StateError("a template miner's time is out of range");
  return t;
}
}  // namespace

void TemplateMiner::load(StateReader& r) {
  templates_.resize(r.count(options_.max_templates));
  for (Template& t : templates_) {
    load_hashes(r, t.prefix);
    load_hashes(r, t.suffix);
    t.prefix_text = r.str();
    t.suffix_text = r.str();
    t.slot = r.u8() != 0;
    t.matches = r.u64();
    t.fills.load(r);
    t.last_used = r.u64();
    t.matched_ns = load_time(r, unknown_time);
    if (r.version() >= 5) {
      t.lifetime_matches = r.u64();
      t.lifetime_fills.load(r);
      t.learnt_clock = r.u64();
      t.learnt_ns = load_time(r, unknown_time);
    } else {  // older states knew only the window: its life starts there
      t.lifetime_matches = t.matches;
      t.lifetime_fills = t.fills;
    }
  }
  unmatched_.resize(r.count(options_.unmatched_memory));
  for (Signature& u : unmatched_) {
    load_hashes(r, u.head);
    load_hashes(r, u.tail);
    u.length = r.u64();
    u.text_hash = r.u64();
    u.added_ns = load_time(r, unknown_time);
  }
  unmatched_next_ = r.u64();
  if (unmatched_next_ > unmatched_.size())
    throw StateError("a template miner's position is out of range");
  clock_ = r.u64();
  for (Template& t : templates_) {
    if (r.version() < 5) t.learnt_clock = clock_ >= t.matches ? clock_ - t.matches : 0;
    if (t.learnt_clock > clock_ || t.lifetime_matches > clock_ - t.learnt_clock + 1)
      throw StateError("a template's lifetime counts are out of range");
  }
}

void TemplateMiner::reset_counts(int64_t window_start_ns) {
  bool expired = false;
  for (Signature& u : unmatched_) {
    if (u.added_ns == unknown_time) u.added_ns = window_start_ns;
    expired |= window_start_ns - u.added_ns > options_.forget_after_ns;
  }
  if (expired) {  // keep the rest oldest first: the ring is no longer full
    std::vector<Signature> kept;
    for (size_t i = 0; i < unmatched_.size(); ++i) {
      Signature& u = unmatched_[(unmatched_next_ + i) % unmatched_.size()];
      if (window_start_ns - u.added_ns <= options_.forget_after_ns) kept.push_back(std::move(u));
    }
    unmatched_ = std::move(kept);
    unmatched_next_ = 0;
  }
  for (Template& t : templates_) {
    if (t.matches > 0 || t.matched_ns == unknown_time) t.matched_ns = window_start_ns;
    if (t.learnt_ns == unknown_time) t.learnt_ns = window_start_ns;
    t.matches = 0;
    t.fills.clear();
  }
  std::erase_if(templates_, [&](const Template& t) {
    return window_start_ns - t.matched_ns > options_.forget_after_ns;
  });
}

namespace detail {

namespace {

/// The token ending just before `j` (spaces before it skipped), not reaching below `floor`; its
/// begin and end, or end == begin when there is none.
Token token_before(std::string_view text, size_t j, size_t floor) {
  while (j > floor && is_space(text[j - 1])) --j;
  size_t end = j;
  bool digit = false;
  for (; j > floor && !is_space(text[j - 1]); --j) digit |= is_digit(text[j - 1]);
  uint64_t norm = end == j ? 0 : digit ? number_token : hash_bytes(text.substr(j, end - j));
  return {norm, static_cast<uint32_t>(j), static_cast<uint32_t>(end)};
}

}  // namespace

void prompt_ends(std::string_view text, size_t n, PromptEnds& e) {
  e.head.clear();
  e.tail.clear();
  // The first n tokens from the front, then up to n from the back down to where the head ends:
  // if the back reaches it, the prompt is these tokens and its count is exact; if not, more
  // than 2n tokens leave a slot between the ends whose size never matters.
  size_t i = 0;
  while (i < text.size() && e.head.size() < n) {
    while (i < text.size() && is_space(text[i])) ++i;
    size_t b = i;
    bool digit = false;  // found while scanning: the token is not read a second time
    for (; i < text.size() && !is_space(text[i]); ++i) digit |= is_digit(text[i]);
    if (i > b)
      e.head.push_back({digit ? number_token : hash_bytes(text.substr(b, i - b)),
                        static_cast<uint32_t>(b), static_cast<uint32_t>(i)});
  }
  size_t head_end = i;
  size_t j = text.size();
  std::vector<Token>& back = e.tail;  // last token first until reversed
  while (back.size() < n) {
    Token t = token_before(text, j, head_end);
    if (t.end == t.begin) break;
    back.push_back(t);
    j = t.begin;
  }
  bool more = false;  // a token left between the ends
  for (size_t k = j; back.size() == n && k > head_end && !more; --k) more = !is_space(text[k - 1]);
  std::reverse(back.begin(), back.end());
  if (more) {
    e.total = SIZE_MAX / 2;
    return;
  }
  // The whole prompt is head + back: the tail is its last n tokens (shared with the head when
  // there are fewer than 2n).
  e.total = e.head.size() + back.size();
  if (back.size() < n) {
    size_t from_head = std::min(n - back.size(), e.head.size());
    back.insert(back.begin(), e.head.end() - static_cast<std::ptrdiff_t>(from_head), e.head.end());
  }
}

}  // namespace detail

}  // namespace exfilscan
