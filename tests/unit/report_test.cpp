// Reporters: the JSON-lines contract, CSV quoting, and the table's terminal behaviour.
#include <exfilscan/report/report.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace exfilscan;

namespace {

Finding sample_finding() {
  Finding f;
  f.rule = "prompt_templating";
  f.severity = Severity::high;
  f.score = 0.8366;
  f.account_risk = 0.9;
  f.key = "key \"7\"";
  f.key_kind = "api_key";
  f.first_seen_ns = f.window_start_ns = 1793577600LL * 1'000'000'000;
  f.last_seen_ns = f.detected_at_ns = f.first_seen_ns + 60'000'000'000;
  f.metrics = {{"prompts_analysed", 201}, {"top_template_share", 0.5}};
  f.reason = "a reason, with a comma";
  f.template_text = "Translate: <*>";
  f.sample_request_ids = {"r1", "r2"};
  return f;
}

std::string render(ReportFormat format, ReportOptions options) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  {
    auto r = make_reporter(format, options, mem);
    r->on_finding(sample_finding());
    AccountSummary a;
    a.key = "key \"7\"";
    a.key_kind = "api_key";
    a.risk = 0.9;
    a.severity = Severity::critical;
    a.requests = 10;
    a.rules = {"prompt_templating"};
    a.top_rule = "prompt_templating";
    r->finish({a}, RunTotals{});
  }
  std::fclose(mem);
  std::string out(buf, size);
  std::free(buf);
  return out;
}

}  // namespace

TEST_CASE("JSON lines: finding, account and run rows", "[report]") {
  std::string out = render(ReportFormat::jsonl, {});
  CHECK_THAT(
      out,
      Catch::StartsWith(
          R"({"type":"finding","rule":"prompt_templating","severity":"high","score":0.8366,)"
          R"("account_risk":0.9,"key":"key \"7\"","key_kind":"api_key",)"
          R"("first_seen":"2026-11-02T00:00:00.000Z","last_seen":"2026-11-02T00:01:00.000Z",)"));
  CHECK_THAT(out,
             Catch::Contains(R"("metrics":{"prompts_analysed":201,"top_template_share":0.5})"));
  CHECK_THAT(out,
             Catch::Contains(R"("template":"Translate: <*>","sample_request_ids":["r1","r2"]})"));
  CHECK_THAT(out, Catch::Contains(R"({"type":"account","key":"key \"7\"",)"));
  CHECK_THAT(out, Catch::Contains(R"({"type":"run",)"));
}

TEST_CASE("findings under --min-severity are not shown", "[report]") {
  ReportOptions options;
  options.min_severity = Severity::critical;
  CHECK_THAT(render(ReportFormat::jsonl, options), !Catch::Contains(R"("type":"finding")"));
}

