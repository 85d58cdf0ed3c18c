/// The linker: key profiles, the attribute pairs that link two keys, components and their ids.

#include "engine/key_linker.h"

#include <exfilscan/hash.h>
#include <exfilscan/parse/account_key.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <tuple>
#include <unordered_map>

namespace exfilscan::detail {

void TopValues::add(uint64_t v) {
  if (v == 0) return;
  for (size_t i = 0; i < 2; ++i)
    if (value[i] == v) {
      if (count[i] < UINT32_MAX) ++count[i];
      if (i == 1 && count[1] > count[0])
        std::swap(value[0], value[1]), std::swap(count[0], count[1]);
      return;
    }
  // Space-saving: a new value takes the quieter slot with its count plus one.
  value[1] = v;
  if (count[1] < UINT32_MAX) ++count[1];
  if (count[1] > count[0]) std::swap(value[0], value[1]), std::swap(count[0], count[1]);
}

uint64_t TopValues::dominant(uint64_t requests, double share) const {
  if (requests == 0 || value[0] == 0) return 0;
  // A space-saving count overestimates by at most the other slot's: take the lower bound.
  double sure = static_cast<double>(count[0]) - (value[1] != 0 ? static_cast<double>(count[1]) : 0);
  return sure >= share * static_cast<double>(requests) ? value[0] : 0;
}

void TopValues::save(StateWriter& w) const {
  for (size_t i = 0; i < 2; ++i) w.u64(value[i]), w.u64(count[i]);
}

void TopValues::load(StateReader& r) {
  for (size_t i = 0; i < 2; ++i) {
    value[i] = r.u64();
    count[i] = static_cast<uint32_t>(std::min<uint64_t>(r.u64(), UINT32_MAX));
  }
}

namespace {

uint64_t shape_of(const Event& ev) {
  const RequestParams& p = ev.params;
  uint64_t h = hash_bytes(ev.model, 0x5eed);
  auto add = [&](uint64_t tag, uint64_t v) { h = mix64(h ^ (tag * 0x9E3779B97F4A7C15ULL) ^ v); };
  add(1, static_cast<uint64_t>(classify_endpoint(ev.endpoint)));
  // Rounded: a float written by one program reads back the same, but 0.7 and 0.70001 are one.
  if (p.temperature) add(2, static_cast<uint64_t>(std::llround(*p.temperature * 100)) + 1);
  if (p.top_p) add(3, static_cast<uint64_t>(std::llround(*p.top_p * 100)) + 1);
  if (p.max_tokens) add(4, static_cast<uint64_t>(*p.max_tokens) + 1);
  if (p.logprobs) add(5, *p.logprobs ? 2 : 1);
  if (p.top_logprobs) add(6, static_cast<uint64_t>(*p.top_logprobs) + 1);
  if (p.n) add(7, static_cast<uint64_t>(*p.n) + 1);
  if (p.stream) add(8, *p.stream ? 2 : 1);
  return h | 1;  // never 0 (none)
}

}  // namespace

void LinkProfile::observe(const Event& ev, std::string& scratch) {
  if (requests < UINT32_MAX) ++requests;
  for (const PromptPart& part : ev.prompt)
    if (part.role == PromptRole::system) {
      system.add(hash_bytes(part.text) | 1);
      break;
    }
  shape.add(shape_of(ev));
  if (!ev.ip.empty()) net.add(hash_bytes(account_key(ev, GroupBy::ip24, scratch)) | 1);
  if (!ev.user_agent.empty()) agent.add(hash_bytes(ev.user_agent) | 1);
}

void LinkProfile::save(StateWriter& w) const {
  w.u64(requests);
  system.save(w), shape.save(w), net.save(w), agent.save(w);
}

void LinkProfile::load(StateReader& r) {
  requests = static_cast<uint32_t>(std::min<uint64_t>(r.u64(), UINT32_MAX));
  system.load(r), shape.load(r), net.load(r), agent.load(r);
}

bool came_in_wave(int64_t first_seen_ns, int64_t last_seen_ns, uint64_t requests, int64_t start_ns,
                  const ClusterRule& rule) {
  // (As a difference: the start plus a long `settled` would pass int64.) A key is new when,
  // at its own rate, the logs before its first request should have held some of it: a key
  // that sends one request in five hours and first shows at hour four was there all along.
  int64_t absent = start_ns == INT64_MAX ? 0 : first_seen_ns - start_ns;
  double span = static_cast<double>(std::max(last_seen_ns - first_seen_ns, rule.wave_ns));
  double expected = static_cast<double>(requests) / span * static_cast<double>(absent);
  return start_ns != INT64_MAX && absent >= rule.settled_ns && expected >= rule.new_after_requests;
}

LinkCandidate candidate_of(const KeyProfile& p, int64_t start_ns, const ClusterRule& rule) {
  LinkCandidate c;
  c.key = p.key;
  c.first_seen_ns = p.first_seen_ns;
  c.in_wave = came_in_wave(p.first_seen_ns, p.last_seen_ns, p.requests, start_ns, rule);
  c.system = p.system, c.shape = p.shape, c.net = p.net, c.agent = p.agent, c.org = p.org;
  c.requests = p.link_requests;
  return c;
}

std::string LinkCounts::describe() const {
  auto plural = [](uint32_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
  };
  std::string s = plural(keys, "key", "keys");
  std::vector<std::string> parts;
  if (shared_system > 1)
    parts.push_back(fmt::format("{} share system prompt {:08x}", shared_system, top_system >> 32));
  if (in_waves > 1)
    parts.push_back(fmt::format("{} first seen in {}", in_waves, plural(waves, "wave", "waves")));
  if (shared_shape > 1) parts.push_back(fmt::format("{} send one request shape", shared_shape));
  if (nets > 0) parts.push_back(plural(nets, "/24", "/24s"));
  if (agents > 0) parts.push_back(plural(agents, "user agent", "user agents"));
  if (orgs > 0) parts.push_back(plural(orgs, "org", "orgs"));
  for (size_t i = 0; i < parts.size(); ++i) s += (i == 0 ? ": " : ", ") + parts[i];
  return s;
}

void LinkCounts::save(StateWriter& w) const {
  for (uint32_t v : {keys, systems, shared_system, waves, in_waves, shapes, shared_shape, nets,
                     shared_net, agents, shared_agent, orgs, shared_org})
    w.u64(v);
  w.u64(top_system);
  w.u8(one_setup ? 1 : 0);
}

void LinkCounts::load(StateReader& r) {
  for (uint32_t* v : {&keys, &systems, &shared_system, &waves, &in_waves, &shapes, &shared_shape,
                      &nets, &shared_net, &agents, &shared_agent, &orgs, &shared_org})
    *v = static_cast<uint32_t>(std::min<uint64_t>(r.u64(), UINT32_MAX));
  top_system = r.u64();
  // Format 9 says whether the keys share one setup; before, no cluster gains for it.
  one_setup = r.version() >= 9 && r.u8() != 0;
}

void KeyCluster::save(StateWriter& w) const {
  w.u64(id);
  links.save(w);
  w.u64(members.size());
  for (const std::string& m : members) w.str(m);
}

void KeyCluster::load(StateReader& r) {
  id = r.u64();
  key = cluster_key(id);
  links.load(r);
  // One by one: a count alone (a corrupt one) reserves nothing; each key takes its bytes.
  size_t n = r.count(1'000'000'000);
  members.clear();
  for (size_t i = 0; i < n; ++i) members.push_back(r.str());
}

std::string cluster_key(uint64_t id) {
  return fmt::format("cluster-{:012x}", id >> 16);
}

bool is_cluster_key(std::string_view key) {
  constexpr std::string_view prefix = "cluster-";
  return key.size() == prefix.size() + 12 && key.substr(0, prefix.size()) == prefix &&
         std::all_of(key.begin() + prefix.size(), key.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

namespace {

/// Union-find over candidate indices; the smaller index is the root (deterministic).
struct Components {
  std::vector<uint32_t> parent;
  explicit Components(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0u); }
  uint32_t find(uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void join(uint32_t a, uint32_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// What a link token ties (docs/detection.md): each names a coincidence unrelated customers
// rarely share, made of rare values only (drop_common). Keys first seen in one wave link by
// any one more attribute; keys not new by a system prompt with a place (a /24, an org) or a
// manner of asking (the request shape).
enum Tie : uint64_t {
  wave_system = 1,
  wave_shape,
  wave_net,
  wave_agent,
  wave_org,
  system_net,
  system_org,
  system_shape
};

uint64_t token(uint64_t tie, uint64_t a, uint64_t b, uint64_t c = 0) {
  return mix64(mix64(mix64(tie * 0x9E3779B97F4A7C15ULL ^ a) ^ b) ^ c);
}

/// The most common non-zero value's count, and how many different ones.
std::pair<uint32_t, uint32_t> spread(std::vector<uint64_t> values, uint64_t* top = nullptr) {
  values.erase(std::remove(values.begin(), values.end(), 0), values.end());
  std::sort(values.begin(), values.end());
  uint32_t distinct = 0, best = 0;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j < values.size() && values[j] == values[i]) ++j;
    ++distinct;
    if (j - i > best) {
      best = static_cast<uint32_t>(j - i);
      if (top) *top = values[i];
    }
    i = j;
  }
  return {best, distinct};
}

}  // namespace

/// Zeroes the values of one attribute that keys first seen in `common` clock hours or more
/// carry: what many unrelated customers share (each key seen before the logs settled counts as
/// an hour of its own: nothing says when it came). A campaign's keys come in a few waves; a
/// low-rate key's first request may be an hour after its wave began.
static void drop_common(std::vector<LinkCandidate>& keys, uint64_t LinkCandidate::*field,
                        uint64_t common) {
  std::vector<std::pair<uint64_t, uint64_t>> seen;  // (value, wave)
  for (size_t i = 0; i < keys.size(); ++i) {
    const LinkCandidate& k = keys[i];
    if (k.*field == 0) continue;
    uint64_t w =
        k.in_wave ? static_cast<uint64_t>(k.first_seen_ns / ns_per_hour) : (uint64_t{1} << 63) | i;
    seen.emplace_back(k.*field, w);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  std::unordered_map<uint64_t, bool> frequent;
  for (size_t i = 0; i < seen.size();) {
    size_t j = i;
    while (j < seen.size() && seen[j].first == seen[i].first) ++j;
    if (j - i >= common) frequent[seen[i].first] = true;
    i = j;
  }
  if (frequent.empty()) return;
  for (LinkCandidate& k : keys)
    if (k.*field != 0 && frequent.count(k.*field)) k.*field = 0;
}

/// The members that carry one of the values most of the component shares: a campaign is run by
/// one operator with one setup, and at least `share` of its keys have one system prompt, one
/// request shape, one /24, one agent, one org or one wave in common (of the rare values in
/// `keys`: a value many unrelated customers carry is no one's setup). Keys chained in by a tie
/// to one member but sharing none of those are not of it; a component with no such value (keys
/// each tied to the next by a different coincidence) is no cluster at all.
static std::vector<uint32_t> core(const std::vector<uint32_t>& members,
                                  const std::vector<LinkCandidate>& keys, int64_t wave,
                                  double share, bool& one_setup) {
  one_setup = false;
  std::vector<uint64_t LinkCandidate::*> fields = {&LinkCandidate::system, &LinkCandidate::shape,
                                                   &LinkCandidate::net, &LinkCandidate::agent,
                                                   &LinkCandidate::org};
  auto wave_of = [&](const LinkCandidate& k) {
    return k.in_wave ? static_cast<uint64_t>(k.first_seen_ns / wave) + 1 : 0;
  };
  const double need = share * static_cast<double>(members.size());
  std::vector<uint64_t> cores(fields.size() + 1, 0);  // per attribute, its core value (0: none)
  bool any = false;
  for (size_t f = 0; f <= fields.size(); ++f) {
    std::vector<uint64_t> values;
    for (uint32_t i : members)
      values.push_back(f < fields.size() ? keys[i].*fields[f] : wave_of(keys[i]));
    uint64_t top = 0;
    auto [count, distinct] = spread(values, &top);
    (void)distinct;
    if (count >= 2 && static_cast<double>(count) >= need) {
      cores[f] = top, any = true;
      one_setup = one_setup || f < fields.size();  // a value of the setup, not only a wave
    }
  }
  if (!any) return {};
  std::vector<uint32_t> out;
  for (uint32_t i : members) {
    bool carries = false;
    for (size_t f = 0; f <= fields.size() && !carries; ++f)
      carries =
          cores[f] != 0 && (f < fields.size() ? keys[i].*fields[f] : wave_of(keys[i])) == cores[f];
    if (carries) out.push_back(i);
  }
  return out;
}

std::vector<KeyCluster> link_keys(const std::vector<LinkCandidate>& all, const ClusterRule& rule) {
  std::vector<std::pair<uint64_t, uint32_t>> tokens;
  const int64_t wave = rule.wave_ns;
  // Ties are made of the rare values; the counts below describe the cluster with them all.
  std::vector<LinkCandidate> rare = all;
  for (auto field : {&LinkCandidate::system, &LinkCandidate::shape, &LinkCandidate::net,
                     &LinkCandidate::agent, &LinkCandidate::org})
    drop_common(rare, field, rule.common_hours);
  const std::vector<LinkCandidate>& keys = all;
  for (uint32_t i = 0; i < rare.size(); ++i) {
    const LinkCandidate& k = rare[i];
    auto add = [&](uint64_t tie, uint64_t a, uint64_t b, uint64_t c = 1) {
      if (a != 0 && b != 0 && c != 0) tokens.emplace_back(token(tie, a, b, c), i);
    };
    if (k.in_wave) {
      // Two grids half a wave apart: keys a minute apart on either side of a boundary still meet.
      for (int64_t offset : {int64_t{0}, wave / 2}) {
        uint64_t w =
            static_cast<uint64_t>((k.first_seen_ns + offset) / wave) * 2 + (offset != 0) + 1;
        add(wave_system, w, k.system);
        add(wave_shape, w, k.shape);
        add(wave_net, w, k.net);
        add(wave_agent, w, k.agent);
        add(wave_org, w, k.org);
      }
    }
    add(system_net, k.system, k.net);
    add(system_org, k.system, k.org);
    add(system_shape, k.system, k.shape);
  }
  std::sort(tokens.begin(), tokens.end());
  Components comp(keys.size());
  for (size_t i = 1; i < tokens.size(); ++i)
    if (tokens[i].first == tokens[i - 1].first) comp.join(tokens[i - 1].second, tokens[i].second);

  // Components in the order of their first (smallest) key.
  std::map<uint32_t, std::vector<uint32_t>> by_root;
  for (uint32_t i = 0; i < keys.size(); ++i) by_root[comp.find(i)].push_back(i);
  std::vector<std::vector<uint32_t>> groups;
  std::vector<bool> setups;
  for (auto& [root, all_members] : by_root) {
    if (all_members.size() < rule.min_keys) continue;
    bool one_setup = false;
    std::vector<uint32_t> members = core(all_members, rare, wave, rule.core_share, one_setup);
    if (members.size() < rule.min_keys) continue;
    uint64_t total = 0, most = 0;
    for (uint32_t i : members) total += keys[i].requests, most = std::max(most, keys[i].requests);
    if (static_cast<double>(most) > rule.max_member_share * static_cast<double>(total)) continue;
    groups.push_back(std::move(members));
    setups.push_back(one_setup);
  }

  // Ids: each old id to the component holding most of its members (ties: the smaller id, then
  // the earlier component); a component with none left gets a new one.
  std::vector<std::tuple<int64_t, uint64_t, size_t>> claims;  // (-members, old id, component)
  for (size_t g = 0; g < groups.size(); ++g) {
    std::unordered_map<uint64_t, int64_t> held;
    for (uint32_t i : groups[g])
      if (keys[i].previous != 0) ++held[keys[i].previous];
    for (auto [id, n] : held) claims.emplace_back(-n, id, g);
  }
  std::sort(claims.begin(), claims.end());
  std::vector<uint64_t> ids(groups.size(), 0);
  std::unordered_map<uint64_t, bool> taken;
  for (auto& [n, id, g] : claims) {
    if (ids[g] != 0 || taken[id]) continue;
    ids[g] = id;
    taken[id] = true;
  }
  std::vector<KeyCluster> out;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<uint32_t>& m = groups[g];
    if (ids[g] == 0) {
      uint32_t first = *std::min_element(m.begin(), m.end(), [&](uint32_t a, uint32_t b) {
        return std::tie(keys[a].first_seen_ns, keys[a].key) <
               std::tie(keys[b].first_seen_ns, keys[b].key);
      });
      uint64_t id = mix64(hash_bytes(keys[first].key, 0xc1057e4));
      while (id == 0 || taken[id]) id = mix64(id + 1);
      ids[g] = id;
      taken[id] = true;
    }
    KeyCluster c;
    c.id = ids[g];
    c.key = cluster_key(c.id);
    std::vector<uint64_t> sys, shape, net, agent, org, waves;
    for (uint32_t i : m) {
      const LinkCandidate& k = keys[i];
      c.members.emplace_back(k.key);
      sys.push_back(k.system), shape.push_back(k.shape), net.push_back(k.net);
      agent.push_back(k.agent), org.push_back(k.org);
      if (k.in_wave) waves.push_back(static_cast<uint64_t>(k.first_seen_ns / wave) + 1);
    }
    LinkCounts& l = c.links;
    l.keys = static_cast<uint32_t>(m.size());
    l.one_setup = setups[g];
    std::tie(l.shared_system, l.systems) = spread(sys, &l.top_system);
    std::tie(l.shared_shape, l.shapes) = spread(shape);
    std::tie(l.shared_net, l.nets) = spread(net);
    std::tie(l.shared_agent, l.agents) = spread(agent);
    std::tie(l.shared_org, l.orgs) = spread(org);
    l.in_waves = static_cast<uint32_t>(waves.size());
    l.waves = spread(waves).second;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace exfilscan::detail
