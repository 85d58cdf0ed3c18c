// The linker: which keys it ties, the ids it keeps, and clusters through the engine.

#include <exfilscan/features/text_features.h>

#include "engine/key_linker.h"
#include "engine_test_util.h"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace exfilscan;
using namespace exfilscan::detail;
using namespace exfilscan::test;

namespace {

ClusterRule rule() {
  return default_rules().clusters;
}

/// A key first seen at `first` (in a wave unless said) with the given dominant values.
LinkCandidate key(std::string_view name, int64_t first, uint64_t system, uint64_t shape = 0,
                  uint64_t net = 0, uint64_t agent = 0, uint64_t org = 0, bool in_wave = true) {
  LinkCandidate k;
  k.key = name;
  k.first_seen_ns = first;
  k.in_wave = in_wave;
  k.system = system, k.shape = shape, k.net = net, k.agent = agent, k.org = org;
  k.requests = 20;
  return k;
}

std::vector<std::string> names(size_t n, std::string_view prefix) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back(fmt::format("{}-{:02d}", prefix, i));
  return out;
}

}  // namespace

TEST_CASE("keys first seen in one wave with one system prompt are one cluster", "[linker]") {
  std::vector<std::string> n = names(8, "camp");
  std::vector<LinkCandidate> keys;
  // A minute apart, each from its own /24 and org: only the wave and the prompt tie them.
  for (size_t i = 0; i < n.size(); ++i)
    keys.push_back(
        key(n[i], t0 + static_cast<int64_t>(i) * ns_per_minute, 0x51, 0, 100 + i, 7, 200 + i));
  auto clusters = link_keys(keys, rule());
  REQUIRE(clusters.size() == 1);
  CHECK(clusters[0].members == n);
  CHECK(clusters[0].key == cluster_key(clusters[0].id));
  CHECK(clusters[0].links.describe() ==
        "8 keys: 8 share system prompt 00000000, 8 first seen in 1 wave, 8 /24s, 1 user agent, "
        "8 orgs");
  // Linked again an hour later, it keeps its id.
  for (LinkCandidate& k : keys) k.previous = clusters[0].id;
  auto again = link_keys(keys, rule());
  REQUIRE(again.size() == 1);
  CHECK(again[0].id == clusters[0].id);
}

TEST_CASE("infrastructure alone never links keys", "[linker]") {
  // An enterprise: thirty keys behind one address, one agent, one org, there from the start.
  std::vector<std::string> n = names(30, "corp");
  std::vector<LinkCandidate> keys;
  for (const std::string& s : n) keys.push_back(key(s, t0, 0, 0x9, 0x24, 0x7, 0x0a, false));
  CHECK(link_keys(keys, rule()).empty());
  // The same keys in one wave do link: new keys from one /24 within minutes of each other.
  for (LinkCandidate& k : keys) k.in_wave = true;
  CHECK(link_keys(keys, rule()).size() == 1);
}

TEST_CASE("a value carried by keys first seen over many hours ties nothing", "[linker]") {
  // A framework's default prompt, used by customers who came at all hours, three at a time.
  std::vector<std::string> n = names(45, "app");
  std::vector<LinkCandidate> keys;
  for (size_t i = 0; i < n.size(); ++i)
    keys.push_back(key(n[i], t0 + static_cast<int64_t>(i / 3) * ns_per_hour, 0xf4, 0, 300 + i));
  CHECK(link_keys(keys, rule()).empty());
  // Carried by keys from a few hours only, the same prompt ties each hour's wave.
  keys.resize(9);
  CHECK(link_keys(keys, rule()).size() == 3);
}

