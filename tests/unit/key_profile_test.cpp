// The profiles topic's messages (key_profile.h): what a member publishes, read back by the stage.
#include <exfilscan/engine/key_profile.h>
#include <exfilscan/hash.h>
#include <exfilscan/state.h>

#include "engine_test_util.h"
#include "test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

TEST_CASE("a profile message reads back as it was written", "[profiles]") {
  ProfileMessage m;
  m.rules_fingerprint = 0x1234;
  m.hour_ns = t0 + 3 * ns_per_hour;
  m.partition = 3;
  m.profile = {"camp-cot_math_harvest-0", t0, t0 + ns_per_hour, 40, 38, 11, 12, 13, 14, 15};
  CHECK(decode_profile_message(encode_profile_message(m)) == m);
  ProfileMessage end;
  end.kind = ProfileMessage::Kind::hour_end;
  end.rules_fingerprint = 0x1234;
  end.hour_ns = t0;
  end.partition = 1;
  end.offset = 18204;
  end.start_ns = t0 - ns_per_hour;
  CHECK(decode_profile_message(encode_profile_message(end)) == end);
  end.start_ns = INT64_MAX;  // a member that judged nothing yet
  CHECK(decode_profile_message(encode_profile_message(end)) == end);
}

TEST_CASE("bytes that are not a profile message are refused", "[profiles]") {
  ProfileMessage m;
  m.profile.key = "k";
  std::string good = encode_profile_message(m);
  CHECK_THROWS_AS(decode_profile_message(""), StateError);
  CHECK_THROWS_WITH(decode_profile_message("{\"type\":\"finding\"}"),
                    Catch::Contains("not an exfilscan profile message"));
  CHECK_THROWS_AS(decode_profile_message(good.substr(0, good.size() - 1)), StateError);
  CHECK_THROWS_WITH(decode_profile_message(good + "x"), Catch::Contains("bytes after"));
  std::string kind = good;
  kind[8 + std::string_view("exfilscan-profile-1").size()] = 9;
  CHECK_THROWS_WITH(decode_profile_message(kind), Catch::Contains("kind 9"));
  m.profile.key.clear();
  CHECK_THROWS_WITH(decode_profile_message(encode_profile_message(m)),
                    Catch::Contains("without a key"));
}

TEST_CASE("an hour's end with a start that is no time is refused", "[profiles]") {
  // (The stage subtracts the start from a key's first request: unchecked, that overflows.)
  ProfileMessage end;
  end.kind = ProfileMessage::Kind::hour_end;
  end.hour_ns = t0;
  for (int64_t start : {INT64_MIN, int64_t{-1}, INT64_MAX - 1}) {
    end.start_ns = start;
    CHECK_THROWS_WITH(decode_profile_message(encode_profile_message(end)),
                      Catch::Contains("start out of range"));
  }
  end.start_ns = 0;
  CHECK(decode_profile_message(encode_profile_message(end)) == end);
}

TEST_CASE("a member's profiles are what its engine would link, read by the real parser",
          "[profiles][engine]") {
  // Seven requests of one key, with one system prompt, from one /24 and one agent.
  std::vector<std::unique_ptr<Parsed>> lines;
  for (int i = 0; i < 7; ++i)
    lines.push_back(parse_line(fmt::format(
        R"({{"timestamp":"2026-11-02T00:{:02d}:00Z","api_key_id":"k1","org_id":"org-a",)"
        R"("ip":"203.0.113.{}","user_agent":"bot/1.0","endpoint":"/v1/chat/completions",)"
        R"("request":{{"model":"gpt-4o","temperature":0.7,"messages":[{{"role":"system",)"
        R"("content":"You label data."}},{{"role":"user","content":"item {}"}}]}},)"
        R"("response":{{"status":200,"usage":{{"prompt_tokens":9,"completion_tokens":90}}}}}})",
        i * 5, i + 1, i)));
  for (const auto& l : lines) REQUIRE(l->ok);
  std::vector<std::pair<int64_t, std::vector<KeyProfile>>> published;
  EngineOptions o;
  o.publish_profiles = [&](int64_t at, std::vector<KeyProfile>&& keys, int64_t start) {
    CHECK(start == t0);
    published.emplace_back(at, std::move(keys));
  };
  RuleSet rules = default_rules();
  Recorder rec;
  DetectionEngine engine(rules, o, rec);
  for (const auto& l : lines) engine.on_event(l->event);
  Stream s;
  engine.on_event(s.event(t0 + ns_per_hour, "k2"));  // the next hour's upkeep, once the clock
  engine.finish();                                   // takes its time
  REQUIRE(published.size() == 2);                    // (the first event's, with no key yet)
  CHECK(published[0].second.empty());
  REQUIRE(published[1].second.size() == 1);
  const KeyProfile& p = published[1].second[0];
  CHECK(p.key == "k1");
  CHECK(p.first_seen_ns == t0);
  CHECK(p.last_seen_ns == t0 + 30 * ns_per_minute);
  CHECK(p.requests == 7);
  CHECK(p.link_requests == 7);
  CHECK(p.system == (hash_bytes("You label data.") | 1));
  CHECK(p.net == (hash_bytes("203.0.113.0/24") | 1));
  CHECK(p.agent == (hash_bytes("bot/1.0") | 1));
  CHECK(p.org == (hash_bytes("org-a") | 1));
  CHECK(p.shape != 0);
  ProfileMessage m;
  m.profile = p;
  CHECK(decode_profile_message(encode_profile_message(m)).profile == p);
}
