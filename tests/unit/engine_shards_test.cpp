// The engine's results do not depend on how a run is split: over shards, into batches of
// events, or across a state saved and loaded.
#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <array>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Two keys sending numbered step-by-step problems with long answers: the detectors that read
/// prompts fire, and their evidence keeps request ids and prompt text.
struct Problem {
  std::string key, request_id, prompt;
  int64_t ts, completion;
};
Problem problem(int i) {
  return {i % 3 ? "a" : "b", fmt::format("r{}", i),
          fmt::format("Explain step by step: problem {} of kind {}", i, i % 11),
          t0 + i * 4 * ns_per_second, 500 + i % 300};
}
/// The problem's event, its strings viewed where the caller keeps them.
Event as_event(const Problem& p, std::string_view key, std::string_view request_id,
               std::span<const PromptPart> prompt) {
  Event e;
  e.timestamp_ns = p.ts;
  e.api_key = key;
  e.request_id = request_id;
  e.prompt = prompt;
  e.prompt_tokens = 50;
  e.completion_tokens = p.completion;
  e.status = 200;
  e.turns = 1;
  return e;
}

struct Run {
  std::string findings, ranking;
};
Run outcome(const Recorder& rec, const DetectionEngine& engine) {
  Run r;
  for (const Finding& f : rec.findings) r.findings += describe(f);
  for (const AccountSummary& a : engine.ranking(10))
    r.ranking += fmt::format("{} {:.6f} {} {} {}\n", a.key, a.risk, a.total_requests,
                             a.total_completion_tokens, fmt::join(a.rules, ","));
  return r;
}

}  // namespace

TEST_CASE("the findings do not depend on how the events are handed to the engine",
          "[engine][shards][state]") {
  constexpr int n = 2000, cut = 333;
  EngineOptions with_prompts;
  with_prompts.include_prompts = true;

  // One at a time, each in buffers the next event overwrites (views die after on_event).
  Recorder one_rec;
  DetectionEngine one(default_rules(), with_prompts, one_rec);
  {
    std::string key, id, prompt;
    std::vector<PromptPart> parts(1);
    for (int i = 0; i < n; ++i) {
      Problem p = problem(i);
      key = p.key, id = p.request_id, prompt = p.prompt;
      parts[0] = {PromptRole::user, prompt};
      one.on_event(as_event(p, key, id, parts));
      for (std::string* b : {&key, &id, &prompt}) b->assign(b->size(), '#');
    }
  }
  one.finish();
  Run by_one = outcome(one_rec, one);

  // All kept, in uneven batches of two runs each, over three shards.
  Stream s;
  std::vector<Event> events;
  std::vector<PromptPart> part(1);
  for (int i = 0; i < n; ++i) {
    Problem p = problem(i);
    part[0] = {PromptRole::user, s.keep(p.prompt)};
    events.push_back(as_event(p, s.keep(p.key), s.keep(p.request_id), s.keep_parts(part)));
  }
  EngineOptions three = with_prompts;
  three.shards = 3;
  Recorder batch_rec;
  DetectionEngine batched(default_rules(), three, batch_rec);
  std::span<const Event> all(events);
  for (size_t at = 0, k = 0; at < all.size(); ++k) {
    size_t first = std::min<size_t>(std::array{1, 7, 300, 64}[k % 4], all.size() - at);
    size_t second = std::min<size_t>(k % 3 * 50, all.size() - at - first);
    std::array runs{all.subspan(at, first), all.subspan(at + first, second)};
    batched.on_events(runs);
    at += first + second;
  }
  batched.finish();
  Run by_batch = outcome(batch_rec, batched);

  // Stopped part-way with one shard, saved, loaded with two and finished.
  Recorder before_rec, after_rec;
  DetectionEngine before(default_rules(), with_prompts, before_rec);
  before.on_events(all.first(cut));
  before.finish(false);
  StateWriter saved;
  before.save_state(saved);
  EngineOptions two = with_prompts;
  two.shards = 2;
  DetectionEngine after(default_rules(), two, after_rec);
  StateReader in(saved.data());
  after.load_state(in);
  after.on_events(all.subspan(cut));
  after.finish();
  Run resumed = outcome(after_rec, after);
  resumed.findings = outcome(before_rec, before).findings + resumed.findings;

  INFO(by_one.findings);
  REQUIRE(one_rec.findings.size() >= 2);
  CHECK_FALSE(before_rec.findings.empty());  // the cut falls after some findings, before others
  CHECK_FALSE(after_rec.findings.empty());
  CHECK(by_one.findings.find("  prompt: Explain step by step") != std::string::npos);
  CHECK(by_batch.findings == by_one.findings);
  CHECK(by_batch.ranking == by_one.ranking);
  CHECK(resumed.findings == by_one.findings);
  CHECK(resumed.ranking == by_one.ranking);
}

