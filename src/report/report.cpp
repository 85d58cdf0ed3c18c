#include <exfilscan/input/diagnostics.h>
#include <exfilscan/report/json_writer.h>
#include <exfilscan/report/report.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan {

bool parse_report_format(std::string_view name, ReportFormat& out) {
  if (name == "table") return out = ReportFormat::table, true;
  if (name == "jsonl") return out = ReportFormat::jsonl, true;
  if (name == "csv") return out = ReportFormat::csv, true;
  return false;
}

void append_csv_field(std::string& out, std::string_view f) {
  // A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV
  // injection): a leading single quote makes it text. Keys, ids and templates come from logs.
  // A field that starts with a quote gets one more, so that dropping one leading quote gives
  // every field back as it was.
  bool formula = !f.empty() && std::string_view("=+-@\t\r'").find(f[0]) != std::string_view::npos;
  if (!formula && f.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(f);
    return;
  }
  out += '"';
  if (formula) out += '\'';
  for (char c : f) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

ReportFanout::ReportFanout(std::vector<std::unique_ptr<Reporter>> reporters)
    : Reporter({}, nullptr), reporters_(std::move(reporters)) {}

// The run stops only when no output is left to write: a closed stdout must not cut short the
// CSV report a cron job is writing beside it. (With no outputs, as calibrate runs, none fails.)
void ReportFanout::on_finding(const Finding& f) {
  failed_ = !reporters_.empty();
  for (auto& r : reporters_) {
    r->on_finding(f);
    failed_ = failed_ && r->failed();
  }
}

void FindingHold::release() {
  for (const Finding& f : held_) next_.on_finding(f);
  held_.clear();
}

std::string format_lateness(int64_t ns) {
  if (ns < 1'000'000'000) return fmt::format("{} s", format_number(static_cast<double>(ns) / 1e9));
  int64_t s = ns / 1'000'000'000, m = s / 60, h = m / 60, d = h / 24;
  if (d > 0) return fmt::format("{} day{} {} h", d, d == 1 ? "" : "s", h % 24);
  if (h > 0) return fmt::format("{} h {} min", h, m % 60);
  if (m > 0) return fmt::format("{} min {} s", m, s % 60);
  return fmt::format("{} s", s);
}

std::string_view event_order_name(const RunTotals& t) {
  if (t.order.sorted) return "sorted";
  return t.order.events_out_of_order ? "as_read" : "in_order";
}

void ReportFanout::finish(const std::vector<AccountSummary>& ranking, const RunTotals& totals) {
  failed_ = !reporters_.empty();
  for (auto& r : reporters_) {
    r->finish(ranking, totals);
    failed_ = failed_ && r->failed();
  }
}

std::string format_number(double v) {
  if (!std::isfinite(v)) return "0";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  std::string s = fmt::format("{:.4f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

FindingCounts finding_counts(const EngineStats& e, Severity min_severity) {
  FindingCounts c;
  for (size_t s = 0; s < e.by_severity.size(); ++s)
    (s < static_cast<size_t>(min_severity) ? c.held_back : c.written)[s] = e.by_severity[s];
  return c;
}
uint64_t FindingCounts::total_written() const {
  uint64_t n = 0;
  for (uint64_t x : written) n += x;
  return n;
}
uint64_t FindingCounts::total_held_back() const {
  uint64_t n = 0;
  for (uint64_t x : held_back) n += x;
  return n;
}

void Reporter::on_finding(const Finding& f) {
  if (f.severity < options_.min_severity || failed_) return;
  write_finding(f);
}

void Reporter::write(const std::string& text) {
  if (failed_) return;
  if (std::fwrite(text.data(), 1, text.size(), out_) != text.size()) fail();
}

/// The table (table_report.cpp).
std::unique_ptr<Reporter> make_table_reporter(ReportOptions options, std::FILE* out);

namespace {

std::string utc(int64_t ns) {
  return format_rfc3339(ns);
}

/// An account's time in this run: null in JSON (empty in CSV) when it had no event in it.
std::string json_time(int64_t ns) {
  return ns == 0 ? std::string("null") : fmt::format("\"{}\"", utc(ns));
}
std::string csv_time(int64_t ns) {
  return ns == 0 ? "" : utc(ns);
}

/// `{"info":n,"low":n,...}`.
std::string by_severity_json(const std::array<uint64_t, 5>& n) {
  return fmt::format(R"({{"info":{},"low":{},"medium":{},"high":{},"critical":{}}})", n[0], n[1],
                     n[2], n[3], n[4]);
}

}  // namespace

std::string finding_json(const Finding& f) {
  std::string o = "{\"type\":\"finding\",\"rule\":";
  append_json_string(o, f.rule);
  o += fmt::format(",\"severity\":\"{}\",\"score\":{},\"account_risk\":{},\"key\":",
                   to_string(f.severity), format_number(f.score), format_number(f.account_risk));
  append_json_string(o, f.key);
  o += fmt::format(
      ",\"key_kind\":\"{}\",\"first_seen\":\"{}\",\"last_seen\":\"{}\",\"detected_at\":\"{}\","
      "\"window_start\":\"{}\",\"reason\":",
      f.key_kind, utc(f.first_seen_ns), utc(f.last_seen_ns), utc(f.detected_at_ns),
      utc(f.window_start_ns));
  append_json_string(o, f.reason);
  o += ",\"metrics\":{";
  for (size_t i = 0; i < f.metrics.size(); ++i) {
    if (i) o += ',';
    append_json_string(o, f.metrics[i].name);
    o += ':' + format_number(f.metrics[i].value);
  }
  o += '}';
  if (!f.template_text.empty()) {
    o += ",\"template\":";
    append_json_string(o, f.template_text);
  }
  o += ",\"sample_request_ids\":[";
  append_json_strings(o, f.sample_request_ids);
  o += ']';
  if (!f.sample_prompts.empty()) {
    o += ",\"sample_prompts\":[";
    append_json_strings(o, f.sample_prompts);
    o += ']';
  }
  if (!f.cluster.empty()) {
    o += ",\"cluster\":";
    append_json_string(o, f.cluster);
  }
  if (f.key_kind == "cluster") {
    o += fmt::format(",\"cluster_keys\":{},\"keys\":[", f.cluster_keys);
    append_json_strings(o, f.keys);
    o += "],\"links\":";
    append_json_string(o, f.links);
  }
  o += "}\n";
  return o;
}

std::string account_json(const AccountSummary& a) {
  std::string o;
  o += "{\"type\":\"account\",\"key\":";
  append_json_string(o, a.key);
  o += fmt::format(
      ",\"key_kind\":\"{}\",\"risk\":{},\"severity\":\"{}\",\"requests\":{},"
      "\"prompt_tokens\":{},\"completion_tokens\":{},\"first_seen\":{},"
      "\"last_seen\":{},\"top_rule\":",
      a.key_kind, format_number(a.risk), to_string(a.severity), a.requests, a.prompt_tokens,
      a.completion_tokens, json_time(a.first_seen_ns), json_time(a.last_seen_ns));
  append_json_string(o, a.top_rule);
  o += ",\"rules\":[";
  append_json_strings(o, a.rules);
  o += fmt::format(
      "],\"suppressed_findings\":{},\"total_requests\":{},\"total_prompt_tokens\":{},"
      "\"total_completion_tokens\":{},\"total_first_seen\":\"{}\",\"total_last_seen\":\"{}\"",
      a.suppressed_findings, a.total_requests, a.total_prompt_tokens, a.total_completion_tokens,
      utc(a.total_first_seen_ns), utc(a.total_last_seen_ns));
  if (!a.cluster.empty()) {
    o += ",\"cluster\":";
    append_json_string(o, a.cluster);
    o += ",\"own_risk\":";
    o += format_number(a.own_risk);
  }
  if (a.key_kind == "cluster") o += fmt::format(",\"cluster_keys\":{}", a.cluster_keys);
  o += "}\n";
  return o;
}

namespace {

/// One JSON object per line: findings stream as they fire (`tail -f | exfilscan scan - | jq`
/// shows them live), account rows and the run row close the report.
class JsonlReporter final : public Reporter {
 public:
  using Reporter::Reporter;

  void write_finding(const Finding& f) override {
    write(finding_json(f));
    if (std::fflush(out_) != 0) fail();  // live: each finding as it fires
  }

  void finish(const std::vector<AccountSummary>& ranking, const RunTotals& t) override {
    std::string o;
    for (const AccountSummary& a : ranking) o += account_json(a);
    const EngineStats& e = t.engine;
    // findings and findings_by_severity are what was written; what --min-severity held back
    // is counted apart.
    FindingCounts n = finding_counts(e, options_.min_severity);
    o += fmt::format(
        "{{\"type\":\"run\",\"lines\":{},\"events\":{},\"skipped_lines\":{},\"late_events\":{},"
        "\"events_without_account\":{},\"events_out_of_range\":{},\"accounts\":{},"
        "\"accounts_expired\":{},\"accounts_evicted\":{},\"summaries_dropped\":{},"
        "\"findings\":{},\"suppressed_findings\":{},\"findings_by_severity\":{},",
        t.lines, t.events, t.skipped, e.late_events, e.events_without_account,
        e.events_out_of_range, e.accounts_seen, e.accounts_expired, e.accounts_evicted,
        e.summaries_dropped, n.total_written(), e.suppressed, by_severity_json(n.written));
    o += fmt::format(
        "\"forgotten_dropped\":{},\"templates_replaced\":{},\"parts_replaced\":{},"
        "\"probes_untracked\":{},\"events_quarantined\":{},\"events_held\":{},"
        "\"min_severity\":\"{}\",\"findings_held_back\":{},"
        "\"findings_held_back_by_severity\":{},\"accounts_held\":{},\"calibration\":",
        e.forgotten_dropped, e.templates_replaced, e.parts_replaced, e.probes_untracked,
        e.events_quarantined, e.events_held, to_string(options_.min_severity), n.total_held_back(),
        by_severity_json(n.held_back), e.accounts_active);
    append_json_string(o, t.calibration);
    o += fmt::format(
        ",\"event_order\":\"{}\",\"events_reordered\":{},\"max_lateness_s\":{},"
        "\"events_spilled\":{}}}\n",
        event_order_name(t), t.order.events_reordered,
        format_number(static_cast<double>(t.order.max_lateness_ns) / 1e9), t.order.events_spilled);
    write(o);
    if (std::fflush(out_) != 0) fail();
  }
};

/// Findings as CSV rows, written as they fire, under one header row.
class CsvReporter final : public Reporter {
 public:
  CsvReporter(ReportOptions options, std::FILE* out) : Reporter(options, out) {
    write(
        "detected_at,severity,score,account_risk,rule,key,key_kind,first_seen,last_seen,"
        "window_start,reason,template,metrics,sample_request_ids,cluster,cluster_keys,keys,"
        "links\r\n");
  }
  void write_finding(const Finding& f) override {
    std::string o = fmt::format("{},{},{},{},", utc(f.detected_at_ns), to_string(f.severity),
                                format_number(f.score), format_number(f.account_risk));
    append_csv_field(o, f.rule);
    o += ',';
    append_csv_field(o, f.key);
    o += fmt::format(",{},{},{},{},", f.key_kind, utc(f.first_seen_ns), utc(f.last_seen_ns),
                     utc(f.window_start_ns));
    append_csv_field(o, f.reason);
    o += ',';
    append_csv_field(o, f.template_text);
    o += ',';
    std::string metrics;
    for (const Metric& m : f.metrics)
      metrics += fmt::format("{}{}={}", metrics.empty() ? "" : ";", m.name, format_number(m.value));
    append_csv_field(o, metrics);
    o += ',';
    std::string ids;
    for (const std::string& id : f.sample_request_ids) ids += (ids.empty() ? "" : " ") + id;
    append_csv_field(o, ids);
    o += ',';
    append_csv_field(o, f.cluster);
    o += f.key_kind == "cluster" ? fmt::format(",{},", f.cluster_keys) : std::string(",,");
    std::string keys;
    for (const std::string& k : f.keys) keys += (keys.empty() ? "" : " ") + k;
    append_csv_field(o, keys);
    o += ',';
    append_csv_field(o, f.links);
    o += "\r\n";
    write(o);
  }
  void finish(const std::vector<AccountSummary>&, const RunTotals&) override {
    if (std::fflush(out_) != 0) fail();
  }
};

/// The ranking as CSV, written once at the end.
class SummaryCsvReporter final : public Reporter {
 public:
  using Reporter::Reporter;
  void write_finding(const Finding&) override {}
  void finish(const std::vector<AccountSummary>& ranking, const RunTotals&) override {
    std::string o =
        "key,key_kind,risk,severity,requests,prompt_tokens,completion_tokens,first_seen,"
        "last_seen,top_rule,rules,suppressed_findings,total_requests,total_prompt_tokens,"
        "total_completion_tokens,total_first_seen,total_last_seen,cluster,own_risk,"
        "cluster_keys\r\n";
    for (const AccountSummary& a : ranking) {
      append_csv_field(o, a.key);
      o +=
          fmt::format(",{},{},{},{},{},{},{},{},", a.key_kind, format_number(a.risk),
                      a.rules.empty() ? "info" : to_string(a.severity), a.requests, a.prompt_tokens,
                      a.completion_tokens, csv_time(a.first_seen_ns), csv_time(a.last_seen_ns));
      append_csv_field(o, a.top_rule);
      o += ',';
      std::string rules;
      for (const std::string& r : a.rules) rules += (rules.empty() ? "" : " ") + r;
      append_csv_field(o, rules);
      o += fmt::format(",{},{},{},{},{},{},", a.suppressed_findings, a.total_requests,
                       a.total_prompt_tokens, a.total_completion_tokens, utc(a.total_first_seen_ns),
                       utc(a.total_last_seen_ns));
      append_csv_field(o, a.cluster);
      o += ',';
      if (!a.cluster.empty()) o += format_number(a.own_risk);
      o += a.key_kind == "cluster" ? fmt::format(",{}\r\n", a.cluster_keys) : ",\r\n";
    }
    write(o);
    if (std::fflush(out_) != 0) fail();
  }
};

}  // namespace

std::unique_ptr<Reporter> make_reporter(ReportFormat format, ReportOptions options,
                                        std::FILE* out) {
  switch (format) {
    case ReportFormat::table:
      return make_table_reporter(options, out);
    case ReportFormat::csv:
      return std::make_unique<CsvReporter>(options, out);
    case ReportFormat::jsonl:
      break;
  }
  return std::make_unique<JsonlReporter>(options, out);
}

std::unique_ptr<Reporter> make_summary_csv_reporter(ReportOptions options, std::FILE* out) {
  return std::make_unique<SummaryCsvReporter>(options, out);
}

}  // namespace exfilscan
