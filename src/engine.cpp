#include <exfilscan/engine.h>
#include <exfilscan/hash.h>

#include "account_state.h"
#include "detectors.h"
#include "forgotten_keys.h"
#include "string_table.h"
#include "threshold.h"
#include "worker_pool.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_map>

namespace exfilscan {

using detail::Account;
using detail::Verdict;

namespace {

constexpr size_t max_probe_prompts = 256;  // prompts tracked for logit probing per window
constexpr int64_t max_clock_jump = 30 * ns_per_day;
constexpr size_t max_shards = 64;
// Fewer events (a small file's) are judged shard after shard on the calling thread: waking the
// others costs more. Each shard still has one writer at a time, so nothing else changes.
constexpr size_t parallel_min_events = 16;

double severity_score(Severity s) {
  static const double scores[] = {0.2, 0.4, 0.6, 0.8, 0.95};
  return scores[static_cast<size_t>(s)];
}

/// The strongest rule sets the risk; a second, independent one adds half of its weight in what
/// is left, so two medium signals can make a high, and one signal never exceeds its own cap.
double combined_risk(std::vector<double> scores) {
  std::sort(scores.rbegin(), scores.rend());
  if (scores.empty()) return 0;
  double risk = scores[0];
  if (scores.size() > 1) risk += (1 - risk) * 0.5 * scores[1];
  return std::min(risk, 1.0);
}

/// The ranking's order: risk, then completion tokens, then key (a total order).
bool ranks_above(const AccountSummary& a, const AccountSummary& b) {
  if (a.risk != b.risk) return a.risk > b.risk;
  if (a.completion_tokens != b.completion_tokens) return a.completion_tokens > b.completion_tokens;
  return a.key < b.key;
}

/// Where a finding falls in the order one shard alone would have emitted it: by event, then
/// the hourly upkeep before the event's own rules, threshold rules in their order, the account's
/// detectors last; upkeep closes windows in key order. `n` keeps one shard's own order.
struct FindingOrder {
  uint64_t seq = 0;    // the event
  uint32_t phase = 0;  // 0 upkeep, 1 threshold rule, 2 the account's detectors
  uint32_t rule = 0;   // threshold rule index
  std::string key;     // upkeep: the account whose window closed
  uint64_t n = 0;
  bool operator<(const FindingOrder& o) const {
    if (seq != o.seq) return seq < o.seq;
    if (phase != o.phase) return phase < o.phase;
    if (rule != o.rule) return rule < o.rule;
    if (key != o.key) return key < o.key;
    return n < o.n;
  }
};

}  // namespace

/// What every shard reads and only the upkeep between jobs writes.
struct SharedState {
  RuleSet rules;
  EngineOptions options;
  uint64_t analysis_gate = 0;  // requests in a window before its prompts are analysed
  /// Completion tokens per account-window, as of the last hourly upkeep: windows closed since
  /// then count from the next one, so a verdict never depends on which shard closed first.
  detail::LogHistogram population;
  int64_t population_since = INT64_MAX;    // when it had min_population_windows of them
  detail::PopulationView population_view;  // its quantiles, taken at each upkeep
  detail::ForgottenKeys forgotten;         // keys expired or evicted, until they come back
  void population_changed() {
    population_view.update(population, rules.volume_spike, population_since);
  }
  size_t shards = 1;
  /// The shard a key belongs to. It is asked of every event's keys (by each shard, or once when
  /// routing), so it reads only the key's first and last eight bytes and its length: ids differ
  /// there (counters, UUIDs, hashes). Keys that differ only in the middle all land on one
  /// shard: slower, never wrong.
  size_t owner(std::string_view key) const {
    if (shards == 1) return 0;
    uint64_t head = 0, tail = 0;
    if (key.size() >= 8) {
      std::memcpy(&head, key.data(), 8);
      std::memcpy(&tail, key.data() + key.size() - 8, 8);
    } else {
      for (size_t i = 0; i < key.size(); ++i)
        head |= uint64_t{static_cast<unsigned char>(key[i])} << (8 * i);
      tail = head;
    }
    uint64_t h = mix64(head ^ (tail * 0x9E3779B97F4A7C15ULL) ^ (key.size() << 56));
    // The top 32 bits scaled to [0, shards): a multiply, where % divided (every shard asks this
    // of every event's keys).
    return static_cast<size_t>(((h >> 32) * shards) >> 32);
  }
};

/// The accounts, threshold keys and firings whose keys hash to one shard: one writer each, no
/// locks. With one shard this is the whole engine.
struct Shard {
  Shard(SharedState& s, FindingSink& sink, size_t index)
      : shared(s),
        rules(s.rules),
        options(s.options),
        population(s.population_view),
        sink(sink),
        index(index) {
    for (const ThresholdRule& t : rules.thresholds) {
      thresholds.emplace_back(t);
      if (!options.explain_key.empty()) thresholds.back().watch(options.explain_key);
    }
  }

