#include <exfilscan/features/text_features.h>
#include <exfilscan/hash.h>
#include <exfilscan/state.h>

#include "features/prompt_ends.h"
#include "features/reasoning_ask.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace exfilscan;

TEST_CASE("prompt styles", "[text]") {
  CHECK(classify_prompt("Write a haiku about rain.").instruction);
  CHECK(classify_prompt("  please Summarize this article").instruction);
  CHECK_FALSE(classify_prompt("hey, my printer is broken again").instruction);
  CHECK(classify_prompt("Which is a prime?\nA. 4\nB. 7\nC. 9\nD. 12").benchmark);
  CHECK(
      classify_prompt("Tom has 3 apples and buys 5 more. How many apples does he have?").benchmark);
  CHECK(classify_prompt("def add(a, b):\n    \"\"\"Return the sum.\"\"\"").benchmark);
  CHECK_FALSE(classify_prompt("I feel tired today").benchmark);
  CHECK(classify_prompt("Solve for x. Let's think step by step.").chain_of_thought);
  std::string long_tail = std::string(500, 'x') + " Show your work.";
  CHECK(classify_prompt(long_tail).chain_of_thought);
  CHECK_FALSE(classify_prompt("What's the weather like?").chain_of_thought);
}

TEST_CASE("a request for reasoning is read from its words, however it is worded", "[text]") {
  // Wordings no list of phrases holds: a request verb and the reasoning it asks for, a way of
  // thinking, steps one by one.
  for (std::string ask :
       {"Please lay out your logic before the final answer.", "Describe your thought process.",
        "Write out every step of the calculation.", "Go through it one step at a time.",
        "Show how you arrived at the answer.", "Detail the intermediate steps.",
        "Think aloud as you solve it.", "Provide your rationale.", "First think, then respond.",
        "Include all calculations in your answer.", "Before answering, reason it out.",
        "Solve it methodically, showing every step.", "Give a worked solution.",
        "Make your reasoning explicit.", "Use a chain-of-thought."}) {
    INFO(ask);
    CHECK(classify_prompt(ask).chain_of_thought);
    CHECK(classify_prompt(std::string(600, 'a') + "\n" + ask).chain_of_thought);  // the tail
  }
  // People's words that only look like it: an opinion, an idiom, a task, sentences apart.
  for (std::string text :
       {"What do you think about cats?", "I think first we should buy a house.",
        "We think out of the box for every launch.", "Write the logic for a CSV parser in Go.",
        "Write a working program that sorts a list.", "List the steps to bake bread.",
        "We help you understand the state of work\n\nthrough research.",
        "Show me.\nYour logic is wrong, I think.", "What do you think? Carefully now.",
        "Explain how  you got it.",  // (the scanner's "how you", which gates the words, has one
                                     // space)
        "Give me a reason to stay.", "Show me the way home."}) {
    INFO(text);
    CHECK_FALSE(classify_prompt(text).chain_of_thought);
  }
}

TEST_CASE("prompt cues are found at every position of the head and tail, only at word starts",
          "[text]") {
  const std::vector<std::string> reasoning = {
      "step by step",        "step-by-step",        "show your work",      "explain your reasoning",
      "reason through",      "think through",       "let's think",         "chain of thought",
      "show your reasoning", "justify your answer", "explain your answer", "think carefully",
      "reasoning process",   "walk me through"};
  for (const std::string& cue : reasoning) {
    INFO(cue);
    CHECK(classify_prompt(cue).chain_of_thought);
    CHECK(classify_prompt("Now " + cue).chain_of_thought);
    // Ending exactly at the last byte of the 256-byte head, and of the text.
    CHECK(classify_prompt(std::string(256 - cue.size() - 1, 'a') + " " + cue).chain_of_thought);
    CHECK(classify_prompt(std::string(600, 'a') + " " + cue).chain_of_thought);
    // Straddling the head's end: neither the head nor the tail holds it whole.
    CHECK_FALSE(classify_prompt(std::string(250, 'a') + " " + cue + std::string(400, 'b'))
                    .chain_of_thought);
    CHECK_FALSE(classify_prompt("x" + cue).chain_of_thought);  // inside a word
    std::string upper = cue;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(classify_prompt(upper).chain_of_thought);
  }
  for (std::string code : {"def f", "#include <x>", "a ```b", "class Foo", "return x", "python"}) {
    INFO(code);
    CHECK(classify_prompt(code).benchmark);
  }
  CHECK(classify_prompt("x$y 2 and 3").benchmark);  // a maths cue needs two numbers too
  CHECK_FALSE(classify_prompt("redefine classical returns").benchmark);
}

