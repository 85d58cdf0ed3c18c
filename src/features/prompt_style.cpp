// Prompt style: the cues of instructions, benchmarks and asked-for reasoning in a prompt's
// opening and end (classify_prompt in text_features.h).
#include <exfilscan/features/text_features.h>

#include "byte_mask.h"
#include "features/reasoning_ask.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace exfilscan {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

struct Phrase {
  std::string_view text;
  uint8_t kind;  // 0 math cue, 1 code cue, 2 chain of thought, 3 a reasoning word
};

// Cues looked for at word starts, grouped by first character, so one pass over the text checks
// only the few phrases that can start at each word.
constexpr std::array<Phrase, 52> phrases = {{
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
    // Words every request for reasoning that asks_for_reasoning reads holds one of, at a word's
    // start: only a prompt with one is read word by word.
    {"step", 3},
    {"stage", 3},
    {"move", 3},
    {"chain", 3},
    {"thought", 3},
    {"think", 3},
    {"reason", 3},
    {"rational", 3},
    {"deriv", 3},
    {"justif", 3},
    {"logic", 3},
    {"calcul", 3},
    {"comput", 3},
    {"work", 3},
    {"infer", 3},
    {"deduc", 3},
    {"arithm", 3},
    {"how you", 3},
    {"interm", 3},
    {"reflect", 3},
    {"deliber", 3},
    {"ponder", 3},
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
void match_at(std::string_view s, size_t i, std::array<bool, 4>& found) {
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
inline void probe(std::string_view s, size_t i, bool word_start, std::array<bool, 4>& found) {
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
void scan_cues(std::string_view s, std::array<bool, 4>& found) {
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

struct Marks {
  int digit_groups = 0;
  int choice_lines = 0;  // answer options: "\nA." "\nB)" "\nc:" or "(a)"
};

/// Digit groups and answer options in `s` (lower-cased; followed by its buffer's padding).
Marks count_marks(std::string_view s) {
  Marks m;
  auto option_at = [&](size_t i) {
    char c = s[i];
    bool option_letter = i + 2 < s.size() && s[i + 1] >= 'a' && s[i + 1] <= 'e';
    if (c == '\n' && option_letter && (s[i + 2] == '.' || s[i + 2] == ')' || s[i + 2] == ':'))
      ++m.choice_lines;
    if (c == '(' && option_letter && s[i + 2] == ')') ++m.choice_lines;
  };
  // 32 bytes at a time: digit groups start where a digit follows a non-digit; option markers
  // start at the rare '\n' and '(' (checked one by one).
  size_t i = 0;
  if (!s.empty()) {
    m.digit_groups += is_digit(s[0]);
    option_at(0);
    i = 1;
  }
  for (; i + 32 <= s.size(); i += 32) {
    Bytes32 cur = load32(s.data() + i), prev = load32(s.data() + i - 1);
    Bytes32 digit = reinterpret_cast<Bytes32>(static_cast<Bytes32>(cur - '0') < 10);
    Bytes32 prev_digit = reinterpret_cast<Bytes32>(static_cast<Bytes32>(prev - '0') < 10);
    m.digit_groups += __builtin_popcount(bits_of(digit & ~prev_digit));
    Bytes32 marker = reinterpret_cast<Bytes32>(cur == '\n') | reinterpret_cast<Bytes32>(cur == '(');
    for (uint32_t bits = bits_of(marker); bits; bits &= bits - 1)
      option_at(i + static_cast<size_t>(__builtin_ctz(bits)));
  }
  for (; i < s.size(); ++i) {
    m.digit_groups += is_digit(s[i]) && !is_digit(s[i - 1]);
    if (s[i] == '\n' || s[i] == '(') option_at(i);
  }
  return m;
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

  std::array<bool, 4> cue{};
  scan_cues(s, cue);
  std::array<char, 200 + 4> tail{};
  std::string_view tail_text;
  if (text.size() > 256) {
    std::string_view t = text.substr(text.size() - std::min<size_t>(200, text.size() - 256));
    tail_text = std::string_view(tail.data(), lower_copy(t, tail.data()));
    scan_cues(tail_text, cue);
  }

  // Answer options follow the question: a long stem pushes them out of the opening, so they are
  // counted at the end too (a third of MMLU's questions put theirs past the first 256 bytes).
  Marks marks = count_marks(s);
  if (!tail_text.empty()) marks.choice_lines += count_marks(tail_text).choice_lines;
  int digit_groups = marks.digit_groups, choice_lines = marks.choice_lines;
  style.benchmark = choice_lines >= 2 || (digit_groups >= 2 && cue[0]) || cue[1];
  // The listed phrasings, or a request for reasoning however it is worded.
  style.chain_of_thought =
      cue[2] || (cue[3] && (detail::asks_for_reasoning(s) ||
                            (!tail_text.empty() && detail::asks_for_reasoning(tail_text))));
  return style;
}

}  // namespace exfilscan
