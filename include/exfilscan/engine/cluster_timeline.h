#pragma once
/// The cluster stage's view of what the members of a group published (exfilscan campaigns):
/// for each hour, the clusters the engine's linker makes of every partition's latest profiles,
/// and which records of the records' topic are of a cluster's members in the hour they fall in
/// (docs/scale-out.md, "The cluster stage").

#include <exfilscan/engine/key_profile.h>
#include <exfilscan/rules/finding.h>
#include <exfilscan/rules/rules.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilscan {

namespace detail {
struct KeyCluster;
}

class ClusterTimeline {
 public:
  ClusterTimeline(const RuleSet& rules, uint64_t rules_fingerprint);
  ~ClusterTimeline();
  ClusterTimeline(const ClusterTimeline&) = delete;
  ClusterTimeline& operator=(const ClusterTimeline&) = delete;

  /// One message of the profiles topic (in any order). Throws StateError for one that is not a
  /// profile message or was made under other rules (or another --group-by, --max-skew).
  void add(std::string_view message);
  void add(const ProfileMessage& message);
  /// After the last message: links each hour in turn, as the engine's upkeeps would, each
  /// cluster keeping its id across hours while most of its members stay.
  void link();

  /// The clusters in force from an upkeep at `at`: those of the latest hour at or before it
  /// (null before the first).
  const std::vector<detail::KeyCluster>* clusters_at(int64_t at) const;
  /// Whether the record at `offset` of `partition`, keyed `key`, is of a member of a cluster in
  /// force in the hour it falls in (by that partition's ends of hours): the stage parses those
  /// and passes over the others unparsed.
  bool wanted(int32_t partition, int64_t offset, std::string_view key) const;
  /// Each key that was ever a member, with the last cluster (its key) it was in.
  std::vector<std::pair<std::string, std::string>> members() const;
  /// The stage's ranking: after each flagged cluster's row, the keys last in it (`key_kind`:
  /// the --group-by), each pointing to it with its risk (their own is their members'; 0 here).
  std::vector<AccountSummary> with_members(std::vector<AccountSummary> ranking,
                                           std::string_view key_kind) const;

  size_t hours() const;
  size_t profiles() const;
  size_t clusters() const;  // distinct cluster ids over every hour

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exfilscan