TEST_CASE("the cue scan agrees with a plain search on random text", "[text]") {
  // Random words with reasoning cues dropped in at random places, some glued to a word before
  // them (then they are no cue): the fast scan must find exactly what a plain search finds.
  // Every reasoning cue classify_prompt knows, for the plain search; a few to drop in.
  const std::vector<std::string> all = {
      "step by step",        "step-by-step",        "show your work",      "explain your reasoning",
      "reason through",      "think through",       "let's think",         "chain of thought",
      "show your reasoning", "justify your answer", "explain your answer", "think carefully",
      "reasoning process",   "walk me through"};
  const std::vector<std::string> cues = {"step by step",   "let's think",     "think carefully",
                                         "show your work", "walk me through", "chain of thought"};
  const std::vector<std::string> words = {"the", "steps", "thinking", "show", "walk", "a",  "chain",
                                          "of",  "step",  "through",  "let",  "x1",   "(b)"};
  uint64_t x = 12345;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    while (text.size() < 20 + next() % 230) {
      if (next() % 9 == 0) {
        if (!text.empty() && next() % 3) text += ' ';
        text += cues[next() % cues.size()];
      } else {
        text += ' ' + words[next() % words.size()];
      }
    }
    text = text.substr(0, 256);
    bool expected = false;
    for (const std::string& cue : all)
      for (size_t at = text.find(cue); at != std::string::npos; at = text.find(cue, at + 1))
        if (at == 0 || !(text[at - 1] >= 'a' && text[at - 1] <= 'z')) expected = true;
    // (Or the words ask for it: "show the x1 your work".)
    expected = expected || detail::asks_for_reasoning(text);
    INFO(text);
    CHECK(classify_prompt(text).chain_of_thought == expected);
  }
}

TEST_CASE("a prompt's ends are those of a plain split into tokens", "[text]") {
  // The miner reads only a prompt's ends: they must be the first and last n tokens of a plain
  // whitespace split, and the count exact up to 2n, for any length and spacing.
  const std::vector<std::string> words = {"a", "the", "x1", "42", "Translate", "é", "(b)", "q:"};
  const std::string spaces[] = {" ", "  ", "\n", "\t", " \r\n"};
  uint64_t x = 99;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  detail::PromptEnds got;
  for (int round = 0; round < 20000; ++round) {
    size_t n = next() % 14;
    size_t count = next() % (3 * n + 4);
    std::string text = next() % 3 ? "" : spaces[next() % 5];
    std::vector<std::string> tokens;
    for (size_t t = 0; t < count; ++t) {
      std::string tok = words[next() % words.size()];
      if (next() % 4 == 0) tok += words[next() % words.size()];
      tokens.push_back(tok);
      text += tok;
      if (t + 1 < count || next() % 2) text += spaces[next() % 5];
    }
    auto norm = [](const std::string& t) {
      bool digit = std::any_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
      return digit ? detail::number_token : hash_bytes(t);
    };
    detail::prompt_ends(text, n, got);
    INFO(text << " n=" << n);
    CHECK(got.total == (count <= 2 * n ? count : SIZE_MAX / 2));
    size_t ends = std::min(n, count);
    REQUIRE(got.head.size() == ends);
    REQUIRE(got.tail.size() == ends);
    for (size_t k = 0; k < ends; ++k) {
      const detail::Token& h = got.head[k];
      const detail::Token& t = got.tail[k];
      CHECK(text.substr(h.begin, h.end - h.begin) == tokens[k]);
      CHECK(h.norm == norm(tokens[k]));
      CHECK(text.substr(t.begin, t.end - t.begin) == tokens[count - ends + k]);
      CHECK(t.norm == norm(tokens[count - ends + k]));
    }
  }
}