TEST_CASE("keys each tied to the next by another coincidence are no cluster", "[linker]") {
  // A chain: key i shares an org with key i+1 and a /24 with key i-1, all first seen within
  // minutes: every link is real, yet no value is most of them (background keys, not a campaign).
  std::vector<std::string> n = names(12, "chain");
  std::vector<LinkCandidate> keys;
  for (size_t i = 0; i < n.size(); ++i)
    keys.push_back(key(n[i], t0 + static_cast<int64_t>(i) * 4 * ns_per_minute, 0, 0,
                       1000 + (i + 1) / 2, 0, 2000 + i / 2));
  CHECK(link_keys(keys, rule()).empty());
  // Half of them with one system prompt: those are the cluster, the others are peeled off.
  for (size_t i = 0; i < 6; ++i) keys[i].system = 0x51;
  auto clusters = link_keys(keys, rule());
  REQUIRE(clusters.size() == 1);
  CHECK(clusters[0].members == std::vector<std::string>(n.begin(), n.begin() + 6));
}

TEST_CASE("a cluster where one key sent most of the requests is not kept", "[linker]") {
  std::vector<std::string> n = names(4, "mix");
  std::vector<LinkCandidate> keys;
  for (const std::string& s : n) keys.push_back(key(s, t0, 0x51));
  keys[0].requests = 1000;  // a busy key, and three that arrived beside it
  CHECK(link_keys(keys, rule()).empty());
  keys[0].requests = 50;
  CHECK(link_keys(keys, rule()).size() == 1);
}

TEST_CASE("an old id goes to the component that holds most of its members", "[linker]") {
  std::vector<std::string> n = names(6, "k");
  std::vector<LinkCandidate> keys;
  // Two waves an hour apart, once one cluster (id 77): the larger keeps the id.
  for (size_t i = 0; i < 6; ++i) {
    keys.push_back(key(n[i], t0 + (i < 4 ? 0 : ns_per_hour), 0x51));
    keys.back().previous = 77;
  }
  auto clusters = link_keys(keys, rule());
  REQUIRE(clusters.size() == 1);  // the second wave has two keys: under min_keys
  CHECK(clusters[0].id == 77);
  CHECK(clusters[0].members.size() == 4);
}

