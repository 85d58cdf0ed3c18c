// The event-time clock: a lone far-future line never moves it, nor reaches its account; a gap
// in traffic moves it once a second event confirms the time (issue 17, item 7).

#include "engine/event_clock.h"
#include "engine_test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

constexpr int64_t year_2261 = 9'200'000'000LL * ns_per_second;  // 2261-07-14
constexpr int64_t year_2027 = t0 + 240 * ns_per_day;            // 2027-06-30

RuleSet campaign_rules() {
  RuleSet rules = only_thresholds(R"([[threshold]]
id = "busy"
window = "10m"
condition = "count > 40"
severity = "high"
)");
  rules.settings.idle_expiry_ns = 2 * ns_per_hour;
  return rules;
}

/// Three hours: "camp" every 10 s (fires `busy` once per episode), ten quiet keys a minute.
std::vector<Event> campaign(Stream& s) {
  std::vector<Event> out;
  for (int64_t t = 0; t < 3 * ns_per_hour; t += 10 * ns_per_second) {
    out.push_back(s.event(t0 + t, "camp"));
    if (t % ns_per_minute == 0)
      out.push_back(s.event(t0 + t, fmt::format("quiet{}", t / ns_per_minute % 10)));
  }
  return out;
}

struct Outcome {
  std::string findings, ranking;
  EngineStats stats;
};

/// The events through an engine of `shards` shards, saved and loaded at `cut` (none at 0) into
/// a new one that goes on (as chained --state runs do), finished at the end.
Outcome run(const std::vector<Event>& events, size_t shards, size_t cut = 0) {
  EngineOptions options;
  options.shards = shards;
  Recorder rec;
  auto engine = std::make_unique<DetectionEngine>(campaign_rules(), options, rec);
  if (cut) {
    engine->on_events(std::span(events).first(cut));
    engine->finish(false);
    StateWriter w;
    engine->save_state(w);
    engine = std::make_unique<DetectionEngine>(campaign_rules(), options, rec);
    StateReader r(w.data());
    engine->load_state(r);
  }
  engine->on_events(std::span(events).subspan(cut));
  engine->finish();
  Outcome o;
  for (const Finding& f : rec.findings) o.findings += describe(f);
  // Flagged accounts by risk; the others (ranked by this run's traffic) by key.
  std::vector<std::string> others;
  for (const AccountSummary& a : engine->ranking(100)) {
    std::string row = fmt::format("{} {} {}\n", a.key, a.total_requests, a.total_last_seen_ns);
    if (a.rules.empty())
      others.push_back(row);
    else
      o.ranking += row;
  }
  std::sort(others.begin(), others.end());
  for (const std::string& row : others) o.ranking += row;
  o.stats = engine->stats();
  return o;
}

}  // namespace

TEST_CASE("a first line dated 2261 does not set the clock (issue 17)", "[engine][clock]") {
  Stream s;
  std::vector<Event> events = campaign(s);
  Outcome plain = run(events, 1);
  REQUIRE(plain.findings.find("busy camp") != std::string::npos);
  events.insert(events.begin(), s.event(year_2261, "camp"));
  for (size_t shards : {1, 2}) {
    for (size_t cut : {0, 1, 700}) {
      INFO("shards " << shards << ", state saved after " << cut);
      Outcome o = run(events, shards, cut);
      CHECK(o.findings == plain.findings);
      CHECK(o.ranking == plain.ranking);
      CHECK(o.stats.events_quarantined == 1);
      CHECK(o.stats.late_events == 0);
      CHECK(o.stats.events_held == 0);
    }
  }
}

TEST_CASE("a lone 2027 line in a 2026 campaign changes none of its findings (issue 17)",
          "[engine][clock]") {
  Stream s;
  std::vector<Event> events = campaign(s);
  Outcome plain = run(events, 1);
  events.insert(events.begin() + 500, s.event(year_2027, "camp"));
  for (size_t shards : {1, 2}) {
    for (size_t cut : {0, 501, 900}) {  // the state saved right after it, and later
      INFO("shards " << shards << ", state saved after " << cut);
      Outcome o = run(events, shards, cut);
      CHECK(o.findings == plain.findings);
      CHECK(o.ranking == plain.ranking);
      CHECK(o.stats.events_quarantined == 1);
      CHECK(o.stats.late_events == 0);
    }
  }
}