TEST_CASE("numbers and answer options are counted as a plain count does", "[text]") {
  // Text from a few characters only (no cue word can form), after "how many " half the time:
  // it is a benchmark when two option lines (in the opening 256 bytes and the last 200), or two
  // numbers in the opening after the maths cue, are there.
  const std::string alphabet = "12 \n(ab).x";
  uint64_t x = 777;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
  };
  auto options = [](std::string_view s) {
    int lines = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      bool letter = i + 2 < s.size() && s[i + 1] >= 'a' && s[i + 1] <= 'e';
      if (s[i] == '\n' && letter && (s[i + 2] == '.' || s[i + 2] == ')' || s[i + 2] == ':'))
        ++lines;
      if (s[i] == '(' && letter && s[i + 2] == ')') ++lines;
    }
    return lines;
  };
  for (int round = 0; round < 3000; ++round) {
    bool maths = next() % 2;
    std::string text = maths ? "how many " : "";
    size_t length = next() % 600;
    while (text.size() < length) text += alphabet[next() % alphabet.size()];
    std::string_view all(text);
    std::string_view s = all.substr(0, 256);
    int digit_groups = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      bool digit = s[i] >= '0' && s[i] <= '9';
      if (digit && (i == 0 || !(s[i - 1] >= '0' && s[i - 1] <= '9'))) ++digit_groups;
    }
    int choice_lines = options(s);
    if (all.size() > 256)
      choice_lines += options(all.substr(all.size() - std::min<size_t>(200, all.size() - 256)));
    INFO(text);
    CHECK(classify_prompt(text).benchmark == (choice_lines >= 2 || (maths && digit_groups >= 2)));
  }
}

TEST_CASE("answer options after a long question stem", "[text]") {
  // A multiple-choice question whose stem fills the opening: its options are at the end.
  std::string stem = "Statement 1 | " + std::string(300, 'w') + " holds for every group.";
  CHECK(classify_prompt(stem + "\nA. True, True\nB. False, False\nC. True, False").benchmark);
  CHECK(classify_prompt(stem + " (a) yes (b) no").benchmark);
  // One lettered item at the end of a long letter is no answer list.
  CHECK_FALSE(classify_prompt(stem + "\na) see the attachment").benchmark);
}

TEST_CASE("hashes never change: state files and reports keep them", "[text]") {
  // Values of this version's hash on every length path (short, 17-48, the 48-byte loop): a
  // change here would make yesterday's state files mean something else.
  const std::string text =
      "The quick brown fox jumps over the lazy dog, again and again and again: 0123456789abcdef";
  const std::pair<size_t, uint64_t> known[] = {
      {0, 0x2fe26cef70c71ba5ULL},  {1, 0x99de311e80f44433ULL},  {3, 0xd40463b1b3f87a78ULL},
      {4, 0x00feaca99dbdc31eULL},  {8, 0xdd892397327bcfceULL},  {15, 0x414559aa84ce4be8ULL},
      {16, 0x7b76fdd20a6a54aaULL}, {17, 0x968b98765c0771c7ULL}, {32, 0x1370cc5268c1b5deULL},
      {48, 0xeff343fd885d32c7ULL}, {49, 0x9eb39d400f5dcf64ULL}, {64, 0x09f1575756c8324cULL},
      {88, 0x4c249b2ddbe35382ULL},
  };
  for (auto [n, h] : known) {
    INFO(n);
    CHECK(hash_bytes(std::string_view(text).substr(0, n)) == h);
  }
  CHECK(hash_bytes("key-00012", 7) == 0x0307d88dff15bbc5ULL);
}