TEST_CASE("saving and loading mid-stream equals never stopping", "[engine][state]") {
  auto feed = [](DetectionEngine& engine, Stream& s, int from, int to) {
    std::vector<PromptPart> parts(1);
    for (int i = from; i < to; ++i) {
      Event e = s.event(t0 + i * 5 * ns_per_second, i % 4 ? "a" : "b", 400 + i % 500);
      parts[0] = {PromptRole::user, s.keep(fmt::format("Write a note about item {} and its {}", i,
                                                       i % 17 ? "use" : "cost"))};
      e.prompt = parts;
      if (i % 9 == 0) e.status = 429;
      engine.on_event(e);
    }
  };
  auto text = [](const Recorder& r) {
    std::string out;
    for (const Finding& f : r.findings)
      out +=
          fmt::format("{} {} {} {} {}\n", f.rule, f.key, f.detected_at_ns, f.score, f.account_risk);
    return out;
  };
  Stream s;
  Recorder whole;
  DetectionEngine one(default_rules(), {}, whole);
  feed(one, s, 0, 3000);
  one.finish(false);
  StateWriter w1;
  one.save_state(w1);

  Recorder first, second;
  DetectionEngine before(default_rules(), {}, first);
  feed(before, s, 0, 1234);
  before.finish(false);
  StateWriter mid;
  before.save_state(mid);
  DetectionEngine after(default_rules(), {}, second);
  StateReader in(mid.data());
  after.load_state(in);
  feed(after, s, 1234, 3000);
  after.finish(false);
  StateWriter w2;
  after.save_state(w2);

  CHECK_FALSE(whole.findings.empty());
  CHECK(text(whole) == text(first) + text(second));
  CHECK(w1.data() == w2.data());
}

TEST_CASE("a damaged state is refused", "[engine][state]") {
  Recorder rec;
  DetectionEngine engine(default_rules(), {}, rec);
  StateWriter w;
  engine.save_state(w);
  std::string cut = w.data().substr(0, w.data().size() / 2);
  StateReader r(cut);
  DetectionEngine other(default_rules(), {}, rec);
  CHECK_THROWS_AS(other.load_state(r), StateError);
}

