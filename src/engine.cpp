/// The engine over its shards: the event-time clock, the hourly upkeep that needs every shard,
/// the ordered merge of their findings, the saved state and the public methods.

#include "engine_shard.h"
#include "worker_pool.h"

#include <algorithm>
#include <functional>
#include <tuple>

namespace exfilscan {

using detail::Account;
using detail::FindingOrder;
using detail::ranks_above;
using detail::Shard;
using detail::SharedState;

namespace {

constexpr int64_t max_clock_jump = 30 * ns_per_day;
constexpr size_t max_shards = 64;
// Fewer events (a small file's) are judged shard after shard on the calling thread: waking the
// others costs more. Each shard still has one writer at a time, so nothing else changes.
constexpr size_t parallel_min_events = 16;

}  // namespace

struct DetectionEngine::Impl {
  Impl(RuleSet r, EngineOptions o, FindingSink& s) : sink(s) {
    shared.rules = std::move(r);
    shared.options = std::move(o);
    const RuleSet& rules = shared.rules;
    uint64_t least = UINT64_MAX;
    if (rules.prompt_templating.enabled)
      least = std::min(least, rules.prompt_templating.min_requests);
    if (rules.distillation_sweep.enabled)
      least = std::min(least, rules.distillation_sweep.min_requests);
    shared.analysis_gate = least == UINT64_MAX
                               ? UINT64_MAX
                               : static_cast<uint64_t>(static_cast<double>(least) *
                                                       rules.settings.text_analysis_start);
    // `explain` follows one account through every window as it closes: one shard.
    // (At most 64: an event's route is a 64-bit set of shards.)
    shared.shards =
        shared.options.explain ? 1 : std::clamp<size_t>(shared.options.shards, 1, max_shards);
    for (size_t i = 0; i < shared.shards; ++i)
      shards.push_back(std::make_unique<Shard>(shared, sink, i));
    for (auto& sh : shards) sh->direct = shared.shards == 1;
    if (shared.shards > 1) pool = std::make_unique<detail::WorkerPool>(shared.shards);
  }

  SharedState shared;
  FindingSink& sink;
  std::vector<std::unique_ptr<Shard>> shards;
  std::unique_ptr<detail::WorkerPool> pool;
  uint64_t events = 0;
  uint64_t events_out_of_range = 0;
  uint64_t forgotten_dropped = 0;
  uint64_t seq = 0;  // events offered so far
  int64_t watermark = 0;
  int64_t next_tick = 0;
  // Where the hourly upkeep falls in the batch being judged.
  struct Tick {
    size_t index;
    int64_t watermark;
  };
  std::vector<Tick> ticks;
  std::vector<uint8_t> in_range;
  std::vector<const Event*> flat;
  std::vector<uint64_t> routes;  // per event: the shards that need it

  /// Event time and the hourly upkeep: one pass in input order before the shards judge, so
  /// every shard sees the same clock. True when the event is judged (inside --since/--until).
  bool advance_clock(const Event& ev, bool& tick) {
    tick = false;
    if (ev.timestamp_ns < shared.options.since_ns || ev.timestamp_ns >= shared.options.until_ns) {
      ++events_out_of_range;
      return false;
    }
    ++events;
    int64_t ts = ev.timestamp_ns;
    // One event stamped far in the future (a bad clock) must not expire every account and stop
    // the hourly upkeep: time runs on only by steps of at most max_clock_jump.
    if (ts > watermark && (watermark == 0 || ts - watermark <= max_clock_jump)) watermark = ts;
    if (watermark >= next_tick) {
      next_tick = (watermark / ns_per_hour + 1) * ns_per_hour;
      tick = true;
    }
    return true;
  }