namespace {

/// Twelve small keys of one campaign (one wave, one system prompt, one instruction set), and
/// forty established keys behind one NAT with one agent.
std::vector<Event> campaign_stream(Stream& s) {
  std::vector<Event> out;
  std::vector<PromptPart> parts;
  for (int k = 0; k < 12; ++k) {
    int64_t begin = t0 + 2 * ns_per_hour + k * 20 * ns_per_second;
    for (int i = 0; i < 40; ++i) {
      Event e = s.event(begin + i * 15 * ns_per_minute, fmt::format("camp-{:02d}", k), 700);
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

struct Run {
  std::string findings, ranking;
  std::vector<AccountSummary> rows;
};

Run run(const std::vector<Event>& events, size_t shards, size_t cut,
        RuleSet rules = default_rules()) {
  rules.thresholds.clear();
  EngineOptions o;
  o.shards = shards;
  Recorder rec;
  DetectionEngine first(rules, o, rec);
  first.on_events(std::span(events).first(cut));
  first.finish(false);
  StateWriter w;
  first.save_state(w);
  DetectionEngine second(rules, o, rec);
  StateReader in(w.data());
  second.load_state(in);
  second.on_events(std::span(events).subspan(cut));
  second.finish();
  Run r;
  for (const Finding& f : rec.findings) {
    r.findings += describe(f) + f.cluster + " " + f.links;
    for (const std::string& k : f.keys) r.findings += " " + k;
    r.findings += "\n";
  }
  r.rows = second.ranking(1000);
  // The flagged rows (the others are this run's busiest: a part of a chain has its own).
  for (const AccountSummary& a : r.rows)
    if (!a.rules.empty() || !a.cluster.empty())
      r.ranking +=
          fmt::format("{} {} {:.6f} {:.6f} {}\n", a.key, a.key_kind, a.risk, a.own_risk, a.cluster);
  return r;
}

}  // namespace

TEST_CASE("small keys of one campaign are judged as one cluster, the NAT's keys are not",
          "[linker][engine]") {
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  Run one = run(events, 1, 0);
  auto row = [&](std::string_view key) {
    return std::find_if(one.rows.begin(), one.rows.end(),
                        [&](const AccountSummary& a) { return a.key == key; });
  };
  REQUIRE(row("camp-00") != one.rows.end());
  std::string cluster = row("camp-00")->cluster;
  CHECK(cluster.rfind("cluster-", 0) == 0);
  for (int k = 0; k < 12; ++k) CHECK(row(fmt::format("camp-{:02d}", k))->cluster == cluster);
  auto c = row(cluster);
  REQUIRE(c != one.rows.end());
  CHECK(c->key_kind == "cluster");
  CHECK(c->cluster_keys == 12);
  // Each key's first requests came before it could link (six, then the next hourly upkeep).
  CHECK(c->total_requests > 12 * 40 / 2);
  CHECK(c->total_requests < 12 * 40);
  CHECK(one.findings.find(" cluster ") != std::string::npos);
  // Twelve keys made in one wave: the pooled verdict carries the second signal.
  CHECK(one.findings.find("keys_made_together=12") != std::string::npos);
  for (const AccountSummary& a : one.rows)
    if (a.key.rfind("nat-", 0) == 0) CHECK(a.cluster.empty());
  // The same for any number of shards, and for a run cut in two with --state.
  for (size_t shards : {1, 3})
    for (size_t cut : {events.size() / 3, events.size() / 2}) {
      INFO("shards " << shards << ", cut at " << cut);
      Run other = run(events, shards, cut);
      CHECK(other.findings == one.findings);
      CHECK(other.ranking == one.ranking);
    }
}

namespace {

/// People's kind of question, the q-th of a list: no imperative, no template (twelve openings
/// around a topic of two parts).
std::string question(int q) {
  static const char* openings[] = {"why did {} matter so much to people back then?",
                                   "is it true that {} changed everything",
                                   "my grandmother keeps talking about {}, what happened",
                                   "{} - what am I missing here?",
                                   "can someone explain the real story of {}",
                                   "what would a historian say about {}?",
                                   "i read somewhere about {} and now i'm curious",
                                   "how big a deal was {} really",
                                   "was {} as bad as they say?",
                                   "any idea who first wrote about {}?",
                                   "so about {}... why is nobody talking about it",
                                   "did {} leave any trace today?"};
  static const char* things[] = {"the first railway",  "a long drought", "the new school",
                                 "a royal wedding",    "the great fire", "a travelling circus",
                                 "the printing press", "a comet",        "the plague years",
                                 "a new bridge"};
  static const char* towns[] = {"the old harbour", "a mountain village", "the river town",
                                "a fishing port",  "the market city",    "a desert oasis",
                                "the border fort", "an island colony",   "the mining camp",
                                "a canal town",    "the royal capital",  "a forest hamlet"};
  int topic = q / 12;
  std::string about = fmt::format("{} in {}", things[topic % 10], towns[topic / 10 % 12]);
  return fmt::format(fmt::runtime(openings[q % 12]), about);
}

/// Twelve keys of one wave and system prompt asking people's kind of questions, long answers,
/// a request each a quarter hour: from one list of sixty (each asked by several keys), or each
/// key its own. And a key there from the start.
std::vector<Event> question_stream(Stream& s, bool one_list) {
  std::vector<Event> out;
  for (int k = 0; k < 12; ++k) {
    int64_t begin = t0 + 2 * ns_per_hour + k * 20 * ns_per_second;
    for (int i = 0; i < 40; ++i) {
      Event e = s.event(begin + i * 15 * ns_per_minute, fmt::format("ask-{:02d}", k), 700);
      e.ip = s.keep(fmt::format("203.{}.{}.7", k, k));
      e.user_agent = "bot/1.0";
      e.model = "gpt-4o";
      int q = one_list ? (i * 7 + k * 11) % 60 : i * 12 + k;
      e.prompt = s.keep_parts({{PromptRole::system, "You are an expert. Answer fully."},
                               {PromptRole::user, s.keep(question(q))}});
      out.push_back(e);
    }
  }
  // Keys there before them: the logs have settled when the wave comes.
  for (int i = 0; i < 40; ++i) out.push_back(s.event(t0 + i * 20 * ns_per_minute, "before"));
  std::stable_sort(out.begin(), out.end(),
                   [](const Event& a, const Event& b) { return a.timestamp_ns < b.timestamp_ns; });
  return out;
}

}  // namespace

TEST_CASE("a cluster's keys asking the same questions work from one list", "[linker][engine]") {
  // People's questions look like anyone's: what gives the list away is that the cluster's keys
  // ask the same ones word for word.
  CHECK_FALSE(
      classify_prompt("what did people in a canal town think of a comet back then?").instruction);
  // (Built from a few openings, they also fit templates: the sweep is judged here alone.)
  RuleSet rules = default_rules();
  rules.prompt_templating.enabled = false;
  Stream s;
  Run shared = run(question_stream(s, true), 1, 0, rules);
  Run own = run(question_stream(s, false), 1, 0, rules);
  INFO(shared.findings);
  INFO(own.findings);
  auto pooled_sweep = [](const Run& r) {
    std::string out;
    size_t at = 0;
    while ((at = r.findings.find("distillation_sweep cluster-", at)) != std::string::npos) {
      size_t end = r.findings.find('\n', at);
      out += r.findings.substr(at, end - at) + "\n";
      at = end;
    }
    return out;
  };
  std::string listed = pooled_sweep(shared);
  REQUIRE_FALSE(listed.empty());
  CHECK(listed.find("shared_prompts=1.000000") != std::string::npos);
  CHECK(listed.find("of the distinct prompts sent by two keys or more") != std::string::npos);
  // Each key its own questions: the same cluster, nothing to say the prompts are a list.
  auto linked = [](const Run& r) {
    for (const AccountSummary& a : r.rows)
      if (a.key == "ask-00") return !a.cluster.empty();
    return false;
  };
  CHECK(linked(shared));
  CHECK(linked(own));
  CHECK(pooled_sweep(own).empty());
  // The same for any number of shards, and for a run cut in two with --state.
  std::vector<Event> events = question_stream(s, true);
  for (size_t shards : {1, 3})
    for (size_t cut : {events.size() / 3, events.size() / 2}) {
      INFO("shards " << shards << ", cut at " << cut);
      Run other = run(events, shards, cut, rules);
      CHECK(other.findings == shared.findings);
      CHECK(other.ranking == shared.ranking);
    }
}

TEST_CASE("a key named like a cluster's pooled account is a key of its own", "[linker][engine]") {
  // Review of the cluster stage: the pooled account shared the accounts' table with the keys, so
  // a key whose name is the cluster's ("cluster-" and 12 hex digits, worked out from the first
  // member's name) took the cluster's events, or gave it its own.
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  Run plain = run(events, 1, 0);
  auto row = [](const Run& r, std::string_view key, std::string_view kind) {
    auto at = std::find_if(r.rows.begin(), r.rows.end(), [&](const AccountSummary& a) {
      return a.key == key && a.key_kind == kind;
    });
    return at == r.rows.end() ? nullptr : &*at;
  };
  REQUIRE(row(plain, "camp-00", "api_key"));
  const std::string cluster = row(plain, "camp-00", "api_key")->cluster;
  REQUIRE(row(plain, cluster, "cluster"));
  const uint64_t pooled = row(plain, cluster, "cluster")->total_requests;
  for (int64_t at : {t0 + 10 * ns_per_minute, t0 + 6 * ns_per_hour}) {
    INFO("the impostor's first request at " << (at - t0) / ns_per_minute << " minutes");
    std::vector<Event> mixed = events;
    for (int i = 0; i < 8; ++i) {
      Event e = s.event(at + i * ns_per_minute, cluster, 10);
      e.ip = "192.0.2.1";
      e.user_agent = "curl/8";
      mixed.push_back(e);
    }
    std::stable_sort(mixed.begin(), mixed.end(), [](const Event& a, const Event& b) {
      return a.timestamp_ns < b.timestamp_ns;
    });
    for (size_t shards : {1, 3}) {
      INFO("shards " << shards);
      Run r = run(mixed, shards, 0);
      const AccountSummary* key = row(r, cluster, "api_key");
      REQUIRE(key);
      CHECK(key->total_requests == 8);
      CHECK(key->cluster.empty());
      const AccountSummary* c = row(r, cluster, "cluster");
      REQUIRE(c);
      CHECK(c->total_requests == pooled);
      REQUIRE(row(r, "camp-03", "api_key"));
      CHECK(row(r, "camp-03", "api_key")->cluster == cluster);
      CHECK(row(r, "camp-03", "api_key")->risk == row(plain, "camp-03", "api_key")->risk);
    }
  }
}

TEST_CASE("a cluster's pooled account evicted is not a key evicted", "[linker][engine]") {
  // Review of the cluster stage: over max_accounts, the pooled account was evicted as a key:
  // counted in accounts_evicted, and remembered among the forgotten keys.
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  // Two floods of new keys: the first evicts the members (their cluster's account is held while
  // its members' events go to it), the second the cluster's account, once the cluster is gone.
  for (int flood = 0; flood < 2; ++flood)
    for (int k = 0; k < 60; ++k)
      events.push_back(s.event(t0 + (12 + 2 * flood) * ns_per_hour + k * ns_per_second,
                               fmt::format("new-{}-{:02d}", flood, k)));
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  rules.settings.max_accounts = 60;
  for (size_t shards : {1, 3}) {
    INFO("shards " << shards);
    EngineOptions o;
    o.shards = shards;
    Recorder rec;
    DetectionEngine engine(rules, o, rec);
    engine.on_events(events);
    engine.finish();
    std::vector<AccountSummary> rows = engine.ranking(1000);
    REQUIRE(std::any_of(rows.begin(), rows.end(),
                        [](const AccountSummary& a) { return a.key_kind == "cluster"; }));
    EngineStats st = engine.stats();
    CHECK(st.accounts_seen == 12 + 40 + 2 * 60);
    // Every key seen is live or was evicted; the cluster's went with the oldest keys.
    CHECK(st.accounts_active + st.accounts_evicted == st.accounts_seen);
  }
}

TEST_CASE("a member gone idle without findings is not among a later run's busiest",
          "[linker][engine]") {
  // Review of the cluster stage: a member is kept when it goes idle, so that its cluster may
  // rank it; carried by a --state into a run where it sent nothing, it was listed among that
  // run's busiest, with 0 requests.
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  rules.prompt_templating.enabled = rules.distillation_sweep.enabled = false;
  rules.logit_probe.enabled = false;
  EngineOptions o;
  Recorder rec;
  DetectionEngine first(rules, o, rec);
  first.on_events(events);
  first.finish();
  std::vector<AccountSummary> rows = first.ranking(1000);
  REQUIRE(std::any_of(rows.begin(), rows.end(),
                      [](const AccountSummary& a) { return !a.cluster.empty(); }));
  StateWriter w;
  first.save_state(w);
  DetectionEngine second(rules, o, rec);
  StateReader in(w.data());
  second.load_state(in);
  std::vector<Event> later;
  for (int i = 0; i < 4; ++i)
    later.push_back(s.event(t0 + 10 * ns_per_day + i * ns_per_hour, "later"));
  second.on_events(later);
  second.finish();
  for (const AccountSummary& a : second.ranking(1000)) {
    INFO(a.key);
    CHECK((a.requests > 0 || !a.rules.empty()));
  }
}

TEST_CASE("a state whose summaries name no cluster's key is refused", "[linker][state]") {
  // Review of the cluster stage: a summary's cluster was loaded as any string, and the table
  // prints it as it is (terminal escapes from a crafted state); its risks were not checked.
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  for (int i = 0; i < 4; ++i)
    events.push_back(s.event(t0 + 10 * ns_per_day + i * ns_per_hour, "later"));
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  EngineOptions o;
  Recorder rec;
  DetectionEngine first(rules, o, rec);
  first.on_events(events);
  first.finish(false);
  std::string cluster;
  for (const AccountSummary& a : first.ranking(1000))
    if (a.key == "camp-00") cluster = a.cluster;
  REQUIRE(is_cluster_key(cluster));
  StateWriter w;
  first.save_state(w);
  std::string bytes = w.data();
  {
    DetectionEngine ok(rules, o, rec);
    StateReader in(bytes);
    CHECK_NOTHROW(ok.load_state(in));
  }
  std::string evil = "\x1b]0;owned\x07\x1b[2J";
  evil.resize(cluster.size(), 'x');
  size_t replaced = 0;
  for (size_t at = bytes.find(cluster); at != std::string::npos; at = bytes.find(cluster, at))
    bytes.replace(at, cluster.size(), evil), ++replaced;
  REQUIRE(replaced > 0);
  DetectionEngine second(rules, o, rec);
  StateReader in(bytes);
  CHECK_THROWS_AS(second.load_state(in), StateError);
}

TEST_CASE("a member and its cluster back in one event keep max_accounts", "[linker][engine]") {
  // Review of the cluster stage: `room` counted one account an event, but a member's event
  // also makes its cluster's pooled account where it is missing (both evicted by a flood of
  // new keys): one more account than max_accounts.
  Stream s;
  std::vector<Event> campaign = campaign_stream(s);
  std::vector<Event> base;
  for (const Event& e : campaign)
    if (e.timestamp_ns < t0 + 5 * ns_per_hour + 30 * ns_per_minute) base.push_back(e);
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  rules.settings.max_accounts = 60;
  size_t worst = 0;
  for (int n = 50; n < 80; ++n) {
    std::vector<Event> events = base;
    for (int k = 0; k < n; ++k)
      events.push_back(s.event(t0 + 5 * ns_per_hour + 40 * ns_per_minute + k * ns_per_second,
                               s.keep(fmt::format("new-{:02d}", k))));
    Event back = s.event(t0 + 5 * ns_per_hour + 50 * ns_per_minute, "camp-00");
    events.push_back(back);
    EngineOptions o;
    Recorder rec;
    DetectionEngine engine(rules, o, rec);
    engine.on_events(events);
    engine.finish();
    worst = std::max<size_t>(worst, engine.stats().accounts_peak);
  }
  CHECK(worst <= 60);
}

TEST_CASE("a chain of keys is no cluster for a common value they all carry", "[linker]") {
  // Review of the cluster stage: the core (core_share of the keys with one value in common) was
  // taken of every value, common ones too, so background keys chained by orgs and /24s were a
  // cluster for the SDK's default agent they all send, a value that ties nothing.
  std::vector<std::string> n = names(12, "chain");
  std::vector<LinkCandidate> keys;
  for (size_t i = 0; i < n.size(); ++i)
    keys.push_back(key(n[i], t0 + static_cast<int64_t>(i) * 4 * ns_per_minute, 0, 0,
                       1000 + (i + 1) / 2, 0x5d, 2000 + i / 2));
  // The SDK's agent, carried by keys first seen at every hour: common.
  std::vector<std::string> m = names(14, "sdk");
  for (size_t i = 0; i < m.size(); ++i)
    keys.push_back(
        key(m[i], t0 + static_cast<int64_t>(i + 2) * ns_per_hour, 0, 0, 5000 + i, 0x5d, 6000 + i));
  std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return a.key < b.key; });
  CHECK(link_keys(keys, rule()).empty());
}

TEST_CASE("keys are new only once the logs have settled, however long that is",
          "[linker][engine]") {
  // Review of the cluster stage: a key was in a wave when its first request came at or after
  // the logs' start plus `settled`, a sum that passes int64 for a long `settled` and wraps:
  // every key was new.
  Stream s;
  std::vector<Event> events = campaign_stream(s);
  RuleSet rules = default_rules();
  rules.thresholds.clear();
  rules.clusters.settled_ns = 106'000 * ns_per_day;
  EngineOptions o;
  Recorder rec;
  DetectionEngine engine(rules, o, rec);
  engine.on_events(events);
  engine.finish();
  for (const Finding& f : rec.findings)
    if (f.key_kind == "cluster") {
      INFO(f.links);
      CHECK(f.links.find("first seen") == std::string::npos);
    }
}