TEST_CASE("distinct sketch is exact when small and close when large", "[text]") {
  DistinctSketch s;
  for (int i = 0; i < 40; ++i) s.add(hash_bytes(std::to_string(i % 20)));
  CHECK(s.estimate() == 20);
  DistinctSketch big;
  for (int i = 0; i < 100000; ++i) big.add(hash_bytes(std::to_string(i)));
  CHECK(big.estimate() == Approx(100000).epsilon(0.3));
}

TEST_CASE("shared prompts are those a second sender sent too", "[text]") {
  SharedPromptSketch s;
  for (int i = 0; i < 30; ++i) s.add(hash_bytes(fmt::format("q{}", i)), 1);
  for (int i = 0; i < 30; ++i) s.add(hash_bytes(fmt::format("q{}", i)), 1);  // the same sender
  CHECK(s.sampled() == 30);
  CHECK(s.shared() == 0);
  for (int i = 0; i < 10; ++i) s.add(hash_bytes(fmt::format("q{}", i)), 2);
  CHECK(s.shared() == 10);
  s.add(hash_bytes("q0"), 3);  // a third sender: still one prompt shared
  CHECK(s.shared() == 10);
  CHECK(s.sampled() == 30);
  // Sender 0 is a sender like any other (not the mark of a shared prompt).
  SharedPromptSketch zero;
  zero.add(hash_bytes("q"), 0);
  zero.add(hash_bytes("q"), 0);
  CHECK(zero.shared() == 0);
  zero.add(hash_bytes("q"), 2);
  CHECK(zero.shared() == 1);
}

TEST_CASE("the shared-prompt sample is the k smallest prompts, their senders exact", "[text]") {
  // Against a plain record of every prompt's senders: the sample holds the k smallest hashes
  // and says of each whether two senders sent it, whatever the order of the sends.
  for (uint32_t seed : {1u, 2u, 3u}) {
    INFO("seed " << seed);
    uint64_t x = seed;
    auto next = [&x] {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      return x;
    };
    SharedPromptSketch s;
    std::map<uint64_t, std::set<uint64_t>> senders;
    for (int i = 0; i < 5000; ++i) {
      uint64_t prompt = hash_bytes(fmt::format("prompt {}", next() % 900));
      uint64_t sender = hash_bytes(fmt::format("key {}", next() % (seed == 1 ? 1 : 40)));
      s.add(prompt, sender);
      senders[prompt].insert(sender);
    }
    size_t shared = 0, n = 0;
    for (const auto& [prompt, who] : senders) {
      if (n++ == SharedPromptSketch::k) break;
      shared += who.size() >= 2;
    }
    CHECK(s.sampled() == SharedPromptSketch::k);
    CHECK(s.shared() == shared);
    if (seed == 1) CHECK(shared == 0);
    if (seed != 1) CHECK(shared > 0);
  }
}

TEST_CASE("a shared-prompt sample saves, loads, and refuses one out of order", "[text][state]") {
  SharedPromptSketch s;
  for (int i = 0; i < 20; ++i) s.add(hash_bytes(fmt::format("q{}", i)), i % 3 ? 4 : 6);
  for (int i = 0; i < 20; i += 2) s.add(hash_bytes(fmt::format("q{}", i)), 8);
  StateWriter w;
  s.save(w);
  SharedPromptSketch back;
  StateReader r(w.data());
  back.load(r);
  CHECK(back.sampled() == s.sampled());
  CHECK(back.shared() == s.shared());
  StateWriter again;
  back.save(again);
  CHECK(again.data() == w.data());
  // Two prompts in the wrong order: a state holds any bytes.
  StateWriter bad;
  bad.u64(2);
  for (uint64_t v : {9, 1, 3, 1}) bad.u64(v);
  SharedPromptSketch refused;
  StateReader in(bad.data());
  CHECK_THROWS_AS(refused.load(in), StateError);
}