  /// The upkeep's global part, between shard jobs: the windows closed since the last upkeep
  /// join the population, and accounts over max_accounts are evicted (least recently seen).
  void merge_upkeep(int64_t at) {
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
    size_t active = 0;
    for (auto& sh : shards) active += sh->accounts.size();
    const size_t max_accounts = shared.rules.settings.max_accounts;
    std::vector<detail::ForgottenKeys::Entry> forgotten;
    if (active > max_accounts) {
      std::vector<std::tuple<int64_t, std::string_view, Shard*>> by_age;
      for (auto& sh : shards)
        for (auto& [k, a] : sh->accounts) by_age.emplace_back(a.last_seen_ns, k, sh.get());
      size_t excess = active - max_accounts;
      std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(excess),
                       by_age.end());
      for (size_t i = 0; i < excess; ++i) {
        Shard& sh = *std::get<2>(by_age[i]);
        std::string_view key = std::get<1>(by_age[i]);
        sh.retire(*sh.accounts.find(key));
        forgotten.push_back({hash_bytes(key), std::get<0>(by_age[i])});
        sh.accounts.erase(key);
        ++sh.stats.accounts_evicted;
      }
    }
    std::vector<uint64_t> returned;
    for (auto& sh : shards) {
      forgotten.insert(forgotten.end(), sh->forgotten_now.begin(), sh->forgotten_now.end());
      sh->forgotten_now.clear();
      returned.insert(returned.end(), sh->returned.begin(), sh->returned.end());
      sh->returned.clear();
    }
    forgotten_dropped += shared.forgotten.update(returned, forgotten, max_accounts);
    drop_summaries_over(max_accounts);
  }

