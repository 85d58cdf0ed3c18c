#include <exfilscan/features/text_features.h>
#include <exfilscan/hash.h>
#include <exfilscan/timestamp.h>

#include "byte_mask.h"
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

namespace {

struct Phrase {
  std::string_view text;
  uint8_t kind;  // 0 math cue, 1 code cue, 2 chain of thought
};

// Cues looked for at word starts, grouped by first character, so one pass over the text checks
// only the few phrases that can start at each word.
constexpr std::array<Phrase, 30> phrases = {{
    {"how many", 0},
    {"how much", 0},
    {"what is", 0},
    {"calculate", 0},
    {"solve", 0},
    {"find", 0},
    {"\\frac", 0},
    {"$", 0},
    {"def ", 1},
    {"function", 1},
    {"return ", 1},
    {"#include", 1},
    {"python", 1},
    {"class ", 1},
    {"algorithm", 1},
    {"```", 1},
    {"step by step", 2},
    {"step-by-step", 2},
    {"show your work", 2},
    {"explain your reasoning", 2},
    {"reason through", 2},
    {"think through", 2},
    {"let's think", 2},
    {"chain of thought", 2},
    {"show your reasoning", 2},
    {"justify your answer", 2},
    {"explain your answer", 2},
    {"think carefully", 2},
    {"reasoning process", 2},
    {"walk me through", 2},
}};

struct PhraseIndex {
  std::array<std::array<uint8_t, 8>, 256> by_first{};
  std::array<uint8_t, 256> count{};
  // The first four bytes of each phrase as one word: most candidates fail this one compare.
  std::array<uint32_t, phrases.size()> head{};
  // A bit per hash of the first four bytes of each phrase of four or more bytes: a position
  // whose next four bytes miss it starts no such phrase (one probe, no branch, per byte).
  std::array<uint64_t, 64> head_bits{};
  static uint32_t bit_of(uint32_t four) { return (four * 0x9E3779B1u) >> 20; }  // 12 bits
  PhraseIndex() {
    for (size_t i = 0; i < phrases.size(); ++i) {
      auto c = static_cast<unsigned char>(phrases[i].text[0]);
      by_first[c][count[c]++] = static_cast<uint8_t>(i);
      char four[4] = {0, 0, 0, 0};
      std::memcpy(four, phrases[i].text.data(), std::min<size_t>(4, phrases[i].text.size()));
      std::memcpy(&head[i], four, 4);
      if (phrases[i].text.size() >= 4) {
        uint32_t b = bit_of(head[i]);
        head_bits[b >> 6] |= uint64_t{1} << (b & 63);
      }
    }
  }
};
const PhraseIndex phrase_index;

size_t lower_copy(std::string_view in, char* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  }
  return in.size();
}

bool is_letter(char c) {
  return c >= 'a' && c <= 'z';
}

/// Checks the phrases that begin with s[i] against the text there.
void match_at(std::string_view s, size_t i, std::array<bool, 3>& found) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t left = s.size() - i;
  uint32_t here = 0;
  std::memcpy(&here, s.data() + i, std::min<size_t>(4, left));
  for (uint8_t k = 0; k < phrase_index.count[c]; ++k) {
    uint8_t id = phrase_index.by_first[c][k];
    const Phrase& p = phrases[id];
    size_t len = p.text.size();
    if (left < len) continue;
    uint32_t mask = len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
    if ((here & mask) != (phrase_index.head[id] & mask)) continue;
    if (len <= 4 || std::memcmp(s.data() + i + 4, p.text.data() + 4, len - 4) == 0)
      found[p.kind] = true;
  }
}

/// The characters cue phrases begin with, for the block filter.
struct FirstChars {
  std::array<unsigned char, 32> list{};
  size_t size = 0;
  FirstChars() {
    for (int c = 0; c < 256; ++c)
      if (phrase_index.count[c]) list[size++] = static_cast<unsigned char>(c);
  }
};
const FirstChars first_chars;

/// One position: the hashed probe of its four bytes, then the phrases.
inline void probe(std::string_view s, size_t i, bool word_start, std::array<bool, 3>& found) {
  char c = s[i];
  uint32_t four;
  std::memcpy(&four, s.data() + i, 4);
  uint32_t b = PhraseIndex::bit_of(four);
  bool hit = ((phrase_index.head_bits[b >> 6] >> (b & 63)) & 1) | (c == '$') | (c == '`');
  // A phrase that begins with a letter must begin a word.
  if (hit & (word_start | !is_letter(c))) match_at(s, i, found);
}

