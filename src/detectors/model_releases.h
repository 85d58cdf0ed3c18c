#pragma once
/// Internal: when each model first appeared in the logs, as of the last hourly upkeep. Every
/// shard notes the models it sees that are not known yet (their earliest event time) and the
/// upkeep merges them: a model's first appearance is the same for any number of shards, and it
/// changes only there, so a verdict never depends on which shard saw the model first.

#include <exfilscan/state.h>

#include <cstdint>
#include <optional>
#include <unordered_map>

namespace exfilscan::detail {

/// Models noted since the last upkeep: hash_bytes(model) to its earliest event time.
using NotedModels = std::unordered_map<uint64_t, int64_t>;

/// The earliest of `ts` and what `noted` holds for `model`.
inline void note_model(NotedModels& noted, uint64_t model, int64_t ts) {
  auto [at, added] = noted.try_emplace(model, ts);
  if (!added && ts < at->second) at->second = ts;
}

struct ModelReleases {
  /// Models kept (a log naming endless fine-tunes or garbage); past it new ones are not noted.
  static constexpr size_t max_models = 4096;
  struct Model {
    int64_t first_ns = 0;  // its earliest event
    bool release = false;  // first seen `established` or more into the logs' stretch
  };
  std::unordered_map<uint64_t, Model> models;
  /// The start of the logs' current stretch: their first event, or the first after a gap in all
  /// traffic of `restart_after` (a model there from a stretch's start was there before it).
  int64_t since_ns = INT64_MAX;
  int64_t last_upkeep_ns = 0;  // 0: none yet
  bool known(uint64_t model) const { return models.count(model) != 0; }
  /// When the model first appeared, if that was a release.
  std::optional<int64_t> release(uint64_t model) const {
    auto at = models.find(model);
    if (at == models.end() || !at->second.release) return std::nullopt;
    return at->second.first_ns;
  }
  /// The hourly upkeep at `at`: the shards' notes join, earliest first (ties by hash), up to
  /// max_models, each a release or not by the stretch they came in; then a gap of `restart_ns`
  /// since the last upkeep starts a new stretch. `logs_start_ns`: the first event judged.
  void upkeep(const NotedModels& noted, int64_t at, int64_t logs_start_ns, int64_t established_ns,
              int64_t restart_ns);
  /// Sorted by hash, with the notes not merged yet (`pending`) apart.
  void save(StateWriter& w, const NotedModels& pending) const;
  void load(StateReader& r, NotedModels& pending);
};

}  // namespace exfilscan::detail
