// The HTML report (issue 19): its sections, the timeline of an account at medium or above, and
// text from logs kept as text (hostile keys, templates, reasons, request ids).
#include <exfilscan/report/html_report.h>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace exfilscan;

namespace {

constexpr int64_t s_ns = 1'000'000'000;
constexpr int64_t t0 = 1793577600LL * s_ns;  // 2026-11-02T00:00:00Z

Finding hostile_finding(std::string key, Severity severity, int64_t at) {
  Finding f;
  f.rule = "prompt_templating";
  f.severity = severity;
  f.score = 0.8;
  f.account_risk = 0.8;
  f.key = std::move(key);
  f.key_kind = "api_key";
  f.first_seen_ns = f.window_start_ns = t0;
  f.last_seen_ns = f.detected_at_ns = at;
  f.metrics = {{"prompts_analysed", 201}};
  f.reason = "reason </p><b>bold</b>";
  f.template_text = "Translate: <*> & <#>";
  f.sample_request_ids = {"req-1\"><svg onload=1>"};
  return f;
}

AccountSummary account(std::string key, Severity severity, std::vector<HourlyCount> hourly) {
  AccountSummary a;
  a.key = std::move(key);
  a.key_kind = "api_key";
  a.risk = 0.8;
  a.severity = severity;
  a.requests = 30;
  a.completion_tokens = 3000;
  a.first_seen_ns = t0;
  a.last_seen_ns = t0 + 7200 * s_ns;
  a.rules = {"prompt_templating"};
  a.top_rule = "prompt_templating";
  a.hourly = std::move(hourly);
  return a;
}

std::string render(ReportOptions options, bool with_prompt = false) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  {
    auto r = make_html_reporter(options, {{"logs/<day>.jsonl"}}, mem);
    Finding f = hostile_finding("<script>alert(1)</script>", Severity::high, t0 + 1800 * s_ns);
    if (with_prompt) f.sample_prompts = {"line one\nline <two>"};
    r->on_finding(f);
    r->on_finding(hostile_finding("\"><img src=x onerror=1>", Severity::low, t0));
    std::vector<AccountSummary> ranking = {account("<script>alert(1)</script>", Severity::high,
                                                   {{t0, 20, 2000}, {t0 + 7200 * s_ns, 10, 1000}}),
                                           account("\"><img src=x onerror=1>", Severity::low, {})};
    RunTotals totals;
    totals.lines = totals.events = 31;
    totals.engine.findings = 2;
    totals.engine.by_severity = {0, 1, 0, 1, 0};
    totals.first_event_ns = t0;
    totals.last_event_ns = t0 + 7200 * s_ns;
    r->finish(ranking, totals);
  }
  std::fclose(mem);
  std::string out(buf, size);
  std::free(buf);
  return out;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("html_escape: markup, quotes and control characters stay text", "[report][html]") {
  CHECK(html_escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;");
  CHECK(html_escape("\"><img src=x onerror=1>") == "&quot;&gt;&lt;img src=x onerror=1&gt;");
  CHECK(html_escape("a'b&c") == "a&#39;b&amp;c");
  CHECK(html_escape("esc\x1b[2J\nnext\ttab") == "esc\\x1b[2J next tab");
  CHECK(html_escape("one\ntwo <", true) == "one\ntwo &lt;");
  CHECK(html_escape("bad \xff byte") == "bad \\xff byte");
}

TEST_CASE("HTML report: one self-contained page with its sections", "[report][html]") {
  std::string out = render({});
  CHECK_THAT(out, Catch::StartsWith("<!DOCTYPE html>\n<html lang=\"en\">"));
  CHECK_THAT(out, Catch::EndsWith("</body>\n</html>\n"));
  for (const char* id : {"id=\"summary\"", "id=\"ranking\"", "id=\"accounts\"",
                         "id=\"by-severity\"", "id=\"inputs\"", "id=\"span\"", "id=\"caps\""})
    CHECK(count(out, id) == 1);
  // Nothing is fetched: no external script, style, image or font, and a policy that says so.
  CHECK(count(out, "<script") == 1);
  CHECK(count(out, "src=\"") == 0);
  CHECK(count(out, "<link") == 0);
  CHECK_THAT(out, Catch::Contains("default-src 'none'"));
  CHECK_THAT(out, Catch::Contains("<code>logs/&lt;day&gt;.jsonl</code>"));
  CHECK_THAT(out, Catch::Contains("2 h 0 min"));
}

TEST_CASE("HTML report: hostile keys and evidence stay text", "[report][html]") {
  std::string out = render({});
  CHECK(count(out, "<script>") == 1);  // the report's own
  CHECK(count(out, "<img") == 0);
  CHECK(count(out, "<svg onload") == 0);
  CHECK(count(out, "<b>bold") == 0);
  CHECK_THAT(out, Catch::Contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK_THAT(out, Catch::Contains("&quot;&gt;&lt;img src=x onerror=1&gt;"));
  CHECK_THAT(out, Catch::Contains("reason &lt;/p&gt;&lt;b&gt;bold&lt;/b&gt;"));
  CHECK_THAT(out, Catch::Contains("Translate: &lt;*&gt; &amp; &lt;#&gt;"));
  CHECK_THAT(out, Catch::Contains("req-1&quot;&gt;&lt;svg onload=1&gt;"));
}

TEST_CASE("HTML report: a timeline for accounts at medium or above only", "[report][html]") {
  std::string out = render({});
  CHECK(count(out, "<article class=\"account") == 1);
  CHECK(count(out, "<svg class=\"timeline\"") == 1);
  CHECK(count(out, "<rect class=\"bar\"") == 3);  // two hours of traffic and the legend
  CHECK(count(out, "<g class=\"mark\">") == 1);   // its one finding, linked to its evidence
  CHECK_THAT(out, Catch::Contains("<a href=\"#account-1-f1\">"));
  CHECK_THAT(out, Catch::Contains("id=\"account-1-f1\""));
  CHECK_THAT(out, Catch::Contains("<title>11-02 00:00: 20 requests, 2000 completion tokens"));
  // The ranking links the detailed account and lists the other.
  CHECK(count(out, "<tr data-rank=") == 2);
  CHECK_THAT(out, Catch::Contains("<a href=\"#account-1\">&lt;script&gt;"));
}

TEST_CASE("HTML report: prompts only when the findings carry them", "[report][html]") {
  CHECK(count(render({}), "class=\"prompt\"") == 0);
  std::string out = render({}, true);
  CHECK_THAT(out, Catch::Contains("<pre class=\"prompt\">line one\nline &lt;two&gt;</pre>"));
}

TEST_CASE("HTML report: times at the --tz offset", "[report][html]") {
  ReportOptions options;
  options.tz = TimeZone::fixed(5 * 3600 + 1800);
  std::string out = render(options);
  CHECK_THAT(out, Catch::Contains("Times are at UTC+05:30"));
  CHECK_THAT(out, Catch::Contains("2026-11-02T05:30:00.000+05:30"));
}

TEST_CASE("HTML report: times in an IANA zone (issue 19)", "[report][html]") {
  if (::access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) return;  // no tzdata
  ReportOptions options;
  options.tz = TimeZone::load("Europe/Berlin");
  std::string out = render(options);
  CHECK_THAT(out, Catch::Contains("Times are in Europe/Berlin (each with its UTC offset)"));
  CHECK_THAT(out, Catch::Contains("2026-11-02T01:00:00.000+01:00"));
}
