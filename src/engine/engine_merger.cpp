/// The merger: the event-time clock, events handed to the shards (on this thread or on all of
/// them), the hourly upkeep that needs every shard, the ordered merge of their findings.

#include "engine/engine_merger.h"

#include <algorithm>
#include <functional>
#include <tuple>

namespace exfilscan {

using detail::FindingOrder;
using detail::ranks_above;
using detail::Shard;

namespace {

constexpr size_t max_shards = 64;
// Fewer events (a small file's) are judged shard after shard on the calling thread: waking the
// others costs more. Each shard still has one writer at a time, so nothing else changes.
constexpr size_t parallel_min_events = 16;

}  // namespace

DetectionEngine::Impl::Impl(RuleSet r, EngineOptions o, FindingSink& s)
    : sink(s), clock(r.settings.max_skew_ns) {
  shared.rules = std::move(r);
  shared.options = std::move(o);
  const RuleSet& rules = shared.rules;
  shared.detectors = detail::make_detectors(shared.rules, shared.population_view, shared.releases);
  uint64_t least = UINT64_MAX;
  if (rules.prompt_templating.enabled)
    least = std::min(least, rules.prompt_templating.min_requests);
  if (rules.distillation_sweep.enabled)
    least = std::min(least, rules.distillation_sweep.min_requests);
  shared.analysis_gate =
      least == UINT64_MAX
          ? UINT64_MAX
          : static_cast<uint64_t>(static_cast<double>(least) * rules.settings.text_analysis_start);
  // `explain` follows one account through every window as it closes: one shard.
  // (At most 64: an event's route is a 64-bit set of shards.)
  shared.shards =
      shared.options.explain ? 1 : std::clamp<size_t>(shared.options.shards, 1, max_shards);
  for (size_t i = 0; i < shared.shards; ++i)
    shards.push_back(std::make_unique<Shard>(shared, sink, i));
  for (auto& sh : shards) sh->direct = shared.shards == 1;
  if (shared.shards > 1) pool = std::make_unique<detail::WorkerPool>(shared.shards);
}

void DetectionEngine::Impl::advance_clock(const Event& ev) {
  if (ev.timestamp_ns < shared.options.since_ns || ev.timestamp_ns >= shared.options.until_ns) {
    ++events_out_of_range;
    return;
  }
  ++events;
  clock.offer(ev, steps);
}

void DetectionEngine::Impl::finish_clock() {
  clock.finish(steps);
  judge_steps();
}

void DetectionEngine::Impl::merge_upkeep(int64_t at) {
  uint64_t before = shared.population.count();
  std::vector<int64_t> closes;
  for (auto& sh : shards) {
    shared.population.merge(sh->population_added);
    sh->population_added.clear();
    closes.insert(closes.end(), sh->closed_at.begin(), sh->closed_at.end());
    sh->closed_at.clear();
  }
  const uint64_t minimum = shared.rules.volume_spike.min_population_windows;
  if (before < minimum && shared.population.count() >= minimum) {
    // Usable since the minimum-th window closed, in event time (not since this upkeep).
    std::sort(closes.begin(), closes.end());
    size_t need = static_cast<size_t>(minimum - before);
    shared.population_since = need <= closes.size() ? closes[need - 1] : at;
  }
  shared.population_changed();
  detail::NotedModels noted;  // every shard's, the earliest of each model: then merged in order
  for (auto& sh : shards) {
    for (const auto& [model, ts] : sh->models_noted) detail::note_model(noted, model, ts);
    sh->models_noted.clear();
  }
  const ReleaseChasingRule& chase = shared.rules.release_chasing;
  shared.releases.upkeep(noted, at, shared.logs_start_ns, chase.established_ns,
                         chase.restart_after_ns);
  std::vector<detail::ForgottenKeys::Entry> forgotten;
  evict_down_to(shared.rules.settings.max_accounts, forgotten);
  update_forgotten(forgotten);
  drop_summaries_over(shared.rules.settings.max_accounts);
  link_clusters(at);
  set_room();
}

size_t DetectionEngine::Impl::pools_missing() const {
  size_t missing = 0;
  for (const detail::KeyCluster& c : shared.clusters)
    missing += !shards[shared.owner(c.key)]->pools.contains(c.key);
  return missing;
}

void DetectionEngine::Impl::set_room() {
  // A member's event makes its cluster's pooled account too where it is missing: one event, two
  // accounts. Those pooled accounts are held as if they were there.
  size_t cap = shared.rules.settings.max_accounts, held = live_accounts() + pools_missing();
  room = cap > held ? cap - held : 0;
}

size_t DetectionEngine::Impl::live_accounts() const {
  size_t live = 0;
  for (const auto& sh : shards) live += sh->accounts.size() + sh->pools.size();
  return live;
}

void DetectionEngine::Impl::evict_down_to(size_t keep,
                                          std::vector<detail::ForgottenKeys::Entry>& forgotten) {
  size_t active = live_accounts();
  if (active <= keep) return;
  std::vector<std::tuple<int64_t, std::string_view, bool, Shard*>> by_age;
  for (auto& sh : shards)
    for (bool pooled : {false, true})
      for (auto& [k, a] : sh->table(pooled)) {
        // A cluster's pooled account while its members' events go to it stays (set_room).
        const detail::KeyCluster* c = pooled ? shared.cluster_by(a.cluster) : nullptr;
        if (!c || c->key != k) by_age.emplace_back(a.last_seen_ns, k, pooled, sh.get());
      }
  // Least recently seen first, ties by key: the same accounts for any number of shards.
  size_t excess = std::min(active - keep, by_age.size());
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(excess),
                   by_age.end());
  for (size_t i = 0; i < excess; ++i) {
    auto [last_seen, key, pooled, owner] = by_age[i];
    Shard& sh = *owner;
    sh.retire(*sh.table(pooled).find(key));
    if (!pooled) {  // a cluster's: not a key to remember, nor counted as one
      forgotten.push_back({hash_bytes(key), last_seen});
      ++sh.stats.accounts_evicted;
    }
    sh.table(pooled).erase(key);  // (`key` views it)
  }
}