  SharedState& shared;
  const RuleSet& rules;
  const EngineOptions& options;
  const detail::PopulationView& population;
  FindingSink& sink;
  size_t index;
  detail::StringTable<Account> accounts;
  std::vector<detail::ThresholdTracker> thresholds;
  /// Firing state of threshold rules, per (rule, key): their keys are not the engine's accounts.
  detail::StringTable<detail::RuleFiring> threshold_fired;
  /// Summaries of flagged accounts that were expired or evicted, so the ranking keeps them.
  std::unordered_map<std::string, AccountSummary> retired;
  detail::LogHistogram population_added;  // windows closed since the last upkeep
  /// While the population has fewer than min_population_windows windows: when each of those
  /// closed (the last of them says since when it is usable, whichever shard closed it).
  std::vector<int64_t> closed_at;
  /// For the forgotten keys, at the next upkeep: those that came back, those just forgotten.
  std::vector<uint64_t> returned;
  std::vector<detail::ForgottenKeys::Entry> forgotten_now;
  EngineStats stats;
  std::string scratch;
  std::string account_scratch;  // the account's key, while `scratch` serves the rules' keys
  /// With more than one shard, findings wait here for the ordered merge.
  bool direct = true;
  FindingOrder order;
  std::vector<std::pair<FindingOrder, Finding>> pending;

  int64_t window_ns() const { return rules.settings.window_ns; }

  /// The shards that need the event (bit s for shard s): its account's, and each threshold
  /// rule's whose filter it passes. Shard 0 also counts events without an account.
  uint64_t route(const Event& ev) {
    uint64_t shards = 0;
    for (const detail::ThresholdTracker& t : thresholds) {
      if (!t.rule().filter.matches(ev)) continue;
      std::string_view key = account_key(ev, t.rule().group_by, scratch);
      if (!key.empty()) shards |= uint64_t{1} << shared.owner(key);
    }
    std::string_view key = account_key(ev, options.group_by, scratch);
    return shards | (uint64_t{1} << (key.empty() ? 0 : shared.owner(key)));
  }

