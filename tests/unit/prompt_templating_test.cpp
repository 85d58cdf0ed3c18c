// prompt_templating through the engine: the masked template as evidence, the caps on short
// answers, and a few wrappers rotated around one slot counted as one stamp.
#include "engine_test_util.h"

#include "detectors/segments.h"
#include "detectors/template_shapes.h"

#include <catch2/catch.hpp>

#include <functional>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

// The slot's values: 17 x 19 different phrases.
const char* const things[] = {"cat",   "dog",    "river",  "house",  "train",  "garden",
                              "song",  "friend", "city",   "winter", "book",   "lamp",
                              "storm", "coffee", "bridge", "market", "teacher"};
const char* const acts[] = {"sleeps", "waits", "shines", "falls", "grows", "sings", "runs",
                            "breaks", "opens", "closes", "moves", "helps", "stays", "turns",
                            "smiles", "burns", "rests",  "jumps", "hides"};

}  // namespace

TEST_CASE("templated prompts: evidence is the masked template, short answers stay medium",
          "[engine][templating]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 400; ++i) {
    Event e = s.event(t0 + i * 8 * ns_per_second, "pipe", 2);
    parts[0] = {PromptRole::user,
                s.keep(fmt::format("Extract the city from this address: {} Main St, Town{}", i,
                                   i * 7 % 997))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  REQUIRE(rec.count("prompt_templating") == 1);
  const Finding& f = *rec.first("prompt_templating");
  // Only numbers vary: they are the template's slots.
  CHECK(f.template_text == "Extract the city from this address: <#> Main St, <#>");
  CHECK(f.severity == Severity::medium);
  CHECK(f.sample_prompts.empty());  // prompt text only with --include-prompts
}

TEST_CASE("templated prompts with long answers reach high, and allow-lists suppress",
          "[engine][templating]") {
  for (bool allowed : {false, true}) {
    Stream s;
    Recorder rec;
    RuleSet rules = only("prompt_templating");
    if (allowed)
      rules.allow.templates = {"Translate into German and explain the grammar: the <*> today"};
    EngineOptions with_prompts;
    with_prompts.include_prompts = true;
    DetectionEngine engine(rules, with_prompts, rec);
    std::vector<PromptPart> parts(1);
    for (int i = 0; i < 400; ++i) {
      Event e = s.event(t0 + i * 8 * ns_per_second, "harvest", 600);
      parts[0] = {
          PromptRole::user,
          s.keep(fmt::format("Translate into German and explain the grammar: the {} {} today",
                             things[i % 17], acts[i % 19]))};
      e.prompt = parts;
      engine.on_event(e);
    }
    engine.finish();
    if (allowed) {
      CHECK(rec.findings.empty());
      CHECK(engine.stats().suppressed >= 1);
      auto ranking = engine.ranking(0);
      REQUIRE(ranking.size() == 1);
      CHECK(ranking[0].suppressed_findings == engine.stats().suppressed);
    } else {
      // It may first fire at medium and escalate (each finding more severe); it ends high.
      REQUIRE(rec.count("prompt_templating") >= 1);
      for (size_t i = 1; i < rec.findings.size(); ++i)
        CHECK(rec.findings[i].severity > rec.findings[i - 1].severity);
      CHECK(rec.findings.back().severity >= Severity::high);
      CHECK_FALSE(rec.findings.back().sample_prompts.empty());
    }
  }
}

namespace {

/// 400 prompts with long answers, each in one of `wrappers` wrappers around a phrase (17 x 19
/// different phrases): the findings of prompt_templating with max_wrappers at `counted`.
std::vector<Finding> rotated_wrappers(int wrappers, uint64_t counted) {
  Stream s;
  Recorder rec;
  RuleSet rules = only("prompt_templating");
  rules.prompt_templating.max_wrappers = counted;
  DetectionEngine engine(rules, {}, rec);
  static const char* forms[] = {
      "Translate into German and explain the grammar: the {} {} today",
      "Give the French for this sentence with notes on each word: the {} {} today",
      "Write this in Spanish and explain the verb tenses used: the {} {} today"};
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 400; ++i) {
    Event e = s.event(t0 + i * 8 * ns_per_second, "harvest", 600);
    parts[0] = {PromptRole::user, s.keep(fmt::format(fmt::runtime(forms[i % wrappers]),
                                                     things[i % 17], acts[i % 19]))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

Severity highest(const std::vector<Finding>& findings) {
  Severity s = Severity::info;
  for (const Finding& f : findings) s = std::max(s, f.severity);
  return s;
}

}  // namespace

TEST_CASE("a few wrappers rotated around one slot are one stamp", "[engine][templating]") {
  // One wrapper in three: each template holds a third of the prompts, under min_share alone.
  CHECK(rotated_wrappers(3, 1).empty());
  CHECK(rotated_wrappers(3, 0).empty());  // (a rule built in code with none counts none)
  std::vector<Finding> three = rotated_wrappers(3, 3);
  REQUIRE_FALSE(three.empty());
  CHECK(highest(three) >= Severity::high);
  CHECK_THAT(three.back().reason, Catch::Contains("fill 3 templates"));
  // The busiest of them is the evidence shown.
  CHECK_THAT(three.back().template_text, Catch::Contains("<*>"));
  // Two wrappers: each half, at min_share alone; together the whole.
  std::vector<Finding> two = rotated_wrappers(2, 3);
  REQUIRE_FALSE(two.empty());
  CHECK_THAT(two.back().reason, Catch::Contains("fill 2 templates"));
  CHECK(highest(two) > highest(rotated_wrappers(2, 1)));
}

TEST_CASE("a second template with few fills of its own adds nothing", "[engine][templating]") {
  // 55 % of the prompts fill one template with many values; the rest fill another with only
  // 3 values (a form's other field): the share is the first one's, not the sum.
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 400; ++i) {
    Event e = s.event(t0 + i * 8 * ns_per_second, "form", 600);
    std::string text =
        i % 20 < 11
            ? fmt::format("Write a long story about a brave knight named Sir {}", i)
            : fmt::format("Please summarise the quarterly report of region {}", "NSEW"[i % 3]);
    parts[0] = {PromptRole::user, s.keep(text)};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  REQUIRE(rec.count("prompt_templating") >= 1);
  for (const Finding& f : rec.findings) CHECK_THAT(f.reason, Catch::Contains("fill one template"));
}

namespace {

/// 480 prompts: 40 questions, each asked in six languages in turn (two phrasings of the
/// request), answered with `answer` tokens: the findings of prompt_templating.
std::vector<Finding> questions_in_languages(int64_t answer, uint64_t min_questions) {
  Stream s;
  Recorder rec;
  RuleSet rules = only("prompt_templating");
  rules.prompt_templating.min_variant_questions = min_questions;
  DetectionEngine engine(rules, {}, rec);
  static const char* languages[] = {"French", "German", "Korean", "Polish", "Hindi", "Turkish"};
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 480; ++i) {
    int q = i / 6;
    // Questions of ten words that share none at either end (else they are one template's
    // fills).
    std::string question =
        fmt::format("{} {} beside the {} that {} and then {} {}?", things[q % 17], acts[q % 19],
                    things[(q * 5 + 3) % 17], acts[(q * 11 + 2) % 19], things[(q * 3 + 1) % 17], q);
    std::string prompt = i % 2 ? fmt::format("In {}, answer: {}", languages[i % 6], question)
                               : fmt::format("Reply in {} please: {}", languages[i % 6], question);
    Event e = s.event(t0 + i * 20 * ns_per_second, "polyglot", answer);
    parts[0] = {PromptRole::user, s.keep(prompt)};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

}  // namespace

TEST_CASE("a question set asked in several languages is one harvest", "[engine][templating]") {
  // Each question is a template of its own (its slot the language), filled six ways: no one
  // template holds many prompts, and no stamp fires; many such templates do.
  std::vector<Finding> found = questions_in_languages(600, 8);
  REQUIRE_FALSE(found.empty());
  CHECK(highest(found) >= Severity::high);
  CHECK_THAT(found.back().reason, Catch::Contains("templates, each filled a few ways"));
  CHECK_THAT(found.back().reason, Catch::Contains("with long answers"));
  // The fixed part of such a template is the customer's question: never shown.
  for (const Finding& f : found) CHECK(f.template_text.empty());
  // Short answers: a pipeline over a task collection sends as much. Nothing fires.
  CHECK(questions_in_languages(3, 8).empty());
  // Not judged when the rules turn it off.
  CHECK(questions_in_languages(600, 0).empty());
}

TEST_CASE("many wrappers each taking new values are not questions asked several ways",
          "[engine][templating]") {
  // A tutoring app: students' own questions, most with one of nine short endings of their own
  // ("can you explain", "why?"), long answers. Each ending is a template matched many times
  // with a new value each time: over its life it has a stamp's values, so it is no question
  // asked a few ways, and nine of them fire nothing (three wrappers hold under min_share).
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  static const char* endings[] = {
      "pls explain the steps",  "i dont get it, show me how", "can you explain it to me",
      "why is that so?",        "what would you do here",     "is there a simpler way",
      "walk through it slowly", "and what about the units",   "help me with this one"};
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 480; ++i) {
    std::string question = fmt::format("{} {} beside {} {} {}?", things[i % 17], acts[i % 19],
                                       things[(i * 5 + 3) % 17], acts[(i * 11 + 2) % 19], i);
    std::string prompt = i % 5 < 3 ? question + " " + endings[(i * 7) % 9] : question;
    Event e = s.event(t0 + i * 20 * ns_per_second, "tutor", 600);
    parts[0] = {PromptRole::user, s.keep(prompt)};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  CHECK(rec.count("prompt_templating") == 0);
}

namespace {

/// An application's key: people's questions with its system prompt, client and end users,
/// six hours at 300 an hour; with `inject`, one request in ten is a harvest's instead (no
/// system prompt, no end users, another client, one template around a phrase, long answers).
/// With `resume_at`, the engine's state is saved there and the rest read by another engine.
/// With `questions`, the harvest asks each of its questions in six languages in turn instead.
std::vector<Finding> application_key(bool inject, int resume_at = -1, bool questions = false) {
  Stream s;
  Recorder rec;
  RuleSet rules = only("prompt_templating");
  auto engine = std::make_unique<DetectionEngine>(rules, EngineOptions{}, rec);
  std::vector<PromptPart> parts;
  for (int i = 0; i < 1800; ++i) {
    if (i == resume_at) {
      StateWriter w;
      engine->save_state(w);
      engine = std::make_unique<DetectionEngine>(rules, EngineOptions{}, rec);
      StateReader r(w.data());
      engine->load_state(r);
    }
    bool harvest = inject && i % 10 == 0;
    Event e = s.event(t0 + i * 12 * ns_per_second, "app", harvest ? 600 : 200);
    if (harvest) {
      e.user_agent = "python-requests/2.31";
      static const char* languages[] = {"French", "German", "Korean", "Polish", "Hindi", "Dutch"};
      int q = i / 60;  // (each question six times, one harvest request in ten)
      std::string asked =
          questions ? fmt::format("In {}, answer: {} {} beside the {} that {} and then {} {}?",
                                  languages[i / 10 % 6], things[q % 17], acts[q % 19],
                                  things[(q * 5 + 3) % 17], acts[(q * 11 + 2) % 19],
                                  things[(q * 3 + 1) % 17], q)
                    : fmt::format("Translate into German and explain the grammar: the {} {} today",
                                  things[i / 10 % 17], acts[i / 10 % 19]);
      parts = {{PromptRole::user, s.keep(asked)}};
    } else {
      e.user_agent = "acme-app/3.2";
      e.end_user = s.keep(fmt::format("user-{}", i % 40));
      parts = {{PromptRole::system, "You are Acme's assistant for travel questions."},
               {PromptRole::user,
                s.keep(fmt::format("{} {} near the {} {}, {}?", things[i % 17], acts[i % 19],
                                   things[(i * 5 + 3) % 17], acts[(i * 11 + 2) % 19], i))}};
    }
    e.prompt = s.keep_parts(parts);
    engine->on_event(e);
  }
  engine->finish();
  return rec.findings;
}

}  // namespace

TEST_CASE("a stamp injected into an application's key is judged in its own shape",
          "[engine][templating]") {
  // A tenth of the key's prompts: under min_share of the key, most of its own shape's.
  std::vector<Finding> found = application_key(true);
  REQUIRE_FALSE(found.empty());
  CHECK(highest(found) >= Severity::high);
  // (Over the shape's life, 76 prompts of the key's 800 or so since its template was learnt.)
  CHECK_THAT(
      found.back().reason,
      Catch::Matches("in (9|10)% of the key's prompts \\(no system prompt, no end users\\): .*"));
  CHECK_THAT(found.back().template_text, Catch::Contains("<*>"));
  // The application alone fires nothing.
  CHECK(application_key(false).empty());
  // A state saved and read again goes on as one run would.
  std::vector<Finding> resumed = application_key(true, 700);
  REQUIRE(resumed.size() == found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    CHECK(resumed[i].reason == found[i].reason);
    CHECK(resumed[i].score == found[i].score);
  }
}

TEST_CASE("a question set injected into an application's key is judged in its own shape",
          "[engine][templating]") {
  std::vector<Finding> found = application_key(true, -1, true);
  REQUIRE_FALSE(found.empty());
  CHECK(highest(found) >= Severity::high);
  CHECK_THAT(found.back().reason, Catch::Contains("no system prompt, no end users"));
  CHECK_THAT(found.back().reason, Catch::Contains("templates, each filled a few ways"));
  CHECK(found.back().template_text.empty());
}

namespace {

/// One key's 400 passages of one to four clauses (about 7 to 30 tokens) in one long wrapper,
/// each answered `answer(passage tokens, i)` tokens.
std::vector<Finding> rendered(const std::function<int64_t(double, int)>& answer) {
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  const std::string wrapper =
      "You are a careful translator for a publishing house. Put the following passage into "
      "natural, idiomatic Portuguese, keeping its register and punctuation.\n\n";
  for (int i = 0; i < 400; ++i) {
    std::string passage;
    for (int c = 0; c <= i % 4; ++c)
      passage += fmt::format("{}the {} {} near the {}", c ? ", and " : "", things[(i + c) % 17],
                             acts[(i * 7 + c) % 19], things[(i * 5 + 3 * c + 1) % 17]);
    passage += fmt::format(" on day {}.", i);
    double tokens = static_cast<double>(passage.size()) / 4;
    Event e = s.event(t0 + i * 9 * ns_per_second, "renderer", answer(tokens, i));
    e.prompt_tokens = static_cast<int64_t>((wrapper.size() + passage.size()) / 4);
    parts[0] = {PromptRole::user, s.keep(wrapper + passage)};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  return rec.findings;
}

}  // namespace

TEST_CASE("answers as long as what fills the slot are the product, however short",
          "[engine][templating]") {
  // A translation of each passage: about as long as it, from 7 tokens, under a wrapper longer
  // than most passages (against the whole message most answers are short).
  std::vector<Finding> translated = rendered(
      [](double tokens, int i) { return static_cast<int64_t>(tokens * (0.9 + i % 3 * 0.15)); });
  REQUIRE_FALSE(translated.empty());
  CHECK(highest(translated) >= Severity::high);
  CHECK_THAT(translated.back().reason, Catch::Contains("answered at length for what they ask"));
  // A label of each, or an extract of about the same length whatever the passage: short
  // answers, a pipeline as often as a harvest.
  for (auto answer :
       {std::function<int64_t(double, int)>([](double, int) { return 2; }),
        std::function<int64_t(double, int)>([](double, int i) { return 12 + i % 3; })}) {
    std::vector<Finding> labelled = rendered(answer);
    REQUIRE_FALSE(labelled.empty());
    CHECK(highest(labelled) == Severity::medium);
    CHECK_THAT(labelled.back().reason, Catch::Contains("short answers"));
  }
}

TEST_CASE("a template's history is not credited to the shape that fills it next",
          "[engine][templating]") {
  // An application's key: a tenth of its prompts fill its own form (long answers), the rest are
  // people's questions. Six hours in, its client's version changes: a second shape, which fills
  // the same form at the same tenth. The form's matches before the change are the first
  // shape's, not the new one's: nothing fires.
  Stream s;
  Recorder rec;
  DetectionEngine engine(only("prompt_templating"), {}, rec);
  std::vector<PromptPart> parts(1);
  for (int i = 0; i < 3600; ++i) {
    bool form = i % 10 == 0;
    Event e = s.event(t0 + i * 12 * ns_per_second, "app", form ? 600 : 200);
    e.user_agent = i < 1800 ? "acme-app/3.2" : "acme-app/3.3";
    parts[0] = {PromptRole::user,
                form ? s.keep(fmt::format("Summarise this support ticket for the team: the {} {} "
                                          "again",
                                          things[i / 10 % 17], acts[i / 10 % 19]))
                     : s.keep(fmt::format("{} {} near the {} {}, {}?", things[i % 17], acts[i % 19],
                                          things[(i * 5 + 3) % 17], acts[(i * 11 + 2) % 19], i))};
    e.prompt = parts;
    engine.on_event(e);
  }
  engine.finish();
  CHECK(rec.count("prompt_templating") == 0);
}

TEST_CASE("shape tags follow their templates when the miner forgets one", "[templating]") {
  using detail::TemplateShapes;
  TemplateMiner miner;
  TemplateShapes shapes;
  Settings settings = default_rules().settings;
  Stream s;
  auto send = [&](int64_t ts, const char* agent, std::string text) {
    Event e = s.event(ts, "app", 300);
    e.user_agent = agent;
    int index = miner.add(s.keep(std::move(text)));
    shapes.observe(e, settings, 4, miner, index);
    return index;
  };
  auto close = [&](int64_t window_start) {
    miner.reset_counts(window_start);
    shapes.close_window();
    shapes.realign(miner);
  };
  const int64_t day = 86'400 * ns_per_second;
  send(t0, "b", "a first question without any form at all");
  send(t0, "a", "Old form: one is written at the end of the form here");
  REQUIRE(send(t0, "a", "Old form: two is written at the end of the form here") == 0);
  close(t0);
  // Day 5: a second form, filled from both shapes: the application's own.
  send(t0 + 5 * day, "a", "New form: nine words closing this other kind of form");
  REQUIRE(send(t0 + 5 * day, "b", "New form: ten words closing this other kind of form") == 1);
  send(t0 + 5 * day, "a", "New form: six words closing this other kind of form");
  close(t0 + 5 * day);
  // Day 9: the old form, unused for 8 days, is forgotten; the new one moves to index 0.
  close(t0 + 9 * day);
  REQUIRE(miner.size() == 1);
  REQUIRE(send(t0 + 9 * day, "a", "New form: two words closing this other kind of form") == 0);
  // Still the application's own: filled from two shapes, whatever its index.
  Event a = s.event(t0, "app");
  a.user_agent = "a";
  CHECK(shapes.only_from(miner, 0, detail::traffic_shape(a)) == nullptr);
  Event b = s.event(t0, "app");
  b.user_agent = "b";
  CHECK(shapes.only_from(miner, 0, detail::traffic_shape(b)) == nullptr);
}
