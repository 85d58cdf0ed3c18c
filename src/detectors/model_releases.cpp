#include "detectors/model_releases.h"

#include <exfilscan/rules/rules.h>
#include <exfilscan/timestamp.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace exfilscan::detail {

namespace {

std::vector<std::pair<int64_t, uint64_t>> by_time(const NotedModels& m) {
  std::vector<std::pair<int64_t, uint64_t>> out;
  out.reserve(m.size());
  for (const auto& [model, ts] : m) out.emplace_back(ts, model);
  std::sort(out.begin(), out.end());
  return out;
}

void save_noted(StateWriter& w, const NotedModels& m) {
  std::vector<std::pair<uint64_t, int64_t>> sorted(m.begin(), m.end());
  std::sort(sorted.begin(), sorted.end());
  w.u64(sorted.size());
  for (const auto& [model, ts] : sorted) w.u64(model), w.i64(ts);
}

void load_noted(StateReader& r, NotedModels& m) {
  m.clear();
  size_t n = r.count(ModelReleases::max_models);
  for (size_t i = 0; i < n; ++i) {
    uint64_t model = r.u64();
    int64_t ts = r.time();
    if (!m.emplace(model, ts).second) throw StateError("the state holds a model twice");
  }
}

}  // namespace

void ModelReleases::upkeep(const NotedModels& noted, int64_t at, int64_t logs_start_ns,
                           int64_t established_ns, int64_t restart_ns) {
  if (since_ns == INT64_MAX) since_ns = logs_start_ns;
  for (const auto& [ts, model] : by_time(noted)) {
    if (models.size() >= max_models) break;
    models.try_emplace(model, Model{ts, since_ns != INT64_MAX && ts - since_ns >= established_ns});
  }
  // The events before this upkeep belong to the stretch they came in; a gap ends it.
  if (last_upkeep_ns != 0 && at - last_upkeep_ns >= restart_ns) since_ns = at;
  last_upkeep_ns = at;
}

void ModelReleases::save(StateWriter& w, const NotedModels& pending) const {
  std::vector<std::pair<uint64_t, Model>> sorted(models.begin(), models.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  w.u64(sorted.size());
  for (const auto& [model, m] : sorted) w.u64(model), w.i64(m.first_ns), w.u8(m.release);
  w.i64(since_ns);
  w.i64(last_upkeep_ns);
  save_noted(w, pending);
}

void ModelReleases::load(StateReader& r, NotedModels& pending) {
  models.clear();
  size_t n = r.count(max_models);
  for (size_t i = 0; i < n; ++i) {
    uint64_t model = r.u64();
    Model m;
    m.first_ns = r.time();
    m.release = r.u8() != 0;
    if (!models.emplace(model, m).second) throw StateError("the state holds a model twice");
  }
  since_ns = r.i64();
  if (since_ns != INT64_MAX && (since_ns < 0 || since_ns >= timestamp_end_s * ns_per_second))
    throw StateError("the state's clock is out of range");
  last_upkeep_ns = r.time();
  load_noted(r, pending);
}

}  // namespace exfilscan::detail