  /// Flagged accounts that went idle keep a summary for the ranking; over `cap` of them (a
  /// long cron chain under key rotation flags and forgets keys without end) those that would
  /// rank lowest are dropped, counted. The set is the same at every upkeep for any number of
  /// shards, and so is what is dropped.
  void drop_summaries_over(size_t cap) {
    size_t total = 0;
    for (auto& sh : shards) total += sh->retired.size();
    if (total <= cap) return;
    std::vector<std::pair<const AccountSummary*, Shard*>> all;
    for (auto& sh : shards)
      for (const auto& [k, summary] : sh->retired) all.emplace_back(&summary, sh.get());
    auto ranks_before = [](const auto& x, const auto& y) {
      return ranks_above(*x.first, *y.first);
    };
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(cap), all.end(),
                     ranks_before);
    std::vector<std::pair<std::string, Shard*>> gone;
    for (size_t i = cap; i < all.size(); ++i) gone.emplace_back(all[i].first->key, all[i].second);
    for (auto& [key, sh] : gone) {
      sh->retired.erase(key);
      ++sh->stats.summaries_dropped;
    }
  }

  void on_event(const Event& ev) {
    if (shards.size() > 1) {  // one event is a run of one
      std::span<const Event> one(&ev, 1);
      return on_events({&one, 1});
    }
    bool tick;
    if (advance_clock(ev, tick)) {
      if (tick) upkeep(watermark);
      shards[0]->on_event(ev, seq);
    }
    ++seq;
  }

  void on_events(std::span<const std::span<const Event>> runs) {
    if (shards.size() == 1) {
      for (std::span<const Event> run : runs)
        for (const Event& ev : run) on_event(ev);
      return;
    }
    // One job for all the runs, split only where the hourly upkeep falls: the shards wait on
    // each other once per chunk, not once per piece.
    flat.clear();
    for (std::span<const Event> run : runs)
      for (const Event& ev : run) flat.push_back(&ev);
    ticks.clear();
    in_range.assign(flat.size(), 0);
    for (size_t i = 0; i < flat.size(); ++i) {
      bool tick;
      in_range[i] = advance_clock(*flat[i], tick);
      if (tick) ticks.push_back({i, watermark});
    }
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
    if (routed) {
      routes.assign(flat.size(), 0);
      run(flat.size(), [&](size_t s) {
        size_t n = flat.size(), lo = n * s / shards.size(), hi = n * (s + 1) / shards.size();
        for (size_t i = lo; i < hi; ++i)
          if (in_range[i]) routes[i] = shards[s]->route(*flat[i]);
      });
    }
    uint64_t first = seq;
    auto judge = [&](size_t from, size_t to) {
      if (from == to) return;
      run(to - from, [&](size_t s) {
        Shard& sh = *shards[s];
        uint64_t mine = uint64_t{1} << s;
        for (size_t i = from; i < to; ++i)
          if (routed ? (routes[i] & mine) != 0 : in_range[i] != 0) sh.on_event(*flat[i], first + i);
      });
    };
    size_t from = 0;
    for (const Tick& t : ticks) {
      judge(from, t.index);
      seq = first + t.index;
      upkeep(t.watermark);
      from = t.index;
    }
    judge(from, flat.size());
    seq = first + flat.size();
    flush();
  }

  void upkeep(int64_t at) {
    if (shards.size() == 1)
      shards[0]->upkeep(at, seq);
    else
      pool->run([&](size_t s) { shards[s]->upkeep(at, seq); });
    merge_upkeep(at);
  }

  /// The shards' findings, in the order one shard would have emitted them.
  void flush() {
    if (shards.size() == 1) return;
    std::vector<std::pair<FindingOrder, Finding>*> all;
    for (auto& sh : shards)
      for (auto& p : sh->pending) all.push_back(&p);
    if (all.empty()) return;
    std::sort(all.begin(), all.end(), [](auto* x, auto* y) { return x->first < y->first; });
    for (auto* p : all) sink.on_finding(p->second);
    for (auto& sh : shards) sh->pending.clear();
  }

  void save(StateWriter& w) const {
    w.i64(watermark);
    w.i64(next_tick);
    w.i64(shared.population_since);
    shared.population.save(w);
    detail::LogHistogram added;  // since the last upkeep: joins the population at the next one
    std::vector<int64_t> closes;
    for (const auto& sh : shards) {
      added.merge(sh->population_added);
      closes.insert(closes.end(), sh->closed_at.begin(), sh->closed_at.end());
    }
    added.save(w);
    std::sort(closes.begin(), closes.end());
    w.u64(closes.size());
    for (int64_t t : closes) w.i64(t);
    std::vector<const Account*> sorted;
    for (const auto& sh : shards)
      for (const auto& [k, a] : sh->accounts) sorted.push_back(&a);
    std::sort(sorted.begin(), sorted.end(), [](auto* x, auto* y) { return x->key < y->key; });
    w.u64(sorted.size());
    for (const Account* a : sorted) a->save(w);
    w.u64(shared.rules.thresholds.size());
    for (size_t r = 0; r < shared.rules.thresholds.size(); ++r) {
      w.str(shared.rules.thresholds[r].id);
      std::vector<const detail::ThresholdTracker*> parts;
      for (const auto& sh : shards) parts.push_back(&sh->thresholds[r]);
      detail::ThresholdTracker::save(w, parts);
    }
    std::vector<std::pair<const std::string*, const detail::RuleFiring*>> fired;
    for (const auto& sh : shards)
      for (const auto& [id, f] : sh->threshold_fired) fired.emplace_back(&id, &f);
    std::sort(fired.begin(), fired.end(), [](auto& x, auto& y) { return *x.first < *y.first; });
    w.u64(fired.size());
    for (const auto& [id, f] : fired) {
      w.str(*id);
      w.str(f->rule);
      w.f64(f->score);
      w.i64(f->last_fired_ns);
      w.f64(f->episode_score);
    }
    std::vector<const AccountSummary*> gone;
    for (const auto& sh : shards)
      for (const auto& [k, s] : sh->retired) gone.push_back(&s);
    std::sort(gone.begin(), gone.end(), [](auto* x, auto* y) { return x->key < y->key; });
    w.u64(gone.size());
    for (const AccountSummary* s : gone) {
      w.str(s->key);
      w.str(s->key_kind);
      w.f64(s->risk);
      w.u8(static_cast<uint8_t>(s->severity));
      for (uint64_t v :
           {s->requests, s->prompt_tokens, s->completion_tokens, s->suppressed_findings})
        w.u64(v);
      w.i64(s->first_seen_ns);
      w.i64(s->last_seen_ns);
      w.str(s->top_rule);
      w.u64(s->rules.size());
      for (const std::string& r : s->rules) w.str(r);
    }
    std::vector<uint64_t> returned;  // since the last upkeep: no longer forgotten
    for (const auto& sh : shards)
      returned.insert(returned.end(), sh->returned.begin(), sh->returned.end());
    std::sort(returned.begin(), returned.end());
    shared.forgotten.save(w, returned);
  }

  void load(StateReader& r) {
    watermark = r.i64();
    next_tick = r.i64();
    shared.population_since = r.i64();
    shared.population.load(r);
    shared.population_changed();
    for (auto& sh : shards) sh->population_added.clear(), sh->closed_at.clear();
    // Format 1 merged every closed window into the population at once.
    if (r.version() >= 2) {
      shards[0]->population_added.load(r);
      shards[0]->closed_at.resize(r.count(100'000'000));
      for (int64_t& t : shards[0]->closed_at) t = r.i64();
    }
    for (auto& sh : shards) sh->accounts.clear();
    size_t n = r.count(shared.rules.settings.max_accounts + 1);
    for (size_t i = 0; i < n; ++i) {
      Account a;
      a.load(r);
      std::string key = a.key;
      *shards[shared.owner(key)]->accounts.try_emplace(key).first = std::move(a);
    }
    const auto& rules = shared.rules.thresholds;
    if (r.count(rules.size()) != rules.size())
      throw StateError("the state's threshold rules are not the rules in force");
    for (size_t t = 0; t < rules.size(); ++t) {
      if (r.str() != rules[t].id)
        throw StateError("the state's threshold rules are not the rules in force");
      std::vector<detail::ThresholdTracker*> parts;
      for (auto& sh : shards) parts.push_back(&sh->thresholds[t]);
      detail::ThresholdTracker::load(r, parts,
                                     [&](std::string_view key) { return shared.owner(key); });
    }
    for (auto& sh : shards) sh->threshold_fired.clear();
    size_t f = r.count(100'000'000);
    for (size_t i = 0; i < f; ++i) {
      std::string id = r.str();
      // (rule id, 0x1f, key): the key decides the shard.
      size_t cut = id.find('\x1f');
      std::string_view key =
          cut == std::string::npos ? std::string_view(id) : std::string_view(id).substr(cut + 1);
      detail::RuleFiring& firing = shards[shared.owner(key)]->threshold_fired[id];
      firing.rule = r.str();
      firing.score = r.f64();
      firing.last_fired_ns = r.i64();
      firing.episode_score = r.f64();
    }
    for (auto& sh : shards) sh->retired.clear();
    size_t g = r.count(100'000'000);
    for (size_t i = 0; i < g; ++i) {
      AccountSummary s;
      s.key = r.str();
      s.key_kind = r.str();
      s.risk = r.f64();
      s.severity = static_cast<Severity>(std::min<uint8_t>(r.u8(), 4));
      for (uint64_t* v :
           {&s.requests, &s.prompt_tokens, &s.completion_tokens, &s.suppressed_findings})
        *v = r.u64();
      s.first_seen_ns = r.i64();
      s.last_seen_ns = r.i64();
      s.top_rule = r.str();
      s.rules.resize(r.count(1000));
      for (std::string& rule : s.rules) rule = r.str();
      std::string key = s.key;
      shards[shared.owner(key)]->retired[key] = std::move(s);
    }
    for (auto& sh : shards) sh->returned.clear(), sh->forgotten_now.clear();
    shared.forgotten = {};
    if (r.version() >= 4) shared.forgotten.load(r, shared.rules.settings.max_accounts);
    if (!r.at_end()) throw StateError("the state has bytes after its end");
  }
};

