// explain's output. The bars a "no" missed are worked out here from the rules in force and the
// verdict's metrics, in the order each detector checks them (src/detectors/*.cpp).
#include <exfilscan/input/diagnostics.h>
#include <exfilscan/report/explain_report.h>
#include <exfilscan/report/json_writer.h>
#include <exfilscan/report/report.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>

namespace exfilscan {

namespace {

std::optional<double> metric(const std::vector<Metric>& metrics, std::string_view name) {
  for (const Metric& m : metrics)
    if (m.name == name) return m.value;
  return std::nullopt;
}

/// `name` is below `bar`: "completion_tokens 800 < 1200".
MissedBar below(std::string_view name, double value, double bar, std::string_view note = "") {
  MissedBar b{std::string(name), value, bar,
              fmt::format("{} {} < {}", name, format_number(value), format_number(bar))};
  if (!note.empty()) b.text += fmt::format(" ({})", note);
  return b;
}

/// A bar the metric passed the wrong way: at most `bar`.
MissedBar above(std::string_view name, double value, double bar, std::string_view note = "") {
  MissedBar b{std::string(name), value, bar,
              fmt::format("{} {} > {}", name, format_number(value), format_number(bar))};
  if (!note.empty()) b.text += fmt::format(" ({})", note);
  return b;
}

MissedBar volume_bar(const VolumeSpikeRule& r, const std::vector<Metric>& m) {
  double requests = metric(m, "requests").value_or(0);
  double completion = metric(m, "completion_tokens").value_or(0);
  if (requests < static_cast<double>(r.min_requests))
    return below("requests", requests, static_cast<double>(r.min_requests));
  if (completion < static_cast<double>(r.min_completion_tokens))
    return below("completion_tokens", completion, static_cast<double>(r.min_completion_tokens));
  if (auto ratio = metric(m, "ratio_to_bar"); ratio && *ratio > 0) {
    bool own = metric(m, "baseline_completion_tokens").has_value();
    return below(
        "completion_tokens", completion, completion / *ratio,
        own ? fmt::format("{}x its baseline, and the peers' p{:.0f}", format_number(r.ratio),
                          r.peer_quantile * 100)
            : fmt::format("{}x the p{:.0f} of all accounts, for a new or dormant one",
                          format_number(r.new_account_ratio), r.new_account_quantile * 100));
  }
  return {"", 0, 0,
          fmt::format("not judged: no baseline of its own yet (it takes {} hours) and fewer "
                      "than {} windows of all accounts to judge a new one against",
                      r.min_baseline_hours, r.min_population_windows)};
}

MissedBar templating_bar(const TemplatingRule& r, const std::vector<Metric>& m) {
  double prompts = metric(m, "prompts_analysed").value_or(0);
  double share = metric(m, "top_template_share").value_or(0);
  double fills = metric(m, "distinct_fills").value_or(0);
  if (prompts < static_cast<double>(r.min_requests))
    return below("prompts_analysed", prompts, static_cast<double>(r.min_requests));
  if (share < r.min_share)
    return below("top_template_share", share, r.min_share, share == 0 ? "no template found" : "");
  if (fills < r.min_distinct_fills)
    return below("distinct_fills", fills, r.min_distinct_fills, "the same few prompts again");
  return {};
}

MissedBar sweep_bar(const SweepRule& r, const std::vector<Metric>& m) {
  double requests = metric(m, "requests").value_or(0);
  double score = metric(m, "score").value_or(0);
  if (requests < static_cast<double>(r.min_requests))
    return below("requests", requests, static_cast<double>(r.min_requests));
  if (score < r.min_score) return below("score", score, r.min_score, "the weighted signals");
  return {};
}

MissedBar probe_bar(const LogitProbeRule& r, const std::vector<Metric>& m) {
  double most = metric(m, "max_distinct_biases_per_prompt").value_or(0);
  auto bar = static_cast<double>(r.min_distinct_biases);
  return below("max_distinct_biases_per_prompt", most, bar,
               fmt::format("or {} echo+logprobs probes without logit_bias",
                           format_number(r.echo_min_ratio * bar)));
}

MissedBar chase_bar(const ReleaseChasingRule& r, const std::vector<Metric>& m) {
  double moved = metric(m, "moved_requests").value_or(0);
  double share = metric(m, "moved_share").value_or(0);
  if (moved < static_cast<double>(r.min_requests))
    return below("moved_requests", moved, static_cast<double>(r.min_requests),
                 moved == 0 ? "no move to a model that appeared after the logs began" : "");
  double before = metric(m, "requests_before").value_or(0);
  if (before < static_cast<double>(r.min_requests_before))
    return below("requests_before", before, static_cast<double>(r.min_requests_before),
                 "a key that came with the model, not one that moved to it");
  if (share < r.min_moved_share) return below("moved_share", share, r.min_moved_share);
  return below("sweep_score", metric(m, "sweep_score").value_or(0), r.min_sweep_score,
               "a move with traffic like people's");
}

MissedBar hug_bar(const QuotaHuggingRule& r, const std::vector<Metric>& m) {
  double windows = metric(m, "windows").value_or(0);
  if (windows < static_cast<double>(r.min_windows))
    return below("windows", windows, static_cast<double>(r.min_windows),
                 fmt::format("consecutive windows of {} requests or more",
                             format_number(static_cast<double>(r.min_window_requests))));
  double dispersion = metric(m, "dispersion").value_or(0);
  if (dispersion > r.max_dispersion)
    return above("dispersion", dispersion, r.max_dispersion, "the rate is not held flat");
  double held = metric(m, "ceiling_share").value_or(0);
  if (held < r.min_ceiling_share) return below("ceiling_share", held, r.min_ceiling_share);
  double throttled = metric(m, "throttled_429").value_or(0);
  if (throttled < static_cast<double>(r.min_throttled))
    return below("throttled_429", throttled, static_cast<double>(r.min_throttled),
                 "no limit pressed on");
  return above("throttled_share", metric(m, "throttled_share").value_or(0), r.max_throttled_share,
               "over the limit, not at its edge");
}

std::string metrics_text(const std::vector<Metric>& metrics) {
  std::string out;
  for (const Metric& m : metrics)
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", m.name, format_number(m.value));
  return out;
}

std::string metrics_json(const std::vector<Metric>& metrics) {
  std::string o = "{";
  for (const Metric& m : metrics) {
    if (o.size() > 1) o += ',';
    append_json_string(o, m.name);
    o += ':' + format_number(m.value);
  }
  return o + "}";
}

/// A threshold rule's line: what it measured at most for the key, against its limit.
struct ThresholdLine {
  bool judged_elsewhere = false;
  bool fired = false;
  std::string measure;
};
ThresholdLine threshold_line(const ThresholdRule& rule, double peak, GroupBy group_by) {
  ThresholdLine t;
  t.judged_elsewhere = peak < 0 && rule.group_by != group_by;
  t.fired = peak >= 0 && (rule.inclusive ? peak >= rule.limit : peak > rule.limit);
  t.measure = rule.condition.substr(0, rule.condition.find_first_of("<>"));
  while (!t.measure.empty() && t.measure.back() == ' ') t.measure.pop_back();
  return t;
}

}  // namespace

MissedBar missed_bar(const RuleSet& rules, const Explanation& e) {
  if (!e.enabled || e.fired) return {};
  const std::vector<Metric>& m = e.metrics;
  if (e.detector == "volume_spike") return volume_bar(rules.volume_spike, m);
  if (e.detector == "prompt_templating") return templating_bar(rules.prompt_templating, m);
  if (e.detector == "distillation_sweep") return sweep_bar(rules.distillation_sweep, m);
  if (e.detector == "logit_probe") return probe_bar(rules.logit_probe, m);
  if (e.detector == "release_chasing") return chase_bar(rules.release_chasing, m);
  if (e.detector == "quota_hugging") return hug_bar(rules.quota_hugging, m);
  return {};
}

bool ExplainReport::Window::flagged() const {
  return !findings.empty() || std::any_of(verdicts.begin(), verdicts.end(),
                                          [](const Explanation& e) { return e.fired; });
}

ExplainReport::ExplainReport(ExplainOptions options, const RuleSet& rules, std::string key)
    : options_(std::move(options)), rules_(rules), key_(std::move(key)) {}

void ExplainReport::on_finding(const Finding& f) {
  if (f.key != key_) return;
  pending_.push_back(f);
}

void ExplainReport::on_explanation(const Explanation& e) {
  if (windows_.empty() || windows_.back().start_ns != e.window_start_ns) {
    windows_.push_back({e.window_start_ns, e.window_end_ns, std::move(pending_), {}});
    pending_.clear();
  }
  windows_.back().verdicts.push_back(e);
}

std::string ExplainReport::when(int64_t ns) const {
  return format_time(ns, options_.tz);
}

std::string ExplainReport::finish(const AccountSummary* account,
                                  const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                                  GroupBy group_by, const Totals& totals) const {
  if (!account) return {};
  return options_.format == ExplainFormat::jsonl ? jsonl(*account, peaks, group_by, totals)
                                                 : text(*account, peaks, group_by);
}

std::string ExplainReport::text(const AccountSummary& a,
                                const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                                GroupBy group_by) const {
  std::string out =
      fmt::format("account {} ({}): {} requests, {} prompt and {} completion tokens, {} .. {}",
                  printable(a.key), a.key_kind, a.requests, a.prompt_tokens, a.completion_tokens,
                  when(a.first_seen_ns), when(a.last_seen_ns));
  if (a.total_requests != a.requests)
    out +=
        fmt::format("; with the runs before (--state): {} requests, {} completion tokens since {}",
                    a.total_requests, a.total_completion_tokens, when(a.total_first_seen_ns));
  out += '\n';
  out += fmt::format(
      "risk {:.2f} ({}){}\n", a.risk, a.rules.empty() ? "nothing fired" : to_string(a.severity),
      a.rules.empty() ? "" : fmt::format(", rules fired: {}", fmt::join(a.rules, ", ")));
  size_t shown = 0;
  for (const Window& w : windows_) shown += !options_.only_flagged || w.flagged();
  out += fmt::format(
      "{} window{}{} (each detector's verdict when the window closed, and the findings as they "
      "fired):\n",
      windows_.size(), windows_.size() == 1 ? "" : "s",
      options_.only_flagged ? fmt::format(", {} flagged", shown) : "");
  auto finding = [&](const Finding& f) {
    // Reasons and templates carry text from the logs: escaped, as the table escapes them.
    out += fmt::format("  FINDING {} {} score {:.2f} (account risk {:.2f}) at {}: {}\n",
                       to_string(f.severity), f.rule, f.score, f.account_risk,
                       when(f.detected_at_ns), printable(f.reason));
    if (!f.template_text.empty())
      out += fmt::format("          template: {}\n", printable(f.template_text));
  };
  for (const Window& w : windows_) {
    if (options_.only_flagged && !w.flagged()) continue;
    out += fmt::format("\nwindow {} .. {}\n", when(w.start_ns), when(w.end_ns));
    for (const Finding& f : w.findings) finding(f);
    for (const Explanation& e : w.verdicts) {
      std::string verdict = !e.enabled ? "off"
                            : e.fired  ? fmt::format("FIRES {:.2f}", e.score)
                                       : "no";
      out += fmt::format("  {:<19} {:<11}{}\n", e.detector, verdict, metrics_text(e.metrics));
      if (e.fired && !e.reason.empty())
        out += fmt::format("  {:<19} {}\n", "", printable(e.reason));
      if (MissedBar bar = missed_bar(rules_, e); !bar.text.empty())
        out += fmt::format("  {:<19} missed: {}\n", "", bar.text);
    }
  }
  if (!pending_.empty()) out += "\nafter the last window closed:\n";
  for (const Finding& f : pending_) finding(f);
  if (cluster_) {
    const ClusterTies& c = *cluster_;
    out += fmt::format("\ncluster {}: {}\n", c.cluster, printable(c.links));
    if (!c.shared.empty()) out += "  this key is tied to it by:\n";
    for (const std::string& s : c.shared) out += fmt::format("    {}\n", s);
    std::vector<std::string> keys;
    for (const std::string& k : c.members) keys.push_back(printable(k));
    out += fmt::format("  keys: {}{}\n", fmt::join(keys, " "),
                       c.keys > c.members.size()
                           ? fmt::format(" (and {} more)", c.keys - c.members.size())
                           : std::string());
  }
  out += "\nthreshold rules:\n";
  for (const auto& [rule, peak] : peaks) {
    ThresholdLine t = threshold_line(*rule, peak, group_by);
    if (t.judged_elsewhere) {
      out += fmt::format("  {:<20} judged per {}: see explain --group-by {}\n", rule->id,
                         to_string(rule->group_by), to_string(rule->group_by));
      continue;
    }
    out += fmt::format("  {:<20} {:<5} highest {} in {}: {} (fires at {} {})\n", rule->id,
                       t.fired ? "FIRES" : "no", t.measure, format_duration(rule->window_ns),
                       format_number(std::max(0.0, peak)), rule->inclusive ? ">=" : ">",
                       format_number(rule->limit));
  }
  return out;
}

std::string ExplainReport::jsonl(const AccountSummary& a,
                                 const std::vector<std::pair<const ThresholdRule*, double>>& peaks,
                                 GroupBy group_by, const Totals& totals) const {
  std::string o = account_json(a);
  size_t shown = 0;
  for (const Window& w : windows_) {
    if (options_.only_flagged && !w.flagged()) continue;
    ++shown;
    o += fmt::format(R"({{"type":"window","window_start":"{}","window_end":"{}","flagged":{}}})",
                     format_rfc3339(w.start_ns), format_rfc3339(w.end_ns), w.flagged());
    o += '\n';
    for (const Finding& f : w.findings) o += finding_json(f);
    for (const Explanation& e : w.verdicts) {
      o += R"({"type":"verdict","detector":)";
      append_json_string(o, e.detector);
      o += fmt::format(R"(,"window_start":"{}","enabled":{},"fired":{},"score":{},"metrics":{})",
                       format_rfc3339(e.window_start_ns), e.enabled, e.fired,
                       format_number(e.score), metrics_json(e.metrics));
      if (!e.reason.empty()) {
        o += R"(,"reason":)";
        append_json_string(o, e.reason);
      }
      if (!e.template_text.empty()) {
        o += R"(,"template":)";
        append_json_string(o, e.template_text);
      }
      if (MissedBar bar = missed_bar(rules_, e); !bar.text.empty()) {
        o += R"(,"missed":{)";
        if (!bar.metric.empty()) {
          o += R"("metric":)";
          append_json_string(o, bar.metric);
          o += fmt::format(R"(,"value":{},"bar":{},)", format_number(bar.value),
                           format_number(bar.bar));
        }
        o += R"("text":)";
        append_json_string(o, bar.text);
        o += '}';
      }
      o += "}\n";
    }
  }
  for (const Finding& f : pending_) o += finding_json(f);
  if (cluster_) {
    const ClusterTies& c = *cluster_;
    o += R"({"type":"cluster","cluster":)";
    append_json_string(o, c.cluster);
    o += R"(,"links":)";
    append_json_string(o, c.links);
    o += fmt::format(R"(,"cluster_keys":{},"keys":[)", c.keys);
    append_json_strings(o, c.members);
    o += R"(],"shared":[)";
    append_json_strings(o, c.shared);
    o += "]}\n";
  }
  for (const auto& [rule, peak] : peaks) {
    ThresholdLine t = threshold_line(*rule, peak, group_by);
    o += R"({"type":"threshold","rule":)";
    append_json_string(o, rule->id);
    if (t.judged_elsewhere) {
      o += fmt::format(R"(,"judged_per":"{}"}})", to_string(rule->group_by));
    } else {
      o += R"(,"measure":)";
      append_json_string(o, t.measure);
      o += fmt::format(R"(,"window":"{}","highest":{},"comparison":"{}","limit":{},"fired":{}}})",
                       format_duration(rule->window_ns), format_number(std::max(0.0, peak)),
                       rule->inclusive ? ">=" : ">", format_number(rule->limit), t.fired);
    }
    o += '\n';
  }
  o += fmt::format(
      R"({{"type":"run","lines":{},"events":{},"skipped_lines":{},"windows":{},"windows_shown":{}}})"
      "\n",
      totals.lines, totals.events, totals.skipped, windows_.size(), shown);
  return o;
}

}  // namespace exfilscan