namespace {

/// A few hours of mixed traffic that makes every part of the engine work: background keys,
/// templated bursts with long answers, a 429 storm, one /24 fanning out over many keys, late
/// events, idle expiry and the account cap.
std::vector<Event> busy_stream(Stream& s) {
  std::vector<Event> out;
  uint64_t x = 88172645463325252ULL;
  auto next = [&] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  };
  std::vector<PromptPart> parts(1);
  for (int64_t t = 0; t < 8 * ns_per_hour; t += 2 * ns_per_second) {
    int64_t step = t / (2 * ns_per_second);
    if (t > 2 * ns_per_hour && t < 2 * ns_per_hour + 20 * ns_per_minute) {
      for (int i = 0; i < 2; ++i) {  // k7 retries into a wall of 429s
        Event r = s.event(t0 + t, "k7", 0);
        r.status = 429;
        out.push_back(r);
      }
    }
    if (t > 5 * ns_per_hour && t < 5 * ns_per_hour + 30 * ns_per_minute) {
      Event f = s.event(t0 + t, fmt::format("fan{}", next() % 80));
      f.ip = s.keep(fmt::format("10.9.9.{}", next() % 200));
      out.push_back(f);
    }
    // Keys k0-k3 turn into templated harvesters after three hours (one of them every 8 s).
    bool burst = t > 3 * ns_per_hour && step % 4 == 0;
    int k = burst ? static_cast<int>(step / 4 % 4) : static_cast<int>(next() % 120);
    if (!burst && next() % 3) continue;  // background keys are quieter
    int64_t ts = t - (next() % 10 == 0 ? static_cast<int64_t>(next() % 600) * ns_per_second : 0);
    Event e = s.event(t0 + ts, fmt::format("k{}", k), burst ? 900 + next() % 400 : next() % 300);
    e.org = s.keep(fmt::format("o{}", k % 7));
    e.ip = s.keep(fmt::format("10.0.{}.{}", k % 5, k));
    parts[0] = {PromptRole::user,
                s.keep(burst ? fmt::format("Translate into French, step by step: sentence {}",
                                           next() % 100000)
                             : fmt::format("hello {} how are you {}", next() % 50, k))};
    e.prompt = s.keep_parts(parts);
    out.push_back(e);
  }
  return out;
}

struct Outcome {
  std::string findings, ranking, stats, state;
};

Outcome run_sharded(const std::vector<Event>& events, size_t shards, size_t batch,
                    GroupBy group_by = GroupBy::api_key) {
  RuleSet rules = default_rules();
  // A rule grouped by another field than the scan's: its state lives apart from the accounts.
  merge_rules(rules, R"([[threshold]]
id = "key_fanout"
group_by = "ip24"
window = "1h"
condition = "distinct(api_key) > 50"
severity = "low"
)",
              "test");
  rules.settings.idle_expiry_ns = 2 * ns_per_hour;
  rules.settings.max_accounts = 150;
  EngineOptions options;
  options.shards = shards;
  options.group_by = group_by;
  Recorder rec;
  DetectionEngine engine(rules, options, rec);
  for (size_t i = 0; i < events.size(); i += batch)
    engine.on_events(std::span(events).subspan(i, std::min(batch, events.size() - i)));
  StateWriter w;
  engine.save_state(w);
  engine.finish();
  Outcome o;
  for (const Finding& f : rec.findings) o.findings += describe(f);
  for (const AccountSummary& a : engine.ranking(1000))
    o.ranking += fmt::format("{} {:.6f} {} {}\n", a.key, a.risk, a.requests, a.top_rule);
  EngineStats st = engine.stats();
  o.stats = fmt::format("{} {} {} {} {} {} {} {} {}", st.events, st.late_events, st.accounts_seen,
                        st.accounts_active, st.accounts_expired, st.accounts_evicted, st.findings,
                        st.suppressed, st.events_without_account);
  o.state = w.data();
  return o;
}

}  // namespace

TEST_CASE("findings, ranking, totals and state are the same for any number of shards",
          "[engine][shards]") {
  Stream s;
  std::vector<Event> events = busy_stream(s);
  Outcome one = run_sharded(events, 1, 1);
  // Every kind of finding the stream is built to raise, so the comparison means something.
  for (std::string rule : {"volume_spike", "prompt_templating", "throttle_storm", "key_fanout"}) {
    INFO(rule << "\n" << one.findings << one.stats);
    CHECK(one.findings.find(rule + " ") != std::string::npos);
  }
  CHECK(one.stats.find(" 0 0 ") == std::string::npos);  // some expired and some evicted
  for (size_t shards : {2, 3, 5}) {
    for (size_t batch : {1, 97, 2048}) {
      INFO("shards " << shards << ", batches of " << batch);
      Outcome many = run_sharded(events, shards, batch);
      CHECK(many.findings == one.findings);
      CHECK(many.ranking == one.ranking);
      CHECK(many.stats == one.stats);
      CHECK(many.state == one.state);
    }
  }
}

