#pragma once
/// Internal: links keys into clusters. Each key keeps a small profile of its traffic (its
/// dominant system prompt, request shape, /24, user agent); at each hourly upkeep the linker
/// joins keys that share what unrelated customers rarely share together, and the connected
/// components of those links are the clusters (deterministic: no randomised community
/// detection). Which pairs of attributes link is the whole of the policy (docs/detection.md):
/// a time (first seen in one wave) or a content (the same system prompt) beside another
/// attribute; infrastructure with infrastructure or behaviour never does.

#include <exfilscan/engine/key_profile.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan::detail {

/// Space-saving top-2 of one attribute of a key's traffic (values are hashes, 0 is none).
struct TopValues {
  std::array<uint64_t, 2> value{};
  std::array<uint32_t, 2> count{};
  void add(uint64_t v);
  /// The value carried by at least `share` of `requests`, or 0.
  uint64_t dominant(uint64_t requests, double share) const;
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// What the linker knows of a key: 100 bytes.
struct LinkProfile {
  uint32_t requests = 0;
  TopValues system;  // the system prompt's text
  TopValues shape;   // model, endpoint and sampling parameters
  TopValues net;     // the client's /24 (IPv6: /48)
  TopValues agent;   // the user agent
  void observe(const Event& ev, std::string& scratch);
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// One key as the linker sees it.
struct LinkCandidate {
  std::string_view key;
  int64_t first_seen_ns = 0;
  bool in_wave = false;  // first seen once the logs had settled, and not back after being forgotten
  uint64_t system = 0, shape = 0, net = 0, agent = 0, org = 0;  // dominant values (0: none)
  uint64_t previous = 0;                                        // its cluster so far (0: none)
  uint64_t requests = 0;
};

/// Whether a key first seen at `first_seen_ns` came in a wave: `settled` or more after `start_ns`
/// (where the logs' current stretch begins; INT64_MAX: unknown), where at its own rate the logs
/// before its first request should have held `new_after_requests` of its requests.
bool came_in_wave(int64_t first_seen_ns, int64_t last_seen_ns, uint64_t requests, int64_t start_ns,
                  const ClusterRule& rule);
/// What the linker sees of a published profile (the cluster stage); `previous` is left 0.
LinkCandidate candidate_of(const KeyProfile& p, int64_t start_ns, const ClusterRule& rule);

/// How the members of a cluster are tied: for each attribute, how many values they have and
/// how many members carry the most common one.
struct LinkCounts {
  uint32_t keys = 0;
  uint32_t systems = 0, shared_system = 0;
  uint64_t top_system = 0;
  uint32_t waves = 0, in_waves = 0;
  uint32_t shapes = 0, shared_shape = 0;
  uint32_t nets = 0, shared_net = 0;
  uint32_t agents = 0, shared_agent = 0;
  uint32_t orgs = 0, shared_org = 0;
  /// Half its keys or more share a rare system prompt, request shape, /24, agent or org: one
  /// setup, not only one wave.
  bool one_setup = false;
  /// "42 keys: 40 share system prompt 3f9a1c2b, first seen in 4 waves, 3 /24s, 1 user agent".
  std::string describe() const;
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

struct KeyCluster {
  uint64_t id = 0;  // stable while the cluster lasts (it keeps its members' old id)
  std::string key;  // "cluster-3f9a1c2b04d5": the pooled account's key
  std::vector<std::string> members;  // sorted
  LinkCounts links;
  void save(StateWriter& w) const;
  void load(StateReader& r);
};

/// The pooled account's key for a cluster id.
std::string cluster_key(uint64_t id);
/// Whether `key` is of cluster_key's form.
bool is_cluster_key(std::string_view key);

/// The clusters of `keys` (sorted by key: the answer must not depend on where they came from).
/// A component keeps the previous id most of its members had (each old id goes to one
/// component, the one with most of its members, ties to the smaller id); a new one is named
/// after its earliest member.
std::vector<KeyCluster> link_keys(const std::vector<LinkCandidate>& keys, const ClusterRule& rule);

}  // namespace exfilscan::detail
