// The cluster stage's timeline (cluster_timeline.h) and the engine's hooks for it: members that
// publish their keys' profiles and link nothing, a stage that links them and judges the pooled
// accounts alone.
#include <exfilscan/engine/cluster_timeline.h>
#include <exfilscan/hash.h>
#include <exfilscan/state.h>

#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <map>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Twelve small keys of one campaign (one wave, one system prompt), forty keys behind one NAT.
std::vector<Event> campaign(Stream& s) {
  std::vector<Event> out;
  for (int k = 0; k < 12; ++k)
    for (int i = 0; i < 40; ++i) {
      int64_t ts = t0 + 2 * ns_per_hour + k * 20 * ns_per_second + i * 15 * ns_per_minute;
      Event e = s.event(ts, fmt::format("camp-{:02d}", k), 700);
      e.ip = s.keep(fmt::format("203.{}.{}.7", k, k));
      e.user_agent = "bot/1.0";
      e.model = "gpt-4o";
      e.params.temperature = 0.7;
      e.prompt = s.keep_parts(
          {{PromptRole::system, "You are a meticulous assistant for dataset work."},
           {PromptRole::user, s.keep(fmt::format("Explain in detail how item {} of set {} works, "
                                                 "step by step.",
                                                 i * 12 + k, k % 3))}});
      out.push_back(e);
    }
  for (int k = 0; k < 40; ++k)
    for (int i = 0; i < 30; ++i) {
      Event e =
          s.event(t0 + k * ns_per_second + i * 20 * ns_per_minute, fmt::format("nat-{:02d}", k));
      e.ip = "198.51.100.9";
      e.user_agent = "openai-python/1.40";
      e.org = "org-corp";
      out.push_back(e);
    }
  std::stable_sort(out.begin(), out.end(),
                   [](const Event& a, const Event& b) { return a.timestamp_ns < b.timestamp_ns; });
  return out;
}

int32_t partition_of(std::string_view key) {
  return static_cast<int32_t>(hash_bytes(key) % 2);
}

std::string clusters_found(const Recorder& rec) {
  std::string out;
  for (const Finding& f : rec.findings) {
    if (f.key_kind != "cluster") continue;
    out += describe(f) + " " + f.links;
    for (const std::string& k : f.keys) out += " " + k;
    out += "\n";
  }
  return out;
}

constexpr uint64_t fingerprint = 42;

/// Two members, each judging one partition's keys and publishing their profiles at each upkeep
/// with the partition's end of the hour: the offset of its first record of a new hour, as the
/// Kafka reader's positions are taken before it (the clock may hold that record aside a moment,
/// and tick only at the next). Their findings to `rec`.
std::vector<std::string> members(const std::vector<Event>& events, const RuleSet& rules,
                                 Recorder& rec) {
  std::vector<std::string> messages;
  std::array<int64_t, 2> offset{}, boundary{}, next_hour{};
  std::vector<std::unique_ptr<DetectionEngine>> engines;
  for (int32_t p = 0; p < 2; ++p) {
    EngineOptions o;
    o.publish_profiles = [&, p](int64_t at, std::vector<KeyProfile>&& keys, int64_t start) {
      ProfileMessage m;
      m.rules_fingerprint = fingerprint;
      m.hour_ns = at;
      m.partition = p;
      for (KeyProfile& k : keys) {
        m.profile = std::move(k);
        messages.push_back(encode_profile_message(m));
      }
      m.kind = ProfileMessage::Kind::hour_end;
      m.offset = boundary[p];
      m.start_ns = start;
      messages.push_back(encode_profile_message(m));
    };
    engines.push_back(std::make_unique<DetectionEngine>(rules, o, rec));
  }
  for (const Event& e : events) {
    int32_t p = partition_of(e.api_key);
    if (next_hour[p] == 0) next_hour[p] = (e.timestamp_ns / ns_per_hour + 1) * ns_per_hour;
    if (e.timestamp_ns >= next_hour[p]) {
      boundary[p] = offset[p];
      next_hour[p] = (e.timestamp_ns / ns_per_hour + 1) * ns_per_hour;
    }
    engines[p]->on_event(e);
    ++offset[p];
  }
  for (auto& e : engines) e->finish();
  return messages;
}

