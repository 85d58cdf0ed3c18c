// A request for written-out reasoning, read from a prompt's words (reasoning_ask.h).
#include "features/reasoning_ask.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string_view>

namespace exfilscan::detail {
namespace {

using namespace std::string_view_literals;

template <typename List>
bool one_of(std::string_view w, const List& list) {
  return std::find(std::begin(list), std::end(list), w) != std::end(list);
}
bool one_of(std::string_view w, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), w) != list.end();
}

// Verbs that ask for something to be written out or shown.
constexpr std::array request_verbs = {
    "show"sv,       "explain"sv,   "walk"sv,    "write"sv,   "detail"sv,      "describe"sv,
    "outline"sv,    "lay"sv,       "spell"sv,   "give"sv,    "provide"sv,     "include"sv,
    "present"sv,    "document"sv,  "list"sv,    "go"sv,      "break"sv,       "state"sv,
    "justify"sv,    "share"sv,     "display"sv, "narrate"sv, "make"sv,        "explicit"sv,
    "articulate"sv, "elaborate"sv, "record"sv,  "expose"sv,  "showing"sv,     "explaining"sv,
    "including"sv,  "detailing"sv, "writing"sv, "listing"sv, "documenting"sv, "describing"sv,
    "outlining"sv,  "justifying"sv};
// What is asked for: the reasoning itself, whatever it is called.
constexpr std::array reasoning_nouns = {"reasoning"sv,   "rationale"sv,     "derivation"sv,
                                        "derivations"sv, "justification"sv, "justifications"sv,
                                        "reasonings"sv};
// Nouns that are the reasoning only as "your ..." or "all/each/every ...": "write the logic"
// or "do calculations" is a task, "show your calculations" is not.
constexpr std::array owned_nouns = {"logic"sv,        "calculations"sv, "calculation"sv,
                                    "computations"sv, "thinking"sv,     "workings"sv,
                                    "inferences"sv,   "inference"sv,    "deductions"sv,
                                    "deduction"sv,    "arithmetic"sv};
constexpr std::array owners = {"your"sv, "all"sv,          "each"sv,    "every"sv,
                               "full"sv, "intermediate"sv, "complete"sv};
// Steps taken one by one: "each step", "every stage", "numbered steps".
constexpr std::array step_nouns = {"step"sv, "steps"sv, "stage"sv, "stages"sv, "move"sv, "moves"sv};
constexpr std::array step_owners = {"each"sv,       "every"sv,    "all"sv, "intermediate"sv,
                                    "individual"sv, "numbered"sv, "your"sv};
// How to think: "think it through", "reason carefully", "reflect systematically".
constexpr std::array thinking_verbs = {"think"sv, "reason"sv, "reflect"sv, "deliberate"sv,
                                       "ponder"sv};
constexpr std::array thinking_manners = {"through"sv,      "carefully"sv, "systematically"sv,
                                         "methodically"sv, "logically"sv, "aloud"sv,
                                         "rigorously"sv,   "slowly"sv};
// "how you got there", "how you arrived at it".
constexpr std::array arrival_verbs = {"got"sv,        "arrived"sv, "reached"sv,  "derived"sv,
                                      "solved"sv,     "came"sv,    "obtained"sv, "computed"sv,
                                      "calculated"sv, "worked"sv,  "found"sv};

constexpr size_t max_words = 256;  // a 256-byte head holds no more

/// The words a pattern can start at, by length and first letter: most of a prompt's words are
/// none of them, and are passed over with one lookup instead of a search of every list.
struct Starters {
  std::array<uint32_t, 16> by_length{};
  Starters() {
    auto add = [&](std::string_view word) {
      by_length[std::min<size_t>(word.size(), 15)] |= uint32_t{1} << (word[0] - 'a');
    };
    for (std::string_view word : request_verbs) add(word);
    for (std::string_view word : thinking_verbs) add(word);
    for (std::string_view word : {"step"sv, "stepwise"sv, "chain"sv, "thought"sv, "thinking"sv,
                                  "reasoning"sv, "worked"sv, "intermediate"sv, "work"sv})
      add(word);
  }
  bool may_start(std::string_view word) const {
    return (by_length[std::min<size_t>(word.size(), 15)] >> (word[0] - 'a')) & 1;
  }
};
const Starters starters;

}  // namespace