TEST_CASE("two words around the slot, or a label before it, are one template", "[text]") {
  // The commonest wrappers have two words: each pair of fills sharing a first word once made a
  // template of its own ("Problem: What <*> Solution:"), sixteen of them, none the stamp.
  TemplateMiner miner;
  const char* starts[] = {"What", "How", "Write", "Which", "Give", "Please", "You", "If"};
  const char* rests[] = {"is the longest river in the north",     "do tides follow the moon",
                         "a short note about winter roads",       "gear fits a mountain bike",
                         "two examples of a fair trade",          "list the planets by size",
                         "are asked to sort these cards by suit", "a train leaves early, when"};
  int last = -1;
  for (int i = 0; i < 64; ++i)
    last = miner.add(fmt::format("Problem: {} {} (case {})\nSolution:", starts[i % 8],
                                 rests[i / 8 % 8], i % 8 == i / 8 % 8 ? "same" : "other"));
  REQUIRE(last >= 0);
  CHECK(miner.size() == 1);
  CHECK(miner.masked(last) == "Problem: <*> Solution:");
  CHECK(miner.lifetime_matches(last) == 64);
  // A frame is two words: a word and a number at the end frame nothing (the number is a slot
  // of its own), and two words at one end are too common to be a template ("What is <*>").
  auto word = [](int i, int salt) {  // a word of its own for each i
    return std::string{static_cast<char>('a' + (i * 7 + salt) % 26),
                       static_cast<char>('a' + (i / 26 + salt) % 26), 'x'};
  };
  TemplateMiner numbers, opening, label;
  for (int i = 0; i < 40; ++i) {
    CHECK(numbers.add(fmt::format("travel {} {} {}", word(i, 1), word(i, 2), i)) == -1);
    CHECK(opening.add(fmt::format("What is {} {}", word(i, 3), word(i, 4))) == -1);
    last = label.add(fmt::format("Portuguese translation: {} {}", word(i, 5), word(i, 6)));
  }
  // But two words that end in a colon are a label: a field the slot fills.
  CHECK(label.size() == 1);
  CHECK(label.masked(last) == "Portuguese translation: <*>");
  CHECK(label.lifetime_matches(last) == 40);
  // And two words on a line of their own after the text are a request about it; the same two
  // words ending a sentence, or ending in a number, are not.
  TemplateMiner after, inline_end, count;
  for (int i = 0; i < 40; ++i) {
    last = after.add(fmt::format("{} {} {}.\n\nsimplify this", word(i, 7), word(i, 8), word(i, 9)));
    CHECK(inline_end.add(
              fmt::format("{} {} {} simplify this", word(i, 7), word(i, 8), word(i, 9))) == -1);
    CHECK(count.add(fmt::format("{} {} {}\nitems {}", word(i, 7), word(i, 8), word(i, 9), i)) ==
          -1);
  }
  CHECK(after.size() == 1);
  CHECK(after.masked(last) == "<*> simplify this");
  CHECK(after.lifetime_matches(last) == 40);
  // Learnt, it still wants them on a line of their own.
  for (int i = 0; i < 5; ++i)
    CHECK(after.add(fmt::format("can you {} {} simplify this", word(i, 10), word(i, 11))) != last);
  CHECK(after.lifetime_matches(last) == 40);
}

TEST_CASE("the miner learns a prefix template and counts distinct fills", "[text]") {
  TemplateMiner miner;
  const char* subjects[] = {"the train",      "my sister", "a small dog",
                            "the old museum", "our bus",   "this seat"};
  const char* endings[] = {"is late", "looks tired", "was closed", "needs water", "feels cold"};
  int last = -1;
  for (const char* e : endings)
    for (const char* s : subjects)
      last = miner.add(std::string("Translate into German: ") + s + " " + e);
  REQUIRE(last >= 0);
  CHECK(miner.size() == 1);
  CHECK(miner.masked(last) == "Translate into German: <*>");
  CHECK(miner.matches(last) == 30);
  CHECK(miner.distinct_fills(last) == 30);
  // What filled the slot last: "this seat feels cold" (the space before it is the prefix's).
  CHECK(miner.last_fill_bytes() == std::string("this seat feels cold").size() + 1);
  CHECK(miner.add("Something else entirely, no template here") == -1);
  CHECK(miner.last_fill_bytes() == 0);
}