void DetectionEngine::Impl::update_forgotten(std::vector<detail::ForgottenKeys::Entry>& forgotten) {
  std::vector<uint64_t> returned;
  for (auto& sh : shards) {
    forgotten.insert(forgotten.end(), sh->forgotten_now.begin(), sh->forgotten_now.end());
    sh->forgotten_now.clear();
    returned.insert(returned.end(), sh->returned.begin(), sh->returned.end());
    sh->returned.clear();
  }
  forgotten_dropped +=
      shared.forgotten.update(returned, forgotten, shared.rules.settings.max_accounts);
}

void DetectionEngine::Impl::make_room() {
  accounts_peak = std::max(accounts_peak, live_accounts());
  // The next `room` events create at most that many accounts. With none left, the least
  // recently seen go down to a sixteenth below the cap, so that near it this barrier comes
  // once per cap/16 events, not at every one.
  size_t cap = shared.rules.settings.max_accounts;
  // (And room for the pooled accounts that members' events may make: set_room.)
  size_t spare = std::max({size_t{1}, cap / 16, pools_missing() + 1});
  std::vector<detail::ForgottenKeys::Entry> forgotten;
  evict_down_to(spare < cap ? cap - spare : 0, forgotten);
  if (!forgotten.empty()) update_forgotten(forgotten);  // a key evicted and back: dormant, seen
  set_room();
  // Clusters are at most half the keys linked (a state's beyond that may leave none).
  room = std::max<size_t>(room, 1);
}

void DetectionEngine::Impl::drop_summaries_over(size_t cap) {
  size_t total = 0;
  for (auto& sh : shards) total += sh->retired.size() + sh->retired_pools.size();
  if (total <= cap) return;
  std::vector<std::pair<const AccountSummary*, Shard*>> all;
  for (auto& sh : shards)
    for (auto* retired : {&sh->retired, &sh->retired_pools})
      for (const auto& [k, summary] : *retired) all.emplace_back(&summary, sh.get());
  // Ties (a cluster's and a key of the same name): the key first.
  auto ranks_before = [](const auto& x, const auto& y) {
    if (ranks_above(*x.first, *y.first) || ranks_above(*y.first, *x.first))
      return ranks_above(*x.first, *y.first);
    return (x.first->key_kind == "cluster") < (y.first->key_kind == "cluster");
  };
  std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cap), all.end(),
                   ranks_before);
  std::vector<std::tuple<std::string, bool, Shard*>> gone;
  for (size_t i = cap; i < all.size(); ++i)
    gone.emplace_back(all[i].first->key, all[i].first->key_kind == "cluster", all[i].second);
  for (auto& [key, pooled, sh] : gone) {
    (pooled ? sh->retired_pools : sh->retired).erase(key);
    ++sh->stats.summaries_dropped;
  }
}