TEST_CASE("grouped by org, events without one are counted once whatever the shards",
          "[engine][shards]") {
  Stream s;
  std::vector<Event> events = busy_stream(s);  // the 429 storm and the fan-out carry no org
  Outcome one = run_sharded(events, 1, 2048, GroupBy::org);
  CHECK(one.stats.substr(one.stats.rfind(' ') + 1) != "0");
  for (size_t shards : {2, 4, 7}) {
    INFO("shards " << shards);
    Outcome many = run_sharded(events, shards, 500, GroupBy::org);
    CHECK(many.findings == one.findings);
    CHECK(many.ranking == one.ranking);
    CHECK(many.stats == one.stats);
    CHECK(many.state == one.state);
  }
}

TEST_CASE("a state saved with some shards continues with any other number", "[engine][shards]") {
  Stream s;
  std::vector<Event> events = busy_stream(s);
  size_t cut = events.size() / 2 + 13;
  RuleSet rules = default_rules();
  auto text = [](const Recorder& r) {
    std::string out;
    for (const Finding& f : r.findings) out += describe(f);
    return out;
  };
  Recorder whole;
  DetectionEngine one(rules, {}, whole);
  one.on_events(events);
  one.finish(false);
  StateWriter w1;
  one.save_state(w1);

  EngineOptions three, two;
  three.shards = 3;
  two.shards = 2;
  Recorder first, second;
  DetectionEngine before(rules, three, first);
  before.on_events(std::span(events).first(cut));
  before.finish(false);
  StateWriter mid;
  before.save_state(mid);
  DetectionEngine after(rules, two, second);
  StateReader in(mid.data());
  after.load_state(in);
  after.on_events(std::span(events).subspan(cut));
  after.finish(false);
  StateWriter w2;
  after.save_state(w2);
  CHECK_FALSE(whole.findings.empty());
  CHECK(text(whole) == text(first) + text(second));
  CHECK(w1.data() == w2.data());
}

TEST_CASE("a state whose clock is not an event time is refused (issue 17)", "[engine][state]") {
  // Found by tests/fuzz: a population usable since "never" overflowed the warm-up's end.
  Recorder rec;
  DetectionEngine fresh(default_rules(), {}, rec);
  StateWriter w;
  fresh.save_state(w);
  // The payload opens with the watermark, the next tick and the population's start.
  for (size_t at : {0, 8, 16}) {
    for (int64_t wild : {int64_t{-1}, INT64_MIN, INT64_MAX - 1}) {
      std::string data = w.data();
      for (int i = 0; i < 8; ++i)
        data[at + i] = static_cast<char>((static_cast<uint64_t>(wild) >> (8 * i)) & 0xff);
      DetectionEngine loaded(default_rules(), {}, rec);
      StateReader in(data);
      CHECK_THROWS_AS(loaded.load_state(in), StateError);
    }
  }
  DetectionEngine loaded(default_rules(), {}, rec);
  StateReader in(w.data());
  CHECK_NOTHROW(loaded.load_state(in));
}

TEST_CASE("a state in format 1 (before shards) still loads", "[engine][state]") {
  Recorder rec;
  DetectionEngine fresh(default_rules(), {}, rec);
  StateWriter w;
  fresh.save_state(w);
  // Format 2 added the windows closed since the last upkeep, and their close times, after the
  // population (three times, then the population: all empty here, a zero count each); format 4
  // the forgotten keys at the end (a zero count), format 6 the held events after them (another)
  // and the room for new accounts, format 7 the logs' first event and the clusters (a count),
  // format 8 the models' first appearances, the logs' stretch and the models noted since the
  // upkeep (two counts, two times).
  std::string v1 = w.data().substr(0, 32) + w.data().substr(48, w.data().size() - 48 - 72);
  DetectionEngine loaded(default_rules(), {}, rec);
  StateReader in(v1, 1);
  loaded.load_state(in);
  StateWriter again;
  loaded.save_state(again);
  CHECK(again.data() == w.data());
  StateReader as_v2(v1);
  DetectionEngine wrong(default_rules(), {}, rec);
  CHECK_THROWS_AS(wrong.load_state(as_v2), StateError);
}