TEST_CASE("prefix and suffix templates with numbers in the fixed part", "[text]") {
  TemplateMiner miner;
  int index = -1;
  for (int i = 0; i < 20; ++i)
    index = miner.add("Question " + std::to_string(i) + ": what is " + std::to_string(i * 7) +
                      " plus " + std::to_string(i) + "?\nAnswer step by step and box the result.");
  REQUIRE(index >= 0);
  // Only the numbers vary: there is no slot, the numbers are the fill.
  CHECK(miner.masked(index) ==
        "Question <#> what is <#> plus <#> Answer step by step and box the result.");
  CHECK(miner.matches(index) == 20);
  CHECK(miner.distinct_fills(index) == 20);
}

TEST_CASE("a too specific template generalises to the shared part", "[text]") {
  TemplateMiner miner;
  miner.add("Classify the sentiment: the food was great");
  int first = miner.add("Classify the sentiment: the service was slow");
  REQUIRE(first >= 0);
  CHECK(miner.masked(first) == "Classify the sentiment: the <*>");
  int second = miner.add("Classify the sentiment: awful parking");
  CHECK(second == first);
  CHECK(miner.masked(second) == "Classify the sentiment: <*>");
  CHECK(miner.matches(second) == 3);
}

TEST_CASE("diverse prompts and exact repeats make no template", "[text]") {
  TemplateMiner miner;
  const char* prompts[] = {"how do I bake bread",
                           "what's a good name for a cat",
                           "my code segfaults when I free twice",
                           "recommend a sci-fi book",
                           "how do I bake bread",
                           "how do I bake bread"};
  for (const char* p : prompts) CHECK(miner.add(p) == -1);
  CHECK(miner.size() == 0);
}

TEST_CASE("counts restart per window, templates stay", "[text]") {
  TemplateMiner miner;
  int t = -1;
  for (int i = 0; i < 4; ++i)
    t = miner.add("Summarize the following review: item " + std::string(1, 'a' + i) + " okay");
  REQUIRE(t >= 0);
  miner.reset_counts(0);
  CHECK(miner.matches(t) == 0);
  CHECK(miner.add("Summarize the following review: something else entirely") == t);
  CHECK(miner.matches(t) == 1);
}

TEST_CASE("a template unmatched for a week is forgotten, one in use stays", "[text]") {
  constexpr int64_t hour = 3'600'000'000'000LL;
  TemplateMiner miner;
  for (int i = 0; i < 4; ++i) {
    miner.add(fmt::format("Summarize the following review: item {} okay", i));
    miner.add(fmt::format("Translate into German: the {} house is big", i * 7));
  }
  REQUIRE(miner.size() == 2);
  miner.reset_counts(0);
  // Only the German one comes back, a little every day for eight days.
  int german = -1;
  for (int h = 1; h <= 8 * 24; ++h) {
    german = miner.add(fmt::format("Translate into German: the {} garden is small", h));
    miner.reset_counts(h * hour);
    CHECK(miner.size() == (h * hour > 7 * 24 * hour ? 1u : 2u));
  }
  REQUIRE(miner.size() == 1);
  CHECK_THAT(miner.masked(0), Catch::StartsWith("Translate into German"));
  CHECK(german >= 0);
}