DetectionEngine::DetectionEngine(RuleSet rules, EngineOptions options, FindingSink& sink)
    : impl_(std::make_unique<Impl>(std::move(rules), std::move(options), sink)) {}
DetectionEngine::~DetectionEngine() = default;

void DetectionEngine::on_event(const Event& event) {
  impl_->on_event(event);
}

void DetectionEngine::on_events(std::span<const std::span<const Event>> runs) {
  impl_->on_events(runs);
}

bool DetectionEngine::uses_threads() const {
  return impl_->shards.size() > 1;
}

void DetectionEngine::save_state(StateWriter& out) const {
  impl_->save(out);
}
void DetectionEngine::load_state(StateReader& in) {
  impl_->load(in);
}

void DetectionEngine::finish(bool close_windows) {
  if (!close_windows) return;
  // On this thread, in key order over every shard: the order one shard would close them in.
  std::vector<std::pair<std::string_view, Shard*>> keys;
  for (auto& sh : impl_->shards)
    for (auto& [k, a] : sh->accounts) keys.emplace_back(k, sh.get());
  std::sort(keys.begin(), keys.end());
  for (auto& sh : impl_->shards) sh->direct = true;
  for (auto& [k, sh] : keys) sh->close_window(*sh->accounts.find(k));
}

std::vector<AccountSummary> DetectionEngine::ranking(size_t top_other) const {
  std::vector<AccountSummary> flagged, others;
  for (const auto& sh : impl_->shards) {
    for (const auto& [k, a] : sh->accounts) {
      AccountSummary s = sh->summarize(a);
      (s.rules.empty() ? others : flagged).push_back(std::move(s));
    }
    for (const auto& [k, s] : sh->retired)
      if (!sh->accounts.contains(k)) flagged.push_back(s);
  }
  std::sort(flagged.begin(), flagged.end(), ranks_above);
  std::sort(others.begin(), others.end(), ranks_above);
  if (others.size() > top_other) others.resize(top_other);
  flagged.insert(flagged.end(), others.begin(), others.end());
  return flagged;
}