using detail::bits_of;
using detail::Bytes32;
using detail::load32;

/// Sets found[kind] for each cue that starts a word of s. `s` must be followed by three
/// readable bytes (its buffer's padding): four bytes are read at every position probed.
void scan_cues(std::string_view s, std::array<bool, 3>& found) {
  // Phrases of four bytes or more are found through the hash of the four bytes at a position;
  // the two shorter ones ("$", "```") start with characters checked directly. Positions are
  // first filtered 32 at a time (vector compares): a phrase's first character there, at a word
  // start. Most positions fail that and are never probed.
  size_t n = s.size();
  if (n == 0) return;
  probe(s, 0, true, found);
  size_t i = 1;
  for (; i + 32 <= n; i += 32) {
    Bytes32 cur = load32(s.data() + i), prev = load32(s.data() + i - 1);
    Bytes32 candidate = {};
    for (size_t k = 0; k < first_chars.size; ++k)
      candidate |= reinterpret_cast<Bytes32>(cur == first_chars.list[k]);
    // Letters are a-z (the text is lower-cased): a letter after a letter starts no word.
    Bytes32 cur_letter = reinterpret_cast<Bytes32>(static_cast<Bytes32>(cur - 'a') < 26);
    Bytes32 prev_letter = reinterpret_cast<Bytes32>(static_cast<Bytes32>(prev - 'a') < 26);
    candidate &= ~(cur_letter & prev_letter);
    for (uint32_t m = bits_of(candidate); m; m &= m - 1) {
      size_t at = i + static_cast<size_t>(__builtin_ctz(m));
      probe(s, at, true, found);
    }
  }
  for (; i < n; ++i) probe(s, i, !is_letter(s[i - 1]), found);
}

constexpr std::array<std::string_view, 52> imperative_verbs = {
    "write",     "explain",    "generate",   "create",     "give",      "list",      "describe",
    "summarize", "summarise",  "translate",  "classify",   "solve",     "answer",    "calculate",
    "find",      "compute",    "rewrite",    "convert",    "implement", "identify",  "compose",
    "suggest",   "design",     "name",       "provide",    "determine", "evaluate",  "compare",
    "edit",      "make",       "develop",    "analyze",    "analyse",   "outline",   "construct",
    "predict",   "categorize", "paraphrase", "complete",   "prove",     "simplify",  "derive",
    "extract",   "draft",      "tell",       "brainstorm", "propose",   "formulate", "estimate",
    "choose",    "select",     "correct"};

}  // namespace

PromptStyle classify_prompt(std::string_view text) {
  // The style shows in the opening; a request for reasoning often comes at the very end.
  // 4 bytes of padding after each copy: scan_cues reads four bytes at every position.
  std::array<char, 256 + 4> head{};
  std::string_view s(head.data(), lower_copy(text.substr(0, 256), head.data()));
  PromptStyle style;

  size_t b = 0;
  while (b < s.size() &&
         (is_space(s[b]) || s[b] == '"' || s[b] == '\'' || s[b] == '#' || s[b] == '*'))
    ++b;
  std::string_view rest = s.substr(b);
  if (rest.starts_with("please ")) rest.remove_prefix(7);
  size_t e = 0;
  while (e < rest.size() && is_letter(rest[e])) ++e;
  std::string_view first = rest.substr(0, e);
  for (std::string_view v : imperative_verbs)
    if (first == v) style.instruction = true;
  if (rest.starts_with("question:") || rest.starts_with("q:") || rest.starts_with("instruction:") ||
      rest.starts_with("instruction\n") || s.find("### instruction") != std::string_view::npos)
    style.instruction = true;

  std::array<bool, 3> cue{};
  scan_cues(s, cue);
  if (text.size() > 256) {
    std::array<char, 200 + 4> tail{};
    std::string_view t = text.substr(text.size() - std::min<size_t>(200, text.size() - 256));
    scan_cues(std::string_view(tail.data(), lower_copy(t, tail.data())), cue);
  }

  int digit_groups = 0, choice_lines = 0;
  // Answer options: "\nA." "\nB)" "\nc:" or "(a)".
  auto option_at = [&](size_t i) {
    char c = s[i];
    bool option_letter = i + 2 < s.size() && s[i + 1] >= 'a' && s[i + 1] <= 'e';
    if (c == '\n' && option_letter && (s[i + 2] == '.' || s[i + 2] == ')' || s[i + 2] == ':'))
      ++choice_lines;
    if (c == '(' && option_letter && s[i + 2] == ')') ++choice_lines;
  };
  // 32 bytes at a time: digit groups start where a digit follows a non-digit; option markers
  // start at the rare '\n' and '(' (checked one by one).
  size_t i = 0;
  if (!s.empty()) {
    digit_groups += is_digit(s[0]);
    option_at(0);
    i = 1;
  }
  for (; i + 32 <= s.size(); i += 32) {
    Bytes32 cur = load32(s.data() + i), prev = load32(s.data() + i - 1);
    Bytes32 digit = reinterpret_cast<Bytes32>(static_cast<Bytes32>(cur - '0') < 10);
    Bytes32 prev_digit = reinterpret_cast<Bytes32>(static_cast<Bytes32>(prev - '0') < 10);
    digit_groups += __builtin_popcount(bits_of(digit & ~prev_digit));
    Bytes32 marker = reinterpret_cast<Bytes32>(cur == '\n') | reinterpret_cast<Bytes32>(cur == '(');
    for (uint32_t m = bits_of(marker); m; m &= m - 1)
      option_at(i + static_cast<size_t>(__builtin_ctz(m)));
  }
  for (; i < s.size(); ++i) {
    digit_groups += is_digit(s[i]) && !is_digit(s[i - 1]);
    if (s[i] == '\n' || s[i] == '(') option_at(i);
  }
  style.benchmark = choice_lines >= 2 || (digit_groups >= 2 && cue[0]) || cue[1];
  style.chain_of_thought = cue[2];
  return style;
}