  /// The event's threshold rules and account, where their keys belong to this shard.
  void on_event(const Event& ev, uint64_t seq) {
    int64_t ts = ev.timestamp_ns;
    order.seq = seq;
    // The account first (a new one is only created here, nothing judged): a threshold rule that
    // fires on a key's first event then counts towards that account's risk.
    std::string_view key = account_key(ev, options.group_by, account_scratch);
    Account* account = nullptr;
    if (!key.empty() && shared.owner(key) == index) {
      auto [found, added] = accounts.try_emplace(key);
      account = found;
      if (added) {
        account->key = std::string(key);
        account->first_seen_ns = account->last_seen_ns = ts;
        account->window.clear(ts, window_ns());
        ++stats.accounts_seen;
        if (!shared.forgotten.empty()) {  // back after it was forgotten: dormant, not new
          uint64_t h = hash_bytes(key);
          account->active_before_ns = shared.forgotten.last_seen(h);
          if (account->active_before_ns != 0) returned.push_back(h);
        }
      }
    }
    order.phase = 1;
    for (size_t r = 0; r < thresholds.size(); ++r) {
      detail::ThresholdTracker& t = thresholds[r];
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
    if (!account) return;
    order.phase = 2;
    order.rule = 0;
    Account& a = *account;
    if (ts < a.window.start_ns && a.last_seen_ns - ts > rules.settings.max_skew_ns) {
      ++stats.late_events;  // too late to change a window that is already judged
      return;
    }
    if (a.window.requests > 0 && ts >= a.window.start_ns + window_ns()) close_window(a);
    if (a.window.requests == 0) a.window.restart(ts);
    add_to_window(a, ev);
    a.first_seen_ns = std::min(a.first_seen_ns, ts);
    a.last_seen_ns = std::max(a.last_seen_ns, ts);
    ++a.requests;
    a.prompt_tokens += static_cast<uint64_t>(std::max<int64_t>(0, ev.prompt_tokens.value_or(0)));
    a.completion_tokens +=
        static_cast<uint64_t>(std::max<int64_t>(0, ev.completion_tokens.value_or(0)));
    if (!ev.org.empty() && a.org != ev.org) a.org = std::string(ev.org);
    // Judge once per minute of an account's traffic, and again when its window closes.
    int64_t minute = ts / ns_per_minute;
    if (minute != a.last_evaluated_minute) {
      a.last_evaluated_minute = minute;
      evaluate(a, ts);
    }
  }

  void add_to_window(Account& a, const Event& ev) {
    detail::WindowStats& w = a.window;
    int64_t ts = ev.timestamp_ns;
    w.last_ns = std::max(w.last_ns, ts);
    ++w.requests;
    int64_t completion = ev.completion_tokens.value_or(0);
    w.prompt_tokens += static_cast<uint64_t>(std::max<int64_t>(0, ev.prompt_tokens.value_or(0)));
    w.completion_tokens += static_cast<uint64_t>(std::max<int64_t>(0, completion));
    if (ev.completion_tokens)
      w.completion.add(static_cast<double>(std::max<int64_t>(0, completion)));
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
    if (ev.params.temperature) {
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
    bool biased = p.logit_bias_entries.value_or(0) > 0;
    // Prompt text is analysed past the analysis_gate-th request of a window (the text
    // detectors need tens of prompts to say anything, and most accounts never get there), and
    // past the first text_full_analysis of a window only every text_sample_every-th: the shares
    // the detectors use are estimated as well from a steady sample, and the busiest accounts
    // cost a fraction.
    const Settings& settings = rules.settings;
    bool analyse = !last_user.empty() && w.requests > shared.analysis_gate &&
                   (w.text_requests < settings.text_full_analysis ||
                    w.requests % settings.text_sample_every == 0);
    uint64_t prompt_hash = 0;
    if (analyse || biased) {
      prompt_hash =
          last_user.empty()
              // No text: the same prompt still has the same model and length.
              ? mix64(hash_bytes(ev.model) ^ static_cast<uint64_t>(ev.prompt_tokens.value_or(0)))
              : hash_bytes(last_user);
    }
    if (!ev.end_user.empty()) w.end_users.add(hash_bytes(ev.end_user));
    if (analyse) {
      ++w.text_requests;
      for (const PromptPart& part : ev.prompt)
        if (part.role == PromptRole::system) {
          ++w.with_system;
          break;
        }
      w.prompts.add(prompt_hash);
      PromptStyle style = classify_prompt(last_user);
      if (style.instruction || style.benchmark) ++w.instruction;
      if (style.chain_of_thought) ++w.chain_of_thought;
      if (!a.miner) a.miner = std::make_unique<TemplateMiner>();
      a.miner->add(last_user, prompt_hash);  // prompt_hash is hash_bytes(last_user) here
    }

    int64_t tiny = rules.logit_probe.max_completion_tokens;
    bool tiny_answer =
        ev.completion_tokens ? completion <= tiny : p.max_tokens.value_or(tiny + 1) <= tiny;
    if ((biased || (p.echo.value_or(false) && logprobs)) && tiny_answer) ++w.probe_requests;
    if (biased && tiny_answer) {
      auto b = w.biases_by_prompt.find(prompt_hash);
      if (b != w.biases_by_prompt.end())
        b->second.add(p.logit_bias_hash);
      else if (w.biases_by_prompt.size() < max_probe_prompts)
        w.biases_by_prompt[prompt_hash].add(p.logit_bias_hash);
    }

    size_t slot = w.samples++ % w.sample_ids.size();
    w.sample_ids[slot].assign(ev.request_id);  // reuses the string's buffer
    if (options.include_prompts && !last_user.empty())
      w.sample_prompts[slot].assign(last_user.substr(0, 300));
  }

  void evaluate(Account& a, int64_t now) {
    if (rules.volume_spike.enabled)
      consider(a, "volume_spike", detail::evaluate_volume_spike(rules.volume_spike, a, population),
               now);
    if (rules.prompt_templating.enabled)
      consider(a, "prompt_templating", detail::evaluate_templating(rules.prompt_templating, a),
               now);
    if (rules.distillation_sweep.enabled)
      consider(a, "distillation_sweep", detail::evaluate_sweep(rules.distillation_sweep, a), now);
    if (rules.logit_probe.enabled)
      consider(a, "logit_probe", detail::evaluate_logit_probe(rules.logit_probe, a), now);
  }

  /// Fires once per episode: again only after `cooldown` without a positive verdict, or when
  /// the severity rises within the episode.
  bool should_fire(detail::RuleFiring& f, double score, int64_t now) {
    bool fresh = f.last_fired_ns == 0 || now - f.last_fired_ns >= rules.settings.cooldown_ns;
    if (fresh) f.episode_score = 0;
    bool escalated = severity_of_score(score) > severity_of_score(f.episode_score);
    f.last_fired_ns = now;
    // The account's risk follows the strongest verdict, reported or not.
    f.score = std::max(f.score, score);
    if (!fresh && !escalated) return false;
    f.episode_score = std::max(f.episode_score, score);
    return true;
  }

  void consider(Account& a, const char* rule, Verdict v, int64_t now) {
    if (!v.fired) return;
    auto f = std::find_if(a.fired.begin(), a.fired.end(), [&](auto& x) { return x.rule == rule; });
    if (f == a.fired.end()) f = a.fired.insert(a.fired.end(), detail::RuleFiring{rule, 0, 0, 0});
    if (!should_fire(*f, v.score, now)) return;
    Finding out;
    out.rule = rule;
    out.score = v.score;
    out.severity = severity_of_score(v.score);
    out.key = a.key;
    out.key_kind = std::string(to_string(options.group_by));
    out.first_seen_ns = a.first_seen_ns;
    out.last_seen_ns = a.last_seen_ns;
    out.detected_at_ns = now;
    out.window_start_ns = a.window.start_ns;
    out.metrics = v.metrics.to_vector();
    out.reason = std::move(v.reason);
    out.template_text = std::move(v.template_text);
    for (size_t i = 0; i < std::min(a.window.samples, a.window.sample_ids.size()); ++i) {
      if (!a.window.sample_ids[i].empty()) out.sample_request_ids.push_back(a.window.sample_ids[i]);
      if (options.include_prompts && !a.window.sample_prompts[i].empty())
        out.sample_prompts.push_back(a.window.sample_prompts[i]);
    }
    const AllowList& allow = rules.allow;
    auto listed = [](const std::vector<std::string>& v, std::string_view x) {
      return !x.empty() && std::find(v.begin(), v.end(), x) != v.end();
    };
    out.suppressed = listed(allow.keys, a.key) || listed(allow.orgs, a.org) ||
                     listed(allow.templates, out.template_text);
    out.account_risk = risk_of(a);
    emit(out);
    if (out.suppressed) ++a.suppressed;
  }

  void fire_threshold(const ThresholdRule& rule, std::string_view key, double value,
                      const Event& ev) {
    std::string id = rule.id + '\x1f' + std::string(key);
    detail::RuleFiring& f = threshold_fired[id];
    double score = severity_score(rule.severity);
    if (!should_fire(f, score, ev.timestamp_ns)) return;
    Finding out;
    out.rule = rule.id;
    out.severity = rule.severity;
    out.score = score;
    out.key = std::string(key);
    out.key_kind = std::string(to_string(rule.group_by));
    out.first_seen_ns = out.last_seen_ns = out.detected_at_ns = ev.timestamp_ns;
    out.window_start_ns = ev.timestamp_ns - rule.window_ns;
    out.metrics = {
        {rule.aggregate == Aggregate::count
             ? "count"
             : fmt::format("{}({})", rule.aggregate == Aggregate::sum ? "sum" : "distinct",
                           rule.field),
         value},
        {"limit", rule.limit}};
    out.reason = fmt::format(
        "{} in {} ({} is {:.0f})", rule.description.empty() ? rule.condition : rule.description,
        format_duration(rule.window_ns), rule.condition.substr(0, rule.condition.find('>')), value);
    if (!ev.request_id.empty()) out.sample_request_ids.push_back(std::string(ev.request_id));
    const AllowList& allow = rules.allow;
    out.suppressed =
        (rule.group_by == GroupBy::api_key &&
         std::find(allow.keys.begin(), allow.keys.end(), out.key) != allow.keys.end()) ||
        (rule.group_by == GroupBy::org &&
         std::find(allow.orgs.begin(), allow.orgs.end(), out.key) != allow.orgs.end());
    // Threshold findings about the engine's own accounts count towards their risk.
    if (rule.group_by == options.group_by) {
      if (Account* a = accounts.find(out.key)) {
        auto fr = std::find_if(a->fired.begin(), a->fired.end(),
                               [&](auto& x) { return x.rule == rule.id; });
        if (fr == a->fired.end())
          a->fired.push_back(detail::RuleFiring{rule.id, score, ev.timestamp_ns, score});
        if (out.suppressed) ++a->suppressed;
      }
    }
    out.account_risk = score;
    if (rule.group_by == options.group_by) {
      if (const Account* a = accounts.find(out.key)) out.account_risk = risk_of(*a);
    }
    emit(out);
  }

  double risk_of(const Account& a) const {
    std::vector<double> scores;
    for (const detail::RuleFiring& f : a.fired) scores.push_back(f.score);
    return combined_risk(scores);
  }

  void emit(const Finding& f) {
    if (f.suppressed) {
      ++stats.suppressed;
      return;
    }
    ++stats.findings;
    ++stats.by_severity[static_cast<size_t>(f.severity)];
    if (direct) {
      sink.on_finding(f);
    } else {
      pending.emplace_back(order, f);
      ++order.n;
    }
  }

  void explain(const Account& a) {
    auto report = [&](const char* name, bool enabled, Verdict v) {
      Explanation e;
      e.key = a.key;
      e.detector = name;
      e.enabled = enabled;
      e.window_start_ns = a.window.start_ns;
      e.window_end_ns = a.window.last_ns;
      e.fired = v.fired;
      e.score = v.score;
      e.metrics = v.metrics.to_vector();
      e.reason = std::move(v.reason);
      e.template_text = std::move(v.template_text);
      options.explain(e);
    };
    report("volume_spike", rules.volume_spike.enabled,
           detail::evaluate_volume_spike(rules.volume_spike, a, population));
    report("prompt_templating", rules.prompt_templating.enabled,
           detail::evaluate_templating(rules.prompt_templating, a));
    report("distillation_sweep", rules.distillation_sweep.enabled,
           detail::evaluate_sweep(rules.distillation_sweep, a));
    report("logit_probe", rules.logit_probe.enabled,
           detail::evaluate_logit_probe(rules.logit_probe, a));
  }

  /// The closing window joins the account's history, and the points no later window can look at
  /// leave it: memory per account stops growing once its history spans baseline_hours.
  void add_history(Account& a) {
    const detail::WindowStats& w = a.window;
    auto& h = a.history;
    size_t cap = rules.volume_spike.baseline_hours;
    // Growing by a quarter: most accounts' histories settle well below the cap, and doubling
    // left a third of the memory unused.
    if (h.size() == h.capacity())
      h.reserve(std::min(std::max<size_t>(8, h.size() + h.size() / 4), cap + 1));
    h.push_back({w.start_ns, detail::HistoryPoint::saturate(w.requests),
                 detail::HistoryPoint::saturate(w.completion_tokens)});
    // A later window starts at this one's end, or (an event up to max_skew late reopening it)
    // no earlier than max_skew before the latest event seen.
    int64_t next_start =
        std::min(w.start_ns + window_ns(), a.last_seen_ns - rules.settings.max_skew_ns);
    int64_t oldest_used = next_start - static_cast<int64_t>(cap) * ns_per_hour;
    auto used = std::find_if(h.begin(), h.end(), [&](const detail::HistoryPoint& p) {
      return p.start_ns >= oldest_used;
    });
    if (h.end() - used > static_cast<std::ptrdiff_t>(cap))
      used = h.end() - static_cast<std::ptrdiff_t>(cap);
    h.erase(h.begin(), used);
    a.baseline = detail::Baseline{};
  }

  void close_window(Account& a) {
    if (a.window.requests > 0) {
      evaluate(a, a.window.last_ns);
      if (options.explain && a.key == options.explain_key) explain(a);
      population_added.add(static_cast<double>(a.window.completion_tokens));
      if (population.windows < rules.volume_spike.min_population_windows)
        closed_at.push_back(a.window.last_ns);
      add_history(a);
      a.active_before_ns = std::max(a.active_before_ns, a.window.last_ns);
    }
    if (a.miner) {
      a.miner->reset_counts(a.window.start_ns);
      if (a.miner->empty()) a.miner.reset();  // no text analysed for a week
    }
    a.window.clear(a.window.start_ns + window_ns(), window_ns());
  }

  /// This shard's part of the hourly upkeep (before event `seq`): close windows no event will
  /// reopen, forget idle accounts and keys.
  void upkeep(int64_t watermark, uint64_t seq) {
    int64_t settled = watermark - rules.settings.max_skew_ns;
    // Closing may fire findings: in key order, so the output does not depend on the hash map's
    // layout (which differs after a state is loaded) nor on the number of shards.
    std::vector<Account*> due;
    for (auto& [k, a] : accounts)
      if (a.window.requests > 0 && a.window.start_ns + window_ns() <= settled) due.push_back(&a);
    std::sort(due.begin(), due.end(), [](Account* x, Account* y) { return x->key < y->key; });
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
    for (detail::ThresholdTracker& t : thresholds) t.expire(watermark);
    threshold_fired.erase_if([&](const std::string&, const detail::RuleFiring& f) {
      return f.last_fired_ns < watermark - rules.settings.cooldown_ns;
    });
  }

  AccountSummary summarize(const Account& a) const {
    AccountSummary s;
    s.key = a.key;
    s.key_kind = std::string(to_string(options.group_by));
    s.requests = a.requests;
    s.prompt_tokens = a.prompt_tokens;
    s.completion_tokens = a.completion_tokens;
    s.first_seen_ns = a.first_seen_ns;
    s.last_seen_ns = a.last_seen_ns;
    s.suppressed_findings = a.suppressed;
    double best = -1;
    for (const detail::RuleFiring& f : a.fired) {
      s.rules.push_back(f.rule);
      if (f.score > best) best = f.score, s.top_rule = f.rule;
    }
    s.risk = risk_of(a);
    s.severity = s.rules.empty() ? Severity::info : severity_of_score(s.risk);
    return s;
  }

  void retire(const Account& a) {
    if (!a.fired.empty()) retired[a.key] = summarize(a);
  }
};

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