/// The stage over the records: those its timeline wants, by their partition's offsets.
std::string stage(const std::vector<Event>& events, const RuleSet& rules,
                  const ClusterTimeline& timeline, size_t shards,
                  std::vector<AccountSummary>* ranking = nullptr, uint64_t* judged = nullptr) {
  EngineOptions o;
  o.shards = shards;
  o.clusters_at = [&](int64_t at) { return timeline.clusters_at(at); };
  Recorder rec;
  DetectionEngine engine(rules, o, rec);
  std::array<int64_t, 2> offset{};
  uint64_t n = 0;
  for (const Event& e : events) {
    int32_t p = partition_of(e.api_key);
    if (timeline.wanted(p, offset[p]++, e.api_key)) engine.on_event(e), ++n;
  }
  engine.finish();
  if (ranking) *ranking = timeline.with_members(engine.ranking(20), "api_key");
  if (judged) *judged = n;
  CHECK(engine.stats().accounts_seen == 0);  // no account of a key's own
  return clusters_found(rec);
}

}  // namespace

TEST_CASE("members that publish profiles and the stage find the clusters of one engine",
          "[profiles][linker][engine]") {
  Stream s;
  std::vector<Event> events = campaign(s);
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  Recorder one;
  DetectionEngine whole(rules, EngineOptions{}, one);
  whole.on_events(events);
  whole.finish();
  std::string expected = clusters_found(one);
  REQUIRE(expected.find("camp-00") != std::string::npos);

  Recorder by_members;
  std::vector<std::string> messages = members(events, rules, by_members);
  CHECK(clusters_found(by_members).empty());  // the members link nothing
  ClusterTimeline timeline(rules, fingerprint);
  for (const std::string& m : messages) timeline.add(m);
  timeline.link();
  CHECK(timeline.clusters() == 1);
  std::vector<AccountSummary> ranking;
  uint64_t judged = 0;
  CHECK(stage(events, rules, timeline, 1, &ranking, &judged) == expected);
  CHECK(judged < events.size() / 2);  // the NAT's records are passed over
  // The same for any number of shards.
  CHECK(stage(events, rules, timeline, 3) == expected);
  // The ranking: the cluster, then its member keys pointing to it with its risk.
  REQUIRE(ranking.size() >= 13);
  CHECK(ranking[0].key_kind == "cluster");
  for (size_t i = 1; i <= 12; ++i) {
    CHECK(ranking[i].key == fmt::format("camp-{:02d}", i - 1));
    CHECK(ranking[i].cluster == ranking[0].key);
    CHECK(ranking[i].risk == ranking[0].risk);
  }
}

