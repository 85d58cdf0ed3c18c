/// When verdicts become findings (episodes: cooldown, escalation; the allow-list) and what they
/// add up to (an account's risk, its summary, the ranking's order).

#include "engine/engine_shard.h"

#include <fmt/format.h>

#include <algorithm>

namespace exfilscan::detail {

namespace {

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

}  // namespace

bool ranks_above(const AccountSummary& a, const AccountSummary& b) {
  if (a.risk != b.risk) return a.risk > b.risk;
  // Over the runs a --state carries: chained runs rank (and drop summaries) as one run does.
  if (a.total_completion_tokens != b.total_completion_tokens)
    return a.total_completion_tokens > b.total_completion_tokens;
  return a.key < b.key;
}

bool Shard::should_fire(RuleFiring& f, double score, int64_t now) {
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

void Shard::coordinate(const Account& a, Verdict& v) const {
  const KeyCluster* c = shared.cluster_by(a.cluster);
  if (!c || c->links.keys == 0) return;
  const ClusterRule& r = rules.clusters;
  const LinkCounts& l = c->links;
  // Mostly keys that were there before, keys that came one a wave (new, but not together), or
  // keys new together that share nothing else: no sign of one operator making them.
  if (2 * l.in_waves < l.keys || l.in_waves < 2 * l.waves || !l.one_setup) return;
  double part = std::min(
      1.0, static_cast<double>(l.in_waves) / static_cast<double>(r.coordination_full_keys));
  double bonus = r.coordination_bonus * part;
  if (bonus <= 0) return;
  v.score = std::min(1.0, v.score + bonus);
  v.metrics.push_back({"keys_made_together", static_cast<double>(l.in_waves)});
  v.metrics.push_back({"coordination_bonus", bonus});
  v.reason +=
      fmt::format("; across {} keys first seen in {}", l.in_waves,
                  l.waves == 1 ? std::string("one wave") : fmt::format("{} waves", l.waves));
}

void Shard::consider(Account& a, const char* rule, Verdict v, int64_t now) {
  if (!v.fired) return;
  auto f = std::find_if(a.fired.begin(), a.fired.end(), [&](auto& x) { return x.rule == rule; });
  if (f == a.fired.end()) f = a.fired.insert(a.fired.end(), RuleFiring{rule, 0, 0, 0});
  if (!v.medium_at_most) f->open_score = std::max(f->open_score, v.score);
  if (!should_fire(*f, v.score, now)) return;
  Finding out;
  out.rule = rule;
  out.score = v.score;
  out.severity = severity_of_score(v.score);
  out.key = a.key;
  out.key_kind = a.pooled ? "cluster" : std::string(to_string(options.group_by));
  if (const KeyCluster* c = a.cluster ? shared.cluster_by(a.cluster) : nullptr) {
    if (a.pooled) {
      size_t n = std::min<size_t>(c->members.size(), rules.clusters.max_listed_keys);
      out.keys.assign(c->members.begin(), c->members.begin() + static_cast<std::ptrdiff_t>(n));
      out.cluster_keys = c->members.size();
      out.links = c->links.describe();
    } else {
      out.cluster = c->key;
    }
  } else if (a.cluster && !a.pooled) {
    out.cluster = cluster_key(a.cluster);
  }
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

void Shard::fire_threshold(const ThresholdRule& rule, std::string_view key, double value,
                           const Event& ev) {
  std::string id = rule.id + '\x1f' + std::string(key);
  RuleFiring& f = threshold_fired[id];
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
  out.metrics = {{rule.aggregate == Aggregate::count
                      ? "count"
                      : fmt::format("{}({})", rule.aggregate == Aggregate::sum ? "sum" : "distinct",
                                    rule.field),
                  value},
                 {"limit", rule.limit}};
  // "3+ models in an hour: distinct(model) is 3 (limit 2)": a description says its span itself;
  // without one, "count > 500 in 10m: count is 731".
  const std::string& measured = out.metrics[0].name;
  out.reason = rule.description.empty()
                   ? fmt::format("{} in {}: {} is {:.0f}", rule.condition,
                                 format_duration(rule.window_ns), measured, value)
                   : fmt::format("{}: {} is {:.0f} (limit {})", rule.description, measured, value,
                                 rule.limit);
  if (!ev.request_id.empty()) out.sample_request_ids.push_back(std::string(ev.request_id));
  const AllowList& allow = rules.allow;
  out.suppressed = (rule.group_by == GroupBy::api_key &&
                    std::find(allow.keys.begin(), allow.keys.end(), out.key) != allow.keys.end()) ||
                   (rule.group_by == GroupBy::org &&
                    std::find(allow.orgs.begin(), allow.orgs.end(), out.key) != allow.orgs.end());
  // Threshold findings about the engine's own accounts count towards their risk.
  if (rule.group_by == options.group_by) {
    if (Account* a = accounts.find(out.key)) {
      auto fr = std::find_if(a->fired.begin(), a->fired.end(),
                             [&](auto& x) { return x.rule == rule.id; });
      if (fr == a->fired.end())
        a->fired.push_back(RuleFiring{rule.id, score, ev.timestamp_ns, score});
      if (out.suppressed) ++a->suppressed;
    }
  }
  out.account_risk = score;
  if (rule.group_by == options.group_by) {
    if (const Account* a = accounts.find(out.key)) out.account_risk = risk_of(*a);
  }
  emit(out);
}

double Shard::risk_of(const Account& a) const {
  std::vector<double> scores;
  for (const RuleFiring& f : a.fired) scores.push_back(f.score);
  return combined_risk(scores);
}

void Shard::emit(const Finding& f) {
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

AccountSummary Shard::summarize(const Account& a) const {
  AccountSummary s;
  s.key = a.key;
  s.key_kind = a.pooled ? "cluster" : std::string(to_string(options.group_by));
  if (a.cluster && !a.pooled) s.cluster = cluster_key(a.cluster), s.cluster_risk = a.cluster_risk;
  if (a.pooled) s.cluster_keys = a.members;
  s.requests = a.run_requests;
  s.prompt_tokens = a.run_prompt_tokens;
  s.completion_tokens = a.run_completion_tokens;
  s.first_seen_ns = a.run_first_seen_ns;
  s.last_seen_ns = a.run_last_seen_ns;
  s.total_requests = a.requests;
  s.total_prompt_tokens = a.prompt_tokens;
  s.total_completion_tokens = a.completion_tokens;
  s.total_first_seen_ns = a.first_seen_ns;
  s.total_last_seen_ns = a.last_seen_ns;
  s.suppressed_findings = a.suppressed;
  double best = -1;
  for (const RuleFiring& f : a.fired) {
    s.rules.push_back(f.rule);
    s.rule_scores.push_back({f.rule, f.open_score, f.score});
    if (f.score > best) best = f.score, s.top_rule = f.rule;
  }
  s.risk = s.own_risk = risk_of(a);
  s.severity = s.rules.empty() ? Severity::info : severity_of_score(s.risk);
  if (s.severity >= Severity::medium) s.hourly = a.hourly;
  return s;
}

void Shard::retire(const Account& a) {
  // A cluster's member is kept too: its cluster may rank it.
  if (!a.fired.empty() || (a.cluster && !a.pooled))
    (a.pooled ? retired_pools : retired)[a.key] = summarize(a);
}

}  // namespace exfilscan::detail