void DetectionEngine::Impl::on_event(const Event& ev) {
  advance_clock(ev);
  judge_steps();
}

void DetectionEngine::Impl::on_events(std::span<const std::span<const Event>> runs) {
  for (std::span<const Event> run : runs)
    for (const Event& ev : run) advance_clock(ev);
  judge_steps();
}

void DetectionEngine::Impl::judge_steps() {
  if (shared.logs_start_ns == INT64_MAX && !steps.empty())
    shared.logs_start_ns = steps.front().event->timestamp_ns;
  if (shards.size() == 1) {
    for (const detail::ClockStep& st : steps) {
      if (st.tick) upkeep(st.watermark);
      if (room == 0) make_room();
      --room;
      shards[0]->on_event(*st.event, seq++);
    }
    steps.clear();
    clock.clear_released();
    return;
  }
  // One job for all the steps, split only where the hourly upkeep falls: the shards wait on
  // each other once per chunk, not once per piece.
  // From 3 shards on, each event is routed once, every shard taking a slice: a shard then
  // reads only the events it has a part in, where reading them all would cost each shard
  // what routing costs all of them. With 2, each reading all is cheaper than one more wait.
  bool routed = shards.size() > 2;
  auto run = [&](size_t events, const std::function<void(size_t)>& job) {
    if (events < parallel_min_events)
      pool->run_here(job);
    else
      pool->run(job);
  };
  // Routes are worked out chunk by chunk: the upkeep between chunks may link keys into clusters,
  // and a member's later events go to its cluster's shard too.
  if (routed) routes.assign(steps.size(), 0);
  auto route = [&](size_t from, size_t to) {
    run(to - from, [&](size_t s) {
      size_t n = to - from, lo = from + n * s / shards.size(),
             hi = from + n * (s + 1) / shards.size();
      for (size_t i = lo; i < hi; ++i) routes[i] = shards[s]->route(*steps[i].event);
    });
  };
  uint64_t first = seq;
  auto judge = [&](size_t from, size_t to) {
    if (from == to) return;
    if (routed) route(from, to);
    run(to - from, [&](size_t s) {
      Shard& sh = *shards[s];
      uint64_t mine = uint64_t{1} << s;
      for (size_t i = from; i < to; ++i)
        if (!routed || (routes[i] & mine) != 0) sh.on_event(*steps[i].event, first + i);
    });
  };
  size_t from = 0;
  for (size_t i = 0; i < steps.size(); ++i, --room) {
    if (!steps[i].tick && room > 0) continue;
    judge(from, i);
    seq = first + i;
    if (steps[i].tick) upkeep(steps[i].watermark);
    if (room == 0) make_room();
    from = i;
  }
  judge(from, steps.size());
  seq = first + steps.size();
  flush();
  steps.clear();
  clock.clear_released();
}

void DetectionEngine::Impl::upkeep(int64_t at) {
  accounts_peak = std::max(accounts_peak, live_accounts());
  if (shards.size() == 1)
    shards[0]->upkeep(at, seq);
  else
    pool->run([&](size_t s) { shards[s]->upkeep(at, seq); });
  merge_upkeep(at);
}

void DetectionEngine::Impl::flush() {
  if (shards.size() == 1) return;
  std::vector<std::pair<FindingOrder, Finding>*> all;
  for (auto& sh : shards)
    for (auto& p : sh->pending) all.push_back(&p);
  if (all.empty()) return;
  std::sort(all.begin(), all.end(), [](auto* x, auto* y) { return x->first < y->first; });
  for (auto* p : all) sink.on_finding(p->second);
  for (auto& sh : shards) sh->pending.clear();
}

}  // namespace exfilscan
