// The HTML report: findings kept as they fire, the page written once the ranking is known. Every
// text from a log goes through html_escape(); no log text is ever put inside the <script>.
#include <exfilscan/input/diagnostics.h>
#include <exfilscan/report/html_report.h>
#include <exfilscan/timestamp.h>

#include "report/html_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <utility>

namespace exfilscan {

std::string html_escape(std::string_view text, bool keep_lines) {
  std::string flat(text);
  for (char& c : flat)
    if ((c == '\n' && !keep_lines) || c == '\r' || c == '\t') c = ' ';
  std::string out;
  size_t from = 0;
  // printable() escapes a line break too: keep them by escaping line by line.
  while (from <= flat.size()) {
    size_t nl = keep_lines ? flat.find('\n', from) : std::string::npos;
    std::string safe = printable(std::string_view(flat).substr(from, nl - from));
    for (char c : safe) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          out += c;
      }
    }
    if (nl == std::string::npos) break;
    out += '\n';
    from = nl + 1;
  }
  return out;
}

namespace {

using detail::severity_class;

constexpr const char* style = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;background:#f8f9fa}
header,main{max-width:1400px;margin:0 auto;padding:0 16px}
header{padding-top:16px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #dee2e6;padding-bottom:4px}
h3{font-size:16px;margin:0 0 6px;overflow-wrap:anywhere}h4{font-size:14px;margin:0 0 4px}
code,pre,.key{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12.5px}
.key{overflow-wrap:anywhere}td.key{min-width:10em}#ranking-table{font-size:13px}.scroll{overflow-x:auto}td.t{white-space:nowrap}
#by-severity{width:100%;margin-top:4px}#by-severity th{background:none;padding:2px}
pre{white-space:pre-wrap;word-break:break-word;background:#f1f3f5;padding:6px;margin:4px 0}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #dee2e6;padding:3px 5px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:8px}
.facts div{background:#fff;border:1px solid #dee2e6;padding:8px}
.facts b{display:block;font-size:12px;color:#495057;font-weight:600}
table.sortable th{cursor:pointer;user-select:none;background:#e9ecef;white-space:nowrap}
table.sortable th[aria-sort=ascending]::after{content:" \25B2"}
table.sortable th[aria-sort=descending]::after{content:" \25BC"}
.badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:600}
.sev-critical .badge,.badge.sev-critical{background:#a61e4d}.sev-high .badge,.badge.sev-high{background:#e03131}
.sev-medium .badge,.badge.sev-medium{background:#e67700}.sev-low .badge,.badge.sev-low{background:#1971c2}
.sev-info .badge,.badge.sev-info{background:#868e96}.badge.allow{background:#2b8a3e}
.account{background:#fff;border:1px solid #dee2e6;padding:12px;margin:0 0 18px}
.account .meta{color:#495057;margin:0 0 8px}
svg.timeline{width:100%;height:auto;display:block;margin:6px 0 10px}
svg .grid{stroke:#e9ecef}svg .tick{stroke:#adb5bd}svg .axis{font-size:11px;fill:#495057}
svg .axis.req{fill:#1864ab}svg .axis.tok{fill:#d9480f}
svg .bar{fill:#4dabf7;opacity:.75}svg .dot{fill:#f76707}svg .tokens{fill:none;stroke:#f76707;stroke-width:2}
svg .mark line{stroke-width:1.5;stroke-dasharray:4 3}svg .mark text{font-size:10px;fill:#fff;font-weight:700}
.findings{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:10px}
.finding{border:1px solid #dee2e6;border-left-width:5px;padding:8px}
.finding.sev-critical{border-left-color:#a61e4d}.finding.sev-high{border-left-color:#e03131}
.finding.sev-medium{border-left-color:#e67700}.finding.sev-low{border-left-color:#1971c2}
.finding.sev-info{border-left-color:#868e96}
.finding .num{display:inline-block;min-width:18px;text-align:center;border-radius:9px;background:#343a40;color:#fff;font-size:11px;margin-right:4px}
.finding table{margin:4px 0;font-size:12.5px}.note{color:#6c757d}
:target{outline:2px solid #339af0}
)";

constexpr const char* script = R"(
(function(){
  function sortBy(table, col, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(h){ h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var num = th.getAttribute('data-type') === 'num';
    rows.sort(function(a, b){
      var x = a.cells[col], y = b.cells[col], c;
      if (num) c = parseFloat(x.getAttribute('data-v')) - parseFloat(y.getAttribute('data-v'));
      else c = x.textContent.localeCompare(y.textContent);
      if (c !== 0) return asc ? c : -c;
      return parseInt(a.getAttribute('data-rank'), 10) - parseInt(b.getAttribute('data-rank'), 10);
    });
    rows.forEach(function(r){ body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function(table){
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, col){
      th.tabIndex = 0;
      th.addEventListener('click', function(){ sortBy(table, col, th); });
      th.addEventListener('keydown', function(e){
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
)";

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// "9 days 18 h 16 min".
std::string span_text(int64_t ns) {
  int64_t m = ns / 60'000'000'000;
  std::string out;
  if (m >= 1440) out += fmt::format("{} day{} ", m / 1440, m / 1440 == 1 ? "" : "s");
  if (m >= 60) out += fmt::format("{} h ", m / 60 % 24);
  out += fmt::format("{} min", m % 60);
  return out;
}

std::string badge(Severity s) {
  return fmt::format("<span class=\"badge {}\">{}</span>", severity_class(s), upper(to_string(s)));
}

class HtmlReporter final : public Reporter {
 public:
  HtmlReporter(ReportOptions options, HtmlReportOptions html, std::FILE* out)
      : Reporter(options, out), html_(std::move(html)) {}

  void write_finding(const Finding& f) override { findings_[f.key].push_back(f); }

  void finish(const std::vector<AccountSummary>& ranking, const RunTotals& t) override {
    std::string o =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
        "<title>exfilscan report</title>\n<style>";
    o += style;
    o += "</style>\n</head>\n<body>\n<header><h1>exfilscan report</h1>";
    o += fmt::format(
        "<p class=\"note\">Times are {}. Text from the logs is shown as written, "
        "control characters as \\xNN.</p></header>\n<main>\n",
        options_.tz.is_utc() ? std::string("UTC") : zone_text());
    summary(o, ranking, t);
    ranking_table(o, ranking);
    accounts(o, ranking);
    o += "</main>\n<script>";
    o += script;
    o += "</script>\n</body>\n</html>\n";
    write(o);
    if (std::fflush(out_) != 0) fail();
  }

 private:
  std::string when(int64_t ns) const { return format_time(ns, options_.tz); }
  /// "2026-11-02 14:03:07", the full time in a tooltip.
  std::string short_when(int64_t ns) const {
    if (ns == 0) return "-";  // no event in this run (an account a --state carried)
    std::string t = when(ns);
    if (t.size() < 19) return t;
    return fmt::format("<span title=\"{}\">{} {}</span>", t, t.substr(0, 10), t.substr(11, 8));
  }
  /// "at UTC+05:30", or "in Europe/Berlin (each with its offset)".
  std::string zone_text() const {
    const std::string& n = options_.tz.name();
    if (!n.empty() && (n[0] == '+' || n[0] == '-')) return "at UTC" + n;
    return fmt::format("in {} (each with its UTC offset)", html_escape(n));
  }

  void summary(std::string& o, const std::vector<AccountSummary>& ranking,
               const RunTotals& t) const {
    const EngineStats& e = t.engine;
    o += "<section id=\"summary\">\n<h2>Run summary</h2>\n<div class=\"facts\">\n";
    o += fmt::format("<div id=\"inputs\"><b>Inputs ({})</b>", html_.inputs.size());
    const size_t shown = 20;
    for (size_t i = 0; i < html_.inputs.size() && i < shown; ++i)
      o += fmt::format("<code>{}</code><br>", html_escape(html_.inputs[i]));
    if (html_.inputs.size() > shown)
      o += fmt::format("and {} more", with_commas(html_.inputs.size() - shown));
    o += "</div>\n";
    if (t.first_event_ns != 0 || t.last_event_ns != 0)
      o += fmt::format("<div id=\"span\"><b>Span (event time)</b>{}<br>to {}<br>{}</div>\n",
                       when(t.first_event_ns), when(t.last_event_ns),
                       span_text(t.last_event_ns - t.first_event_ns));
    else
      o += "<div id=\"span\"><b>Span (event time)</b>no event judged</div>\n";
    o += fmt::format(
        "<div id=\"read\"><b>Read</b>{} lines, {} events<br>{} bad lines skipped<br>"
        "{} put back in time order{}<br>"
        "{} late events (not judged)<br>{} without an account<br>{} outside --since/--until"
        "</div>\n",
        with_commas(t.lines), with_commas(t.events), with_commas(t.skipped),
        with_commas(t.order.events_reordered),
        t.order.events_reordered ? " (up to " + format_lateness(t.order.max_lateness_ns) + " late)"
                                 : std::string(),
        with_commas(e.late_events), with_commas(e.events_without_account),
        with_commas(e.events_out_of_range));
    o += fmt::format("<div id=\"calibration\"><b>Severity bars</b>{}</div>\n",
                     t.calibration == "none"
                         ? std::string("built-in")
                         : fmt::format("calibrated: {}", html_escape(t.calibration)));
    // A cluster's row is not an account of the run: its keys are.
    size_t flagged = 0, clusters = 0;
    for (const AccountSummary& a : ranking)
      if (!a.rules.empty()) ++(a.key_kind == "cluster" ? clusters : flagged);
    o += fmt::format(
        "<div id=\"accounts-seen\"><b>Accounts</b>{} seen, {} with findings<br>{} clusters of keys "
        "flagged<br>{} expired, {} evicted<br>{} summaries dropped, {} forgotten keys "
        "dropped</div>\n",
        with_commas(e.accounts_seen), with_commas(flagged), with_commas(clusters),
        with_commas(e.accounts_expired), with_commas(e.accounts_evicted),
        with_commas(e.summaries_dropped), with_commas(e.forgotten_dropped));
    o += fmt::format(
        "<div id=\"caps\"><b>Caps that bit</b>{} templates replaced<br>{} parts replaced<br>"
        "{} logit_bias probes untracked</div>\n",
        with_commas(e.templates_replaced), with_commas(e.parts_replaced),
        with_commas(e.probes_untracked));
    FindingCounts n = finding_counts(e, options_.min_severity);
    std::string held = n.total_held_back() ? fmt::format(", {} under --min-severity {} not shown",
                                                         with_commas(n.total_held_back()),
                                                         to_string(options_.min_severity))
                                           : "";
    o += fmt::format(
        "<div id=\"findings-total\"><b>Findings</b>{} reported{}, {} suppressed by allow-lists"
        "<table id=\"by-severity\"><tr>",
        with_commas(n.total_written()), held, with_commas(e.suppressed));
    for (size_t s = e.by_severity.size(); s-- > 0;)
      o += fmt::format("<th>{}</th>", badge(static_cast<Severity>(s)));
    o += "</tr><tr>";
    for (size_t s = e.by_severity.size(); s-- > 0;)
      o += fmt::format("<td class=\"n\">{}</td>", with_commas(n.written[s]));
    o += "</tr></table></div>\n</div>\n</section>\n";
  }

  void ranking_table(std::string& o, const std::vector<AccountSummary>& ranking) const {
    o += "<section id=\"ranking\">\n<h2>Accounts by risk</h2>\n";
    o += "<p class=\"note\">Accounts with findings by risk, then the busiest others. Click a "
         "column's header to sort by it.</p>\n";
    o += "<div class=\"scroll\"><table class=\"sortable\" id=\"ranking-table\">\n<thead><tr>";
    const std::pair<const char*, bool> columns[] = {{"#", true},
                                                    {"account", false},
                                                    {"kind", false},
                                                    {"risk", true},
                                                    {"severity", true},
                                                    {"requests", true},
                                                    {"prompt tokens", true},
                                                    {"completion tokens", true},
                                                    {"first seen", true},
                                                    {"last seen", true},
                                                    {"findings", true},
                                                    {"rules", false},
                                                    {"suppressed", true}};
    for (auto [name, numeric] : columns)
      o += fmt::format("<th{}>{}</th>", numeric ? " data-type=\"num\" class=\"n\"" : "", name);
    o += "</tr></thead>\n<tbody>\n";
    size_t rank = 0, detailed = 0;
    for (const AccountSummary& a : ranking) {
      ++rank;
      bool flagged = !a.rules.empty();
      bool details = flagged && a.severity >= Severity::medium;
      std::string key = html_escape(a.key);
      std::string name =
          details ? fmt::format("<a href=\"#account-{}\">{}</a>", ++detailed, key) : key;
      std::string rules;
      for (const std::string& r : a.rules) {
        if (!rules.empty()) rules += ' ';
        rules += html_escape(r);
      }
      auto it = findings_.find(a.key);
      size_t n = it == findings_.end() ? 0 : it->second.size();
      o += fmt::format(
          "<tr data-rank=\"{0}\"><td class=\"n\" data-v=\"{0}\">{0}</td>"
          "<td class=\"key\">{1}{2}</td><td>{3}</td>"
          "<td class=\"n\" data-v=\"{4}\">{5:.2f}</td><td data-v=\"{6}\">{7}</td>",
          rank, name,
          a.suppressed_findings ? " <span class=\"badge allow\">allow-listed</span>"
          : a.cluster.empty()
              ? std::string()
              : fmt::format(" <span class=\"note\">in {}</span>", html_escape(a.cluster)),
          html_escape(a.key_kind), format_number(a.risk), a.risk,
          flagged ? static_cast<int>(a.severity) : -1, flagged ? badge(a.severity) : "-");
      o += fmt::format(
          "<td class=\"n\" data-v=\"{0}\">{1}</td><td class=\"n\" data-v=\"{2}\">{3}</td>"
          "<td class=\"n\" data-v=\"{4}\">{5}</td><td class=\"t\" data-v=\"{6}\">{7}</td>"
          "<td class=\"t\" data-v=\"{8}\">{9}</td><td class=\"n\" data-v=\"{10}\">{10}</td>"
          "<td>{11}</td><td class=\"n\" data-v=\"{12}\">{12}</td></tr>\n",
          a.requests, with_commas(a.requests), a.prompt_tokens, with_commas(a.prompt_tokens),
          a.completion_tokens, with_commas(a.completion_tokens), a.first_seen_ns / 1'000'000,
          short_when(a.first_seen_ns), a.last_seen_ns / 1'000'000, short_when(a.last_seen_ns), n,
          rules.empty() ? "-" : rules, a.suppressed_findings);
    }
    o += "</tbody>\n</table></div>\n</section>\n";
  }

  void accounts(std::string& o, const std::vector<AccountSummary>& ranking) const {
    o += "<section id=\"accounts\">\n<h2>Accounts at medium or above</h2>\n";
    size_t detailed = 0;
    for (const AccountSummary& a : ranking) {
      if (a.rules.empty() || a.severity < Severity::medium) continue;
      std::string id = fmt::format("account-{}", ++detailed);
      o += fmt::format(
          "<article class=\"account {}\" id=\"{}\">\n<h3>{} <span class=\"key\">{}"
          "</span></h3>\n",
          severity_class(a.severity), id, badge(a.severity), html_escape(a.key));
      std::string traffic =
          a.first_seen_ns == 0
              ? std::string("no request in this run")
              : fmt::format("{} requests, {} prompt and {} completion tokens; {} to {}",
                            with_commas(a.requests), with_commas(a.prompt_tokens),
                            with_commas(a.completion_tokens), when(a.first_seen_ns),
                            when(a.last_seen_ns));
      if (a.total_requests != a.requests)
        traffic += fmt::format(
            "; with the runs before (--state): {} requests, {} completion tokens since {}",
            with_commas(a.total_requests), with_commas(a.total_completion_tokens),
            when(a.total_first_seen_ns));
      o += fmt::format(
          "<p class=\"meta\">{}, risk {:.2f}; {}{}</p>\n", html_escape(a.key_kind), a.risk, traffic,
          a.suppressed_findings
              ? fmt::format("; <span class=\"badge allow\">allow-listed</span> {} suppressed",
                            a.suppressed_findings)
              : "");
      auto it = findings_.find(a.key);
      static const std::vector<Finding> none;
      const std::vector<Finding>& fs = it == findings_.end() ? none : it->second;
      std::vector<detail::ChartMark> marks;
      for (size_t i = 0; i < fs.size(); ++i)
        marks.push_back({fs[i].detected_at_ns, fs[i].severity, fmt::format("{}", i + 1),
                         fmt::format("{} {} at {}", upper(to_string(fs[i].severity)),
                                     html_escape(fs[i].rule), when(fs[i].detected_at_ns)),
                         fmt::format("#{}-f{}", id, i + 1)});
      std::string chart = detail::timeline_svg(a.hourly, marks, options_.tz);
      if (chart.empty())
        o += "<p class=\"note\">No hourly series: this account's traffic was not in this run "
             "(it comes from a --state).</p>\n";
      else if (a.hourly.size() >= max_hourly_counts)
        o += fmt::format("<p class=\"note\">The last {} hours with traffic.</p>\n",
                         max_hourly_counts);
      o += chart;
      if (fs.empty())
        o += "<p class=\"note\">No finding shown here (below --min-severity, or reported by an "
             "earlier run).</p>\n";
      o += "<div class=\"findings\">\n";
      for (size_t i = 0; i < fs.size(); ++i) finding(o, fs[i], fmt::format("{}-f{}", id, i + 1), i);
      o += "</div>\n</article>\n";
    }
    if (detailed == 0) o += "<p class=\"note\">No account reached medium.</p>\n";
    o += "</section>\n";
  }

  void finding(std::string& o, const Finding& f, const std::string& id, size_t i) const {
    o += fmt::format(
        "<div class=\"finding {}\" id=\"{}\">\n<h4><span class=\"num\">{}</span>{} {} "
        "<span class=\"note\">score {:.2f}, account risk {:.2f}</span></h4>\n",
        severity_class(f.severity), id, i + 1, badge(f.severity), html_escape(f.rule), f.score,
        f.account_risk);
    o += fmt::format("<p class=\"reason\">{}</p>\n", html_escape(f.reason));
    o += fmt::format("<p class=\"note\">at {}; window from {}</p>\n", when(f.detected_at_ns),
                     when(f.window_start_ns));
    if (!f.template_text.empty())
      o += fmt::format("<p>template: <code class=\"template\">{}</code></p>\n",
                       html_escape(f.template_text));
    if (!f.metrics.empty()) {
      o += "<table class=\"metrics\">";
      for (const Metric& m : f.metrics)
        o += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td></tr>", html_escape(m.name),
                         format_number(m.value));
      o += "</table>\n";
    }
    if (!f.sample_request_ids.empty()) {
      o += "<p>sample requests:";
      for (const std::string& r : f.sample_request_ids)
        o += fmt::format(" <code class=\"request-id\">{}</code>", html_escape(r));
      o += "</p>\n";
    }
    for (const std::string& p : f.sample_prompts)
      o += fmt::format("<pre class=\"prompt\">{}</pre>\n", html_escape(p, true));
    if (!f.cluster.empty())
      o += fmt::format("<p class=\"note\">the key is in {}</p>\n", html_escape(f.cluster));
    if (f.key_kind == "cluster") {
      o += fmt::format("<p class=\"links\">what ties them: {}</p>\n<p>keys:", html_escape(f.links));
      for (const std::string& k : f.keys)
        o += fmt::format(" <code class=\"key\">{}</code>", html_escape(k));
      if (f.cluster_keys > f.keys.size())
        o += fmt::format(" and {} more", f.cluster_keys - f.keys.size());
      o += "</p>\n";
    }
    o += "</div>\n";
  }

  HtmlReportOptions html_;
  std::map<std::string, std::vector<Finding>> findings_;
};

}  // namespace

std::unique_ptr<Reporter> make_html_reporter(ReportOptions options, HtmlReportOptions html,
                                             std::FILE* out) {
  return std::make_unique<HtmlReporter>(options, std::move(html), out);
}

}  // namespace exfilscan