bool asks_for_reasoning(std::string_view text) {
  std::array<std::string_view, max_words> w;
  size_t n = 0;
  for (size_t i = 0; i < text.size() && n < max_words;) {
    auto letter = [&](size_t k) { return (text[k] >= 'a' && text[k] <= 'z') || text[k] == '\''; };
    if (!letter(i)) {
      // A sentence or line ends: no pattern reaches across it ("the state of work\n\nthrough").
      char c = text[i];
      bool end = c == '.' || c == '!' || c == '?' || c == ':' || c == ';' || c == '\n';
      if (end && n > 0 && !w[n - 1].empty()) w[n++] = std::string_view();
      ++i;
      continue;
    }
    size_t start = i;
    while (i < text.size() && letter(i)) ++i;
    w[n++] = text.substr(start, i - start);
  }
  auto at = [&](size_t i) { return i < n ? w[i] : std::string_view(); };
  for (size_t i = 0; i < n; ++i) {
    std::string_view x = w[i];
    if (x.empty() || x[0] < 'a' || !starters.may_start(x)) continue;
    // Step by step, step for step, one step at a time, stepwise.
    if (x == "step" && (at(i + 1) == "by" || at(i + 1) == "for") && at(i + 2) == "step")
      return true;
    if (x == "step" && at(i + 1) == "at" && at(i + 2) == "a" && at(i + 3) == "time") return true;
    if (x == "stepwise" || (x == "step" && at(i + 1) == "wise")) return true;
    if (x == "chain" && at(i + 1) == "of" &&
        one_of(at(i + 2), {"thought", "thoughts", "reasoning"}))
      return true;
    if (one_of(x, {"thought", "thinking", "reasoning"}) && at(i + 1) == "process") return true;
    if (x == "worked" && one_of(at(i + 1), {"solution", "solutions", "example", "answer"}))
      return true;
    if (x == "intermediate" &&
        one_of(at(i + 1), {"steps", "results", "values", "calculations", "reasoning"}))
      return true;
    if (one_of(x, thinking_verbs)) {
      // "think it through", "reason carefully", "reflect on it systematically"; "reason it
      // out", "think out loud"; "first think" (not "I think first", a person's opinion).
      for (size_t k = i + 1; k <= i + 3 && k < n && !w[k].empty(); ++k)
        if (one_of(w[k], thinking_manners)) return true;
      // ("think out of the box" is no such request.)
      if ((at(i + 1) == "out" && at(i + 2) != "of") || (at(i + 1) == "it" && at(i + 2) == "out"))
        return true;
      if (i > 0 && w[i - 1] == "first") return true;
    }
    if (x == "work" && at(i + 1) == "through") return true;
    if (!one_of(x, request_verbs)) continue;
    // A request verb, then within four words what it asks for.
    for (size_t k = i + 1; k <= i + 4 && k < n && !w[k].empty(); ++k) {
      std::string_view y = w[k], before = w[k - 1];
      if (one_of(y, reasoning_nouns)) return true;
      if (one_of(y, owned_nouns) && one_of(before, owners)) return true;
      if (y == "logic" && at(k + 1) == "behind") return true;
      if (one_of(y, step_nouns) && one_of(before, step_owners)) return true;
      // "show your work", "show all work", "show all of your work".
      if (y == "work" && one_of(x, {"show", "include", "display"}) &&
          one_of(before, {"your", "all", "the", "of"}))
        return true;
      // "explain how you got there", "show how you arrived at the answer".
      // (One space between them, as the phrase scanner's "how you" that gates this call.)
      if (y == "how" && at(k + 1) == "you" && at(k + 1).data() == y.data() + 4 &&
          y.data()[3] == ' ' && one_of(at(k + 2), arrival_verbs))
        return true;
    }
  }
  return false;
}

}  // namespace exfilscan::detail