EngineStats DetectionEngine::stats() const {
  EngineStats s;
  s.events = impl_->events;
  s.events_out_of_range = impl_->events_out_of_range;
  s.forgotten_dropped = impl_->forgotten_dropped;
  for (const auto& sh : impl_->shards) {
    const EngineStats& x = sh->stats;
    s.events_without_account += x.events_without_account;
    s.late_events += x.late_events;
    s.accounts_seen += x.accounts_seen;
    s.accounts_active += sh->accounts.size();
    s.accounts_expired += x.accounts_expired;
    s.accounts_evicted += x.accounts_evicted;
    s.summaries_dropped += x.summaries_dropped;
    s.findings += x.findings;
    s.suppressed += x.suppressed;
    for (size_t i = 0; i < s.by_severity.size(); ++i) s.by_severity[i] += x.by_severity[i];
  }
  return s;
}

bool DetectionEngine::needs_prompt_text() const {
  const RuleSet& rules = impl_->shared.rules;
  return rules.prompt_templating.enabled || rules.distillation_sweep.enabled ||
         std::any_of(rules.thresholds.begin(), rules.thresholds.end(),
                     [](const ThresholdRule& t) { return t.field == "prompt"; });
}

bool DetectionEngine::needs_turns() const {
  return impl_->shared.rules.distillation_sweep.enabled;
}

std::vector<std::pair<const ThresholdRule*, double>> DetectionEngine::threshold_peaks(
    std::string_view key) const {
  std::vector<std::pair<const ThresholdRule*, double>> out;
  const SharedState& shared = impl_->shared;
  for (size_t r = 0; r < shared.rules.thresholds.size(); ++r) {
    const ThresholdRule& rule = shared.rules.thresholds[r];
    double peak = -1;
    if (rule.group_by == shared.options.group_by && key == shared.options.explain_key)
      for (const auto& sh : impl_->shards) peak = std::max(peak, sh->thresholds[r].watched_peak());
    out.emplace_back(&rule, peak);
  }
  return out;
}

}  // namespace exfilscan
