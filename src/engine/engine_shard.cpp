/// A shard's own work on each event: routing it, adding it to its account's window, judging the
/// window, closing windows and forgetting idle accounts at the hourly upkeep.

#include "engine/engine_shard.h"

#include <algorithm>
#include <cstddef>
#include <tuple>

namespace exfilscan::detail {

namespace {

/// Adds an event to the hour it falls in. Events come in time order but for max_skew, so the
/// hour is looked for from the newest end; an hour older than all kept when full is dropped.
void add_hourly(std::vector<HourlyCount>& hours, int64_t ts, int64_t completion) {
  constexpr int64_t ns_per_hour = 3'600'000'000'000;
  int64_t hour = ts - ((ts % ns_per_hour) + ns_per_hour) % ns_per_hour;
  size_t at = hours.size();  // one past the hour, once found
  while (at > 0 && hours[at - 1].hour_ns > hour) --at;
  if (at == 0 || hours[at - 1].hour_ns != hour) {
    if (hours.size() >= max_hourly_counts) {
      if (at == 0) return;
      hours.erase(hours.begin());
      --at;
    }
    hours.insert(hours.begin() + static_cast<std::ptrdiff_t>(at), HourlyCount{hour, 0, 0});
    ++at;
  }
  HourlyCount& h = hours[at - 1];
  if (h.requests < UINT32_MAX) ++h.requests;
  uint64_t sum = h.completion_tokens + static_cast<uint64_t>(std::max<int64_t>(0, completion));
  h.completion_tokens = static_cast<uint32_t>(std::min<uint64_t>(sum, UINT32_MAX));
}

}  // namespace

Shard::Shard(SharedState& s, FindingSink& sink, size_t index)
    : shared(s),
      rules(s.rules),
      options(s.options),
      population(s.population_view),
      sink(sink),
      index(index),
      pools_only(static_cast<bool>(s.options.clusters_at)) {
  for (const ThresholdRule& t : rules.thresholds) {
    if (pools_only) break;  // the members count them
    thresholds.emplace_back(t);
    if (!options.explain_key.empty()) thresholds.back().watch(options.explain_key);
  }
}

uint64_t Shard::route(const Event& ev) {
  uint64_t shards = 0;
  for (const ThresholdTracker& t : thresholds) {
    if (!t.rule().filter.matches(ev)) continue;
    std::string_view key = account_key(ev, t.rule().group_by, scratch);
    if (!key.empty()) shards |= uint64_t{1} << shared.owner(key);
  }
  std::string_view key = account_key(ev, options.group_by, scratch);
  if (const KeyCluster* c = shared.cluster_of_key(key))
    shards |= uint64_t{1} << shared.owner(c->key);
  return shards | (uint64_t{1} << (key.empty() ? 0 : shared.owner(key)));
}

void Shard::on_event(const Event& ev, uint64_t seq) {
  int64_t ts = ev.timestamp_ns;
  order.seq = seq;
  // The account first (a new one is only created here, nothing judged): a threshold rule that
  // fires on a key's first event then counts towards that account's risk.
  std::string_view key = account_key(ev, options.group_by, account_scratch);
  Account* account = nullptr;
  if (!key.empty() && shared.owner(key) == index && !pools_only) {
    account = &open_account(key, ts, false);
    // Each event once, by its account's shard: the earliest time of a model not yet known.
    if (rules.release_chasing.enabled && !ev.model.empty()) {
      uint64_t model = hash_bytes(ev.model);
      if (!shared.releases.known(model) &&
          (models_noted.size() < ModelReleases::max_models || models_noted.count(model) != 0))
        note_model(models_noted, model, ts);
    }
  }
  order.phase = 1;
  for (size_t r = 0; r < thresholds.size(); ++r) {
    ThresholdTracker& t = thresholds[r];
    if (!t.rule().filter.matches(ev)) continue;
    std::string_view rule_key = account_key(ev, t.rule().group_by, scratch);
    if (rule_key.empty() || shared.owner(rule_key) != index) continue;
    order.rule = static_cast<uint32_t>(r);
    if (auto value = t.add(ev, rule_key)) fire_threshold(t.rule(), rule_key, *value, ev);
  }

  if (key.empty()) {
    if (index == 0) ++stats.events_without_account;
    return;
  }
  order.rule = 0;
  if (account) {
    order.phase = 2;
    account_event(*account, ev);
  }
  if (const KeyCluster* c = shared.cluster_of_key(key); c && shared.owner(c->key) == index) {
    order.phase = 3;
    Account& pooled = open_account(c->key, ts, true);
    pooled.cluster = c->id;
    pooled.members = c->members.size();
    account_event(pooled, ev, hash_bytes(key));
  }
}

Account& Shard::open_account(std::string_view key, int64_t ts, bool pooled) {
  auto [a, added] = table(pooled).try_emplace(key);
  if (!added) return *a;
  a->key = std::string(key);
  a->pooled = pooled;
  a->first_seen_ns = a->last_seen_ns = ts;
  a->window.clear(ts, window_ns());
  a->states.resize(shared.detectors.size());
  if (pooled) return *a;
  bool seen = false;                // in this run already: counted once
  if (!shared.forgotten.empty()) {  // back after it was forgotten: dormant, not new
    uint64_t h = hash_bytes(key);
    a->active_before_ns = shared.forgotten.last_seen(h);
    if (a->active_before_ns != 0) returned.push_back(h);
    seen = a->active_before_ns != 0 && a->active_before_ns >= shared.run_start_ns;
  }
  a->counted_in_run = seen;  // counted at its first event judged
  return *a;
}

void Shard::account_event(Account& a, const Event& ev, uint64_t member) {
  int64_t ts = ev.timestamp_ns;
  if (ts < a.window.start_ns && a.last_seen_ns - ts > rules.settings.max_skew_ns) {
    if (!a.pooled) ++stats.late_events;  // too late to change a window that is already judged
    return;
  }
  if (a.window.requests > 0 && ts >= a.window.start_ns + window_ns()) close_window(a);
  if (a.window.requests == 0) {
    a.window.restart(ts);
    prune_recent(a);
  }
  add_to_window(a, ev, member);
  a.first_seen_ns = std::min(a.first_seen_ns, ts);
  a.last_seen_ns = std::max(a.last_seen_ns, ts);
  auto prompt = static_cast<uint64_t>(std::max<int64_t>(0, ev.prompt_tokens.value_or(0)));
  auto completion = static_cast<uint64_t>(std::max<int64_t>(0, ev.completion_tokens.value_or(0)));
  ++a.requests;
  a.prompt_tokens += prompt;
  a.completion_tokens += completion;
  // This run's part: an account loaded from a --state counts in this run from its first event.
  if (a.run_requests++ == 0) a.run_first_seen_ns = a.run_last_seen_ns = ts;
  a.run_first_seen_ns = std::min(a.run_first_seen_ns, ts);
  a.run_last_seen_ns = std::max(a.run_last_seen_ns, ts);
  a.run_prompt_tokens += prompt;
  a.run_completion_tokens += completion;
  if (!a.counted_in_run) {
    a.counted_in_run = true;
    if (!a.pooled) ++stats.accounts_seen;  // a cluster's pooled account is not a key
  }
  if (!ev.org.empty() && !a.pooled && a.org != ev.org) a.org = std::string(ev.org);
  add_hourly(a.hourly, ts, ev.completion_tokens.value_or(0));
  // Judge once per minute of an account's traffic, and again when its window closes.
  int64_t minute = ts / ns_per_minute;
  if (minute != a.last_evaluated_minute) {
    a.last_evaluated_minute = minute;
    // The day, the history and the parts of a key change slowly, and judging them is most of
    // a judgement's cost: at most every long_horizon_every, and when the window closes.
    int64_t every = rules.settings.long_horizon_every_ns / ns_per_minute;
    a.judge_long = a.long_judged_minute < 0 || minute - a.long_judged_minute >= every;
    if (a.judge_long) a.long_judged_minute = minute;
    evaluate(a, ts);
  }
}

void Shard::add_to_window(Account& a, const Event& ev, uint64_t member) {
  WindowStats& w = a.window;
  int64_t ts = ev.timestamp_ns;
  w.last_ns = std::max(w.last_ns, ts);
  ++w.requests;
  if (rules.clusters.enabled && !a.pooled) a.links.observe(ev, link_scratch);
  int64_t completion = ev.completion_tokens.value_or(0);
  w.prompt_tokens += static_cast<uint64_t>(std::max<int64_t>(0, ev.prompt_tokens.value_or(0)));
  w.completion_tokens += static_cast<uint64_t>(std::max<int64_t>(0, completion));
  if (ev.completion_tokens) w.completion.add(static_cast<double>(std::max<int64_t>(0, completion)));
  int64_t slice = (ts - w.start_ns) / w.slice_ns;
  if (slice >= 0 && slice < 60) w.slices.set(static_cast<size_t>(slice));
  if (w.requests > 1 && ts >= w.last_gap_ns) {
    double gap = static_cast<double>(ts - w.last_gap_ns) / 1e9;
    ++w.gaps;
    double delta = gap - w.gap_mean;
    w.gap_mean += delta / static_cast<double>(w.gaps);
    w.gap_m2 += delta * (gap - w.gap_mean);
  }
  w.last_gap_ns = std::max(w.last_gap_ns, ts);
  a.hours_of_day.set(static_cast<size_t>((ts / ns_per_hour) % 24));
  if (ev.status) {
    int64_t st = *ev.status;
    if (st == 429)
      ++w.throttled;
    else if (st >= 400 && st < 500)
      ++w.client_errors;
    else if (st >= 500)
      ++w.server_errors;
  }
  // APIs take 0 to 2; past 10 (or negative) it is a log's error, not a setting.
  if (ev.params.temperature && *ev.params.temperature >= 0 && *ev.params.temperature <= 10) {
    w.min_temperature = std::min(w.min_temperature, *ev.params.temperature);
    w.max_temperature = std::max(w.max_temperature, *ev.params.temperature);
  }
  if (ev.turns) {
    ++w.turns_known;
    if (*ev.turns <= 1) ++w.single_turn;
  }
  const RequestParams& p = ev.params;
  bool logprobs = p.logprobs.value_or(false);
  if (logprobs || p.n.value_or(1) > 1 || p.best_of.value_or(1) > 1) ++w.sampling;

  std::string_view last_user;
  for (const PromptPart& part : ev.prompt)
    if (part.role == PromptRole::user) last_user = part.text;
  if (last_user.empty() && !ev.prompt.empty()) last_user = ev.prompt.back().text;
  // Prompt text is analysed past the analysis_gate-th request of a window (the text
  // detectors need tens of prompts to say anything, and most accounts never get there), and
  // past the first text_full_analysis of a window only every text_sample_every-th: the shares
  // the detectors use are estimated as well from a steady sample, and the busiest accounts
  // cost a fraction.
  const Settings& settings = rules.settings;
  bool analyse =
      !last_user.empty() &&
      w.requests + static_cast<uint64_t>(a.recent_pool.requests) > shared.analysis_gate &&
      (w.text_requests < settings.text_full_analysis ||
       w.requests % settings.text_sample_every == 0);
  uint64_t prompt_hash = analyse ? hash_bytes(last_user) : 0;
  PromptStyle style{};
  bool with_system = false;
  if (!ev.end_user.empty()) w.end_users.add(hash_bytes(ev.end_user));
  if (analyse) {
    ++w.text_requests;
    for (const PromptPart& part : ev.prompt)
      if (part.role == PromptRole::system) {
        ++w.with_system;
        with_system = true;
        break;
      }
    w.prompts.add(prompt_hash);
    style = classify_prompt(last_user);
    if (style.instruction || style.benchmark) ++w.instruction;
    if (style.chain_of_thought) ++w.chain_of_thought;
  }

  if (ev.completion_tokens) {
    // Measured against what was asked: the last user message (4 bytes a token) when the log
    // has it, else the whole prompt's tokens.
    double asked = !last_user.empty() ? static_cast<double>(last_user.size()) / 4
                                      : static_cast<double>(ev.prompt_tokens.value_or(0));
    if (asked > 0) w.lengths.add(asked, static_cast<double>(std::max<int64_t>(0, completion)));
    if (completion >= static_cast<int64_t>(settings.min_answer_tokens) &&
        static_cast<double>(completion) >= settings.answer_input_ratio * asked)
      ++w.product_answers;
  }

  size_t slot = w.samples++ % w.sample_ids.size();
  w.sample_ids[slot].assign(ev.request_id);  // reuses the string's buffer
  if (options.include_prompts && !last_user.empty())
    w.sample_prompts[slot].assign(last_user.substr(0, 300));

  Observation seen{ev,    last_user,   analyse,          prompt_hash,
                   style, with_system, &detector_counts, member};
  for (size_t d = 0; d < shared.detectors.size(); ++d)
    if (shared.detectors[d]->enabled() && (!a.pooled || shared.detectors[d]->judges_pooled()))
      shared.detectors[d]->observe(a.states[d], a, seen);
}

void Shard::evaluate(Account& a, int64_t now) {
  for (size_t d = 0; d < shared.detectors.size(); ++d) {
    const Detector& detector = *shared.detectors[d];
    if (!detector.enabled() || (a.pooled && !detector.judges_pooled())) continue;
    Verdict v = detector.judge(a.states[d].get(), a);
    // The bonus before the bars: calibrate learnt them on the score with it.
    if (v.fired && a.pooled) coordinate(a, v);
    consider(a, detector.name(), on_scale(detector, std::move(v)), now);
  }
}

void Shard::close_window(Account& a) {
  if (a.window.requests > 0) {
    a.judge_long = true;
    evaluate(a, a.window.last_ns);
    if (options.explain && a.key == options.explain_key) explain(a);
    if (!a.pooled) {  // the population is of keys' windows
      population_added.add(static_cast<double>(a.window.completion_tokens));
      if (population.windows < rules.volume_spike.min_population_windows)
        closed_at.push_back(a.window.last_ns);
    }
    for (size_t d = 0; d < shared.detectors.size(); ++d)
      if (shared.detectors[d]->enabled() && (!a.pooled || shared.detectors[d]->judges_pooled()))
        shared.detectors[d]->close_window(a.states[d], a);
    a.recent.push_back(window_evidence(a));
    a.history.add(a.recent.back(), window_ns(), rules.settings.history_half_life_ns);
    a.recent_pool.add(a.recent.back());
    a.active_before_ns = std::max(a.active_before_ns, a.window.last_ns);
  }
  a.window.clear(a.window.start_ns + window_ns(), window_ns());
  prune_recent(a);
}

void Shard::prune_recent(Account& a) {
  // The day horizon holds the windows that started within a day of the current one's start.
  int64_t since = a.window.start_ns - rules.settings.day_ns;
  auto kept = std::find_if(a.recent.begin(), a.recent.end(),
                           [&](const WindowEvidence& e) { return e.start_ns > since; });
  if (kept == a.recent.begin()) return;
  a.recent.erase(a.recent.begin(), kept);
  a.recent_pool = PooledEvidence{};
  for (const WindowEvidence& e : a.recent) a.recent_pool.add(e);
}

void Shard::upkeep(int64_t watermark, uint64_t seq) {
  int64_t settled = watermark - rules.settings.max_skew_ns;
  // Closing may fire findings: in key order, so the output does not depend on the hash map's
  // layout (which differs after a state is loaded) nor on the number of shards.
  // (A cluster's pooled account after a key of the same name.)
  std::vector<Account*> due;
  for (StringTable<Account>* t : {&accounts, &pools})
    for (auto& [k, a] : *t)
      if (a.window.requests > 0 && a.window.start_ns + window_ns() <= settled) due.push_back(&a);
  std::sort(due.begin(), due.end(), [](Account* x, Account* y) {
    return std::tie(x->key, x->pooled) < std::tie(y->key, y->pooled);
  });
  order.seq = seq;
  order.phase = 0;
  order.rule = 0;
  for (Account* a : due) {
    if (!direct) order.key = a->key;
    close_window(*a);
  }
  order.key.clear();
  accounts.erase_if([&](const std::string& key, const Account& a) {
    if (a.last_seen_ns >= watermark - rules.settings.idle_expiry_ns) return false;
    retire(a);
    forgotten_now.push_back({hash_bytes(key), a.last_seen_ns});
    ++stats.accounts_expired;
    return true;
  });
  pools.erase_if([&](const std::string&, const Account& a) {
    if (a.last_seen_ns >= watermark - rules.settings.idle_expiry_ns) return false;
    retire(a);  // a cluster's: not a key to remember, nor counted as one
    return true;
  });
  for (ThresholdTracker& t : thresholds) t.expire(watermark);
  threshold_fired.erase_if([&](const std::string&, const RuleFiring& f) {
    return f.last_fired_ns < watermark - rules.settings.cooldown_ns;
  });
}

}  // namespace exfilscan::detail