TEST_CASE("a gap in traffic moves the clock once a second event confirms it", "[engine][clock]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(campaign_rules(), {}, rec);
  for (int i = 0; i < 5; ++i) engine.on_event(s.event(t0 + i * ns_per_minute, "k"));
  // Three days later: alone, the first line is held aside (the clock stays, nothing expires).
  engine.on_event(s.event(t0 + 3 * ns_per_day, "k"));
  CHECK(engine.stats().events_held == 1);
  CHECK(engine.stats().accounts_expired == 0);
  // A second one confirms the time: the first is judged, the clock moves, idle keys expire.
  engine.on_event(s.event(t0 + 3 * ns_per_day + ns_per_second, "other"));
  CHECK(engine.stats().events_held == 0);
  CHECK(engine.stats().accounts_expired == 1);  // "k" as it was; then it came back
  engine.finish();
  CHECK(engine.stats().events_quarantined == 0);
  auto ranking = engine.ranking(10);
  REQUIRE(ranking.size() == 2);
  CHECK(ranking[0].requests + ranking[1].requests == 2);  // this run's "k" and "other"
}

TEST_CASE("a sparse log's last line is judged at the end, a far one quarantined",
          "[engine][clock]") {
  for (int64_t last : {t0 + 90 * ns_per_minute, t0 + 60 * ns_per_day}) {
    Stream s;
    Recorder rec;
    DetectionEngine engine(campaign_rules(), {}, rec);
    engine.on_event(s.event(t0, "k"));
    engine.on_event(s.event(t0 + ns_per_minute, "k"));
    engine.on_event(s.event(last, "k"));
    engine.finish();
    bool far = last - t0 > detail::EventClock::max_jump;
    CHECK(engine.stats().events_quarantined == (far ? 1u : 0u));
    CHECK(engine.ranking(1).at(0).requests == (far ? 2u : 3u));
  }
}

TEST_CASE("outliers beyond the held limit are quarantined, the oldest first", "[engine][clock]") {
  Stream s;
  Recorder rec;
  DetectionEngine engine(campaign_rules(), {}, rec);
  engine.on_event(s.event(t0, "k"));
  engine.on_event(s.event(t0 + ns_per_second, "k"));
  size_t n = detail::EventClock::max_held + 10;
  for (size_t i = 0; i < n; ++i) {
    // Each a year apart: none confirms another.
    engine.on_event(s.event(t0 + static_cast<int64_t>(i + 1) * 365 * ns_per_day, "broken"));
    engine.on_event(s.event(t0 + static_cast<int64_t>(i + 2) * ns_per_second, "k"));
  }
  CHECK(engine.stats().events_held == detail::EventClock::max_held);
  CHECK(engine.stats().events_quarantined == 10);
  engine.finish();
  CHECK(engine.stats().events_quarantined == n);
  CHECK(engine.ranking(10).size() == 1);  // "broken" never reached an account
}

TEST_CASE("a held event keeps every field through its bytes", "[engine][clock]") {
  Stream s;
  Event e = s.event(t0, "key");
  e.org = "org", e.project = "p", e.end_user = "u", e.ip = "10.0.0.1", e.user_agent = "ua";
  e.endpoint = "/v1/chat/completions", e.endpoint_kind = EndpointKind::chat, e.model = "m";
  e.reasoning_tokens = 7, e.latency_ms = 12.5;
  e.params.n = 2, e.params.temperature = 0.5, e.params.logprobs = false, e.params.stream = true;
  e.params.logit_bias_hash = 99, e.params.logit_bias_json = R"({"1":5})";
  std::vector<PromptPart> parts{{PromptRole::system, "be brief"}, {PromptRole::user, "hi"}};
  e.prompt = parts;
  e.token_array_prompts = 3;
  StateWriter w;
  detail::EventClock::encode(e, w);
  auto back = detail::EventClock::decode(w.data());
  StateWriter again;
  detail::EventClock::encode(back->event, again);
  CHECK(again.data() == w.data());
  CHECK(back->event.prompt.size() == 2);
  CHECK(back->event.prompt[0].text == "be brief");
  CHECK(back->event.params.logprobs == std::optional<bool>(false));
  CHECK(back->event.user_agent == "ua");
  std::string cut = w.data().substr(0, w.data().size() - 1);
  CHECK_THROWS_AS(detail::EventClock::decode(cut), StateError);
}