TEST_CASE("CSV fields are quoted as RFC 4180 says", "[report]") {
  std::string out;
  append_csv_field(out, "plain");
  out += ',';
  append_csv_field(out, "a,b");
  out += ',';
  append_csv_field(out, "say \"hi\"");
  out += ',';
  append_csv_field(out, "two\nlines");
  CHECK(out == "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"");
  // Issue 17: a cell a spreadsheet would run as a formula is made text with a leading quote.
  for (std::string_view formula : {"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=1+1", "'x"}) {
    std::string cell;
    append_csv_field(cell, formula);
    CHECK(cell == "\"'" + std::string(formula) + "\"");
  }
  std::string csv = render(ReportFormat::csv, {});
  CHECK_THAT(csv, Catch::StartsWith("detected_at,severity,score,account_risk,rule,key,"));
  CHECK_THAT(csv, Catch::Contains(",\"key \"\"7\"\"\",api_key,"));
  CHECK_THAT(csv, Catch::Contains("\r\n"));
}

TEST_CASE("the table colours severities only when asked and fits a width", "[report]") {
  ReportOptions plain;
  std::string out = render(ReportFormat::table, plain);
  CHECK_THAT(out, !Catch::Contains("\x1b["));
  CHECK_THAT(out, Catch::Contains("HIGH"));
  ReportOptions colour;
  colour.colour = true;
  CHECK_THAT(render(ReportFormat::table, colour), Catch::Contains("\x1b[1;31mHIGH"));
  ReportOptions narrow;
  narrow.width = 40;
  std::string cut = render(ReportFormat::table, narrow);
  CHECK_THAT(cut, Catch::Contains("a reason, with a comma"));  // 22 bytes fit in 38
  ReportOptions tz;
  tz.tz = TimeZone::fixed(5 * 3600 + 1800);
  CHECK_THAT(render(ReportFormat::table, tz), Catch::Contains("2026-11-02T05:31:00.000+05:30"));
}

TEST_CASE("the table reads top-down: summary, ranking, each account's findings", "[report]") {
  std::string out = render(ReportFormat::table, {});
  size_t summary = out.find("1 finding: 1 high"), ranking = out.find("Accounts by risk:"),
         account = out.find("CRITICAL  risk 0.90  key \"7\"\n"),
         finding = out.find("  HIGH      prompt_templating  score 0.84");
  CHECK(summary < ranking);
  CHECK(ranking < account);
  CHECK(account < finding);
  CHECK(finding != std::string::npos);
}

TEST_CASE("a long key is wrapped in a file and cut with an ellipsis on a terminal (issue 19)",
          "[report]") {
  ReportOptions file;
  file.width = 80;
  std::string key =
      "arn:aws:iam::123456789012:role/service-role/bedrock-batch-distillation-harvester-2026";
  auto table = [&](ReportOptions options) {
    char* buf = nullptr;
    size_t size = 0;
    std::FILE* mem = open_memstream(&buf, &size);
    {
      auto r = make_reporter(ReportFormat::table, options, mem);
      Finding f = sample_finding();
      f.key = key;
      r->on_finding(f);
      AccountSummary a;
      a.key = key;
      a.risk = 0.9;
      a.severity = Severity::critical;
      a.rules = {"prompt_templating"};
      r->finish({a}, RunTotals{});
    }
    std::fclose(mem);
    std::string out(buf, size);
    std::free(buf);
    return out;
  };
  std::string wrapped = table(file);
  CHECK_THAT(wrapped,
             Catch::Contains("CRITICAL  risk 0.90  arn:aws:iam::123456789012:role/"
                             "service-role/bedrock-batch-\n  distillation-harvester-2026\n"));
  CHECK_THAT(wrapped, !Catch::Contains("\xe2\x80\xa6"));
  for (size_t at = 0, end; at < wrapped.size(); at = end + 1) {
    end = wrapped.find('\n', at);
    CHECK(end - at <= 80);
  }
  ReportOptions terminal = file;
  terminal.terminal = true;
  std::string cut = table(terminal);
  // 21 columns of heading, then 58 of the key and the ellipsis: 80.
  CHECK_THAT(cut, Catch::Contains("CRITICAL  risk 0.90  arn:aws:iam::123456789012:role/"
                                  "service-role/bedrock-batch-\xe2\x80\xa6\n"));
  CHECK_THAT(cut, Catch::Contains("role/service-role/bedrock-\n"));  // the ranking has it whole
}

TEST_CASE("numbers in reports", "[report]") {
  CHECK(format_number(3) == "3");
  CHECK(format_number(0.5) == "0.5");
  CHECK(format_number(0.123456) == "0.1235");
  CHECK(format_number(2.0 / 3) == "0.6667");
}

TEST_CASE("on a terminal the table prints findings at high as they fire (issue 19)", "[report]") {
  for (bool terminal : {true, false}) {
    char* buf = nullptr;
    size_t size = 0;
    std::FILE* mem = open_memstream(&buf, &size);
    ReportOptions options;
    options.terminal = terminal;
    options.width = 100;
    auto r = make_reporter(ReportFormat::table, options, mem);
    Finding medium = sample_finding();
    medium.severity = Severity::medium;
    medium.reason = "a medium one";
    r->on_finding(medium);
    Finding high = sample_finding();
    high.severity = Severity::high;
    high.reason = "a high one";
    r->on_finding(high);
    std::fflush(mem);
    std::string streamed(buf, size);  // what the terminal shows before the input ends
    AccountSummary a;
    a.key = high.key;
    a.risk = 0.8;
    a.severity = Severity::high;
    a.rules = {"prompt_templating"};
    r->finish({a}, RunTotals{});
    r.reset();
    std::fclose(mem);
    std::string out(buf, size);
    std::free(buf);
    if (terminal) {
      CHECK_THAT(streamed, Catch::StartsWith("Findings at high and above, as they fire"));
      CHECK_THAT(streamed,
                 Catch::Contains("HIGH  2026-11-02T00:01:00.000Z  prompt_templating  key \"7\"\n"
                                 "  a high one\n"));
      CHECK_THAT(streamed, !Catch::Contains("a medium one"));
    } else {
      CHECK(streamed.empty());
    }
    // The grouped report closes the run either way, with both findings.
    CHECK_THAT(out, Catch::Contains("a medium one"));
    CHECK(out.rfind("a high one") > streamed.size());
  }
}