TEST_CASE("the timeline's hours and offsets", "[profiles][linker]") {
  RuleSet rules = default_rules();
  ClusterTimeline timeline(rules, fingerprint);
  ProfileMessage end;
  end.kind = ProfileMessage::Kind::hour_end;
  end.rules_fingerprint = fingerprint;
  end.start_ns = t0;
  // Five keys first seen in one wave with one system prompt, on partition 0; partition 1 ends
  // its hours too but has none of them.
  ProfileMessage m;
  m.rules_fingerprint = fingerprint;
  m.hour_ns = t0 + 3 * ns_per_hour;
  for (int k = 0; k < 5; ++k) {
    m.profile = {fmt::format("k{}", k),
                 t0 + 2 * ns_per_hour + k * ns_per_second,
                 t0 + 3 * ns_per_hour - ns_per_minute,
                 20,
                 20,
                 7,
                 0,
                 0,
                 0,
                 0};
    timeline.add(m);
  }
  // k0 published again for the hour (a member restarted from a checkpoint), now without its
  // system prompt: the later profile stands, and k0 is tied to no other key.
  m.profile.key = "k0";
  m.profile.first_seen_ns = t0 + 2 * ns_per_hour;
  m.profile.system = 0;
  timeline.add(m);
  for (auto [partition, hour, offset] :
       {std::tuple{0, 2, 100}, std::tuple{0, 3, 200}, std::tuple{1, 3, 50}}) {
    end.partition = partition;
    end.hour_ns = t0 + hour * ns_per_hour + 5 * ns_per_second;  // the clock at the upkeep
    end.offset = offset;
    timeline.add(end);
  }
  timeline.link();
  CHECK(timeline.hours() == 2);
  CHECK(timeline.clusters_at(t0 + 2 * ns_per_hour + 1) != nullptr);
  CHECK(timeline.clusters_at(t0 + 2 * ns_per_hour + 1)->empty());
  REQUIRE(timeline.clusters_at(t0 + 5 * ns_per_hour) != nullptr);
  CHECK(timeline.clusters_at(t0 + ns_per_hour) == nullptr);  // before the first upkeep
  CHECK(timeline.clusters() == 1);
  // Records of partition 0 from offset 200 on came after the upkeep that linked them.
  CHECK_FALSE(timeline.wanted(0, 150, "k1"));
  CHECK(timeline.wanted(0, 200, "k1"));
  CHECK(timeline.wanted(0, 5000, "k4"));
  CHECK_FALSE(timeline.wanted(0, 200, "other"));
  CHECK_FALSE(timeline.wanted(0, 200, "k0"));
  CHECK_FALSE(timeline.wanted(1, 40, "k1"));
  CHECK_FALSE(timeline.wanted(7, 400, "k1"));  // a partition no member ended an hour of
}

TEST_CASE("profiles made under other rules are refused", "[profiles]") {
  RuleSet rules = default_rules();
  ClusterTimeline timeline(rules, fingerprint);
  ProfileMessage m;
  m.rules_fingerprint = fingerprint + 1;
  m.profile.key = "k";
  CHECK_THROWS_WITH(timeline.add(encode_profile_message(m)), Catch::Contains("other rules"));
  CHECK_THROWS_AS(timeline.add(std::string_view("junk")), StateError);
}

TEST_CASE("a member that publishes profiles routes nothing to the clusters its state brought",
          "[profiles][state]") {
  Stream s;
  std::vector<Event> events = campaign(s);
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  size_t half = events.size() / 2;
  Recorder before;
  DetectionEngine linking(rules, EngineOptions{}, before);
  linking.on_events(std::span(events).first(half));
  linking.finish(false);
  REQUIRE(linking.cluster_ties("camp-00"));  // linked before the member published profiles
  StateWriter w;
  linking.save_state(w);
  EngineOptions o;
  size_t published = 0;
  o.publish_profiles = [&](int64_t, std::vector<KeyProfile>&& keys, int64_t) {
    published += keys.size();
  };
  Recorder after;
  DetectionEngine member(rules, o, after);
  StateReader in(w.data());
  member.load_state(in);
  member.on_events(std::span(events).subspan(half));
  member.finish();
  CHECK(published > 0);
  CHECK_FALSE(member.cluster_ties("camp-00"));
  // The pooled accounts it brought take no event after the member's first upkeep (their open
  // windows close and are judged, once: the evidence of before).
  int64_t upkeep = (events[half].timestamp_ns / ns_per_hour + 1) * ns_per_hour;
  size_t pooled = 0;
  for (const AccountSummary& a : member.ranking(100)) {
    if (a.key_kind != "cluster") continue;
    ++pooled;
    CHECK(a.last_seen_ns < upkeep);
  }
  CHECK(pooled > 0);
}