TEST_CASE("recent prompts are forgotten after a week: a quiet miner holds nothing", "[text]") {
  constexpr int64_t day = 86'400'000'000'000LL;
  TemplateMiner miner;
  miner.add("Write a poem about the sea and the sky at dawn");
  miner.add("What is the capital of Peru, and why there?");
  CHECK_FALSE(miner.empty());  // two recent prompts, no template
  miner.reset_counts(0);
  miner.reset_counts(3 * day);
  CHECK_FALSE(miner.empty());
  miner.add("Tell me a joke about cats that is not mean");
  miner.reset_counts(4 * day);
  miner.reset_counts(11 * day);
  CHECK_FALSE(miner.empty());  // the last prompt came in the window of day 4
  miner.reset_counts(11 * day + 1);
  CHECK(miner.empty());

  // A template is learnt from a prompt of the last week, not from an older one.
  for (int64_t gap : {6 * day, 8 * day}) {
    TemplateMiner m;
    m.add("Summarize the following review: item a okay");
    m.add("What is the capital of Peru, and why there?");
    m.reset_counts(0);
    m.add("Tell me a joke about cats that is not mean");
    m.reset_counts(gap - day);
    m.reset_counts(gap);
    int t = m.add("Summarize the following review: item b okay");
    CHECK((t >= 0) == (gap < 7 * day));
    CHECK_FALSE(m.empty());  // the joke, a day old, stays
  }
}

TEST_CASE("templates saved in format 2 load, their week starting at the load", "[text][state]") {
  TemplateMiner miner;
  for (int i = 0; i < 4; ++i)
    miner.add(fmt::format("Summarize the following review: item {} okay", i));
  REQUIRE(miner.size() == 1);
  miner.reset_counts(0);
  StateWriter w;
  miner.save(w);
  // Format 2 had no match time nor lifetime: the last template's 8 bytes of match time and
  // the lifetime format 5 added (matches, a sketch of 4 fills, clock and time at learning)
  // before the (empty) list of unmatched prompts, its position and the clock.
  const std::string& v5 = w.data();
  size_t dropped = 8 + (8 + 8 + 8 * 4 + 8 + 8);
  std::string v2 = v5.substr(0, v5.size() - 24 - dropped) + v5.substr(v5.size() - 24);
  TemplateMiner loaded;
  StateReader in(v2, 2);
  loaded.load(in);
  CHECK(in.at_end());
  REQUIRE(loaded.size() == 1);
  constexpr int64_t day = 86'400'000'000'000LL;
  loaded.reset_counts(100 * day);  // the first window after the load starts its clock
  CHECK(loaded.size() == 1);
  loaded.reset_counts(106 * day);
  CHECK(loaded.size() == 1);
  loaded.reset_counts(108 * day);
  CHECK(loaded.size() == 0);
}

TEST_CASE("a saved miner with a wild time is refused, not overflowed (issue 17)", "[text][state]") {
  TemplateMiner miner;
  for (int i = 0; i < 4; ++i)
    miner.add(fmt::format("Summarize the following review: item {} okay", i));
  miner.reset_counts(0);
  StateWriter w;
  miner.save(w);
  // The template's match time: the 8 bytes before the empty unmatched list, position and clock.
  std::string data = w.data();
  for (int64_t wild : {INT64_MIN + 1, int64_t{-1}, INT64_MAX}) {
    for (int i = 0; i < 8; ++i)
      data[data.size() - 32 + i] =
          static_cast<char>((static_cast<uint64_t>(wild) >> (8 * i)) & 0xff);
    TemplateMiner loaded;
    StateReader in(data);
    CHECK_THROWS_AS(loaded.load(in), StateError);
  }
}

TEST_CASE("long prompts are matched by their ends", "[text]") {
  TemplateMiner miner;
  int t = -1;
  for (int i = 0; i < 5; ++i)
    t = miner.add("Summarize this document: " + std::string(3000 + i * 100, 'a' + i) +
                  " end of document. Reply in three bullet points.");
  REQUIRE(t >= 0);
  CHECK(miner.masked(t) ==
        "Summarize this document: <*> end of document. Reply in three bullet points.");
  CHECK(miner.distinct_fills(t) == 5);
}