void DistinctSketch::add(uint64_t h) {
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

bool TemplateMiner::fits(const Template& t) const {
  const Ends& e = scratch;
  size_t fixed = t.prefix.size() + t.suffix.size();
  if (t.slot ? fixed >= e.total : fixed != e.total) return false;
  if (t.prefix.size() > e.head.size() || t.suffix.size() > e.tail.size()) return false;
  for (size_t i = 0; i < t.prefix.size(); ++i)
    if (t.prefix[i] != e.head[i].norm) return false;
  for (size_t i = 0; i < t.suffix.size(); ++i)
    if (t.suffix[t.suffix.size() - 1 - i] != e.tail[e.tail.size() - 1 - i].norm) return false;
  return true;
}

int TemplateMiner::add(std::string_view text, uint64_t text_hash) {
  Ends& e = scratch;
  detail::prompt_ends(text, options_.signature_tokens, e);
  if (e.total == 0) return -1;
  ++clock_;

  auto count = [&](int index) {
    Template& t = templates_[index];
    if (t.slot) {
      size_t slot_begin = t.prefix.empty() ? 0 : e.head[t.prefix.size() - 1].end;
      size_t slot_end =
          t.suffix.empty() ? text.size() : e.tail[e.tail.size() - t.suffix.size()].begin;
      t.fills.add(hash_bytes(text.substr(slot_begin, slot_end - slot_begin)));
    } else {
      t.fills.add(text_hash);  // the numbers are the fill: the whole text, hashed already
    }
    ++t.matches;
    t.last_used = clock_;
    return index;
  };

  // 1. The template with the most fixed tokens that the prompt fits.
  int best = -1;
  size_t best_fixed = 0;
  for (size_t i = 0; i < templates_.size(); ++i) {
    size_t fixed = templates_[i].prefix.size() + templates_[i].suffix.size();
    if (fixed > best_fixed && fits(templates_[i])) best = static_cast<int>(i), best_fixed = fixed;
  }
  if (best >= 0) return count(best);

  // 2. A template that still shares most of its fixed part: generalise it to the shared part.
  for (size_t i = 0; i < templates_.size(); ++i) {
    Template& t = templates_[i];
    size_t p = common_prefix(t.prefix, e.head), s = common_suffix(t.suffix, e.tail);
    size_t fixed = t.prefix.size() + t.suffix.size();
    if (p + s < options_.min_fixed_tokens || 2 * (p + s) < fixed || p + s >= e.total) continue;
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
    if (p + s >= options_.min_fixed_tokens && p + s > best_p + best_s)
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
      index = static_cast<int>(lru - templates_.begin());
    }
    templates_[index].matches = 1;  // the partner prompt, seen earlier
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
