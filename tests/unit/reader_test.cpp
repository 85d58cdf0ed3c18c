// The reader end to end in the library: line numbers, bad-line accounting, strict mode.
#include "test_util.h"

#include <catch2/catch.hpp>

#include <cstdio>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

struct Run {
  ReadResult result;
  CollectingSink sink;
  std::string diagnostics;
  uint64_t bad = 0;
  uint64_t left_out = 0;
  std::string summary;
};

Run read(const std::vector<std::string>& paths, ReaderOptions options = {}) {
  Run run;
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  {
    BadLineLog log(options.bad_lines, mem);
    run.result = read_inputs(paths, options, run.sink, log);
    log.print_suppressed();
    run.bad = log.total();
    run.left_out = log.values_left_out();
    run.summary = log.summary();
  }
  std::fclose(mem);
  run.diagnostics.assign(buf, size);
  std::free(buf);
  return run;
}

}  // namespace

TEST_CASE("bad lines are reported with file, line and reason, then counted", "[reader]") {
  TempFile f(
      "{\"timestamp\":1777622400,\"api_key_id\":\"a\"}\n"
      "not json\n"
      "\n"
      "{\"timestamp\":\"2026-99-01T00:00:00Z\"}\r\n"
      "{\"timestamp\":1777622401,\"api_key_id\":\"b\"}\r\n"
      "{\"timestamp\":1777622402,\"api_key_id\":\"c\"}");
  Run run = read({f.path()});
  CHECK(run.result.failure == ReadFailure::none);
  CHECK(run.result.stats.lines == 6);
  CHECK(run.result.stats.events == 3);
  CHECK(run.result.stats.blank_lines == 1);
  CHECK(run.sink.keys == std::vector<std::string>{"a", "b", "c"});
  CHECK(run.bad == 2);
  CHECK(run.summary == "bad_json 1, bad_timestamp 1");
  CHECK_THAT(run.diagnostics, Catch::Contains(f.path() + ":2: bad_json: "));
  CHECK_THAT(run.diagnostics,
             Catch::Contains(f.path() + ":4: bad_timestamp: timestamp: "
                                        "\"2026-99-01T00:00:00Z\" is out of range"));
}

TEST_CASE("only the first N reports per reason are printed", "[reader]") {
  std::string data;
  for (int i = 0; i < 8; ++i) data += "{oops\n";
  TempFile f(data);
  ReaderOptions o;
  o.bad_lines.max_reports_per_reason = 3;
  Run run = read({f.path()}, o);
  CHECK(run.bad == 8);
  CHECK_THAT(run.diagnostics, Catch::Contains(":3: bad_json"));
  CHECK_THAT(run.diagnostics, !Catch::Contains(":4: bad_json"));
  CHECK_THAT(run.diagnostics, Catch::Contains("... and 5 more bad_json lines not shown"));
}

TEST_CASE("strict mode stops at the first bad line", "[reader]") {
  TempFile f("{\"timestamp\":1777622400}\n{\"timestamp\":\"x\"}\n{\"timestamp\":1777622401}\n");
  ReaderOptions o;
  o.bad_lines.strict = true;
  Run run = read({f.path()}, o);
  CHECK(run.result.failure == ReadFailure::strict_bad_line);
  CHECK(run.result.stats.events == 1);
  CHECK_THAT(run.diagnostics, Catch::Contains(":2: bad_timestamp"));
}

TEST_CASE("line numbers run on across chunks and restart per input", "[reader]") {
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "{\"timestamp\":" + std::to_string(1777622400 + i) + "}\n";
  data += "broken\n";
  TempFile a(data), b("broken\n");
  ReaderOptions o;
  o.input.chunk_bytes = 4096;
  Run run = read({a.path(), b.path()}, o);
  CHECK(run.result.stats.inputs == 2);
  CHECK(run.result.stats.events == 2000);
  CHECK_THAT(run.diagnostics, Catch::Contains(a.path() + ":2001: bad_json"));
  CHECK_THAT(run.diagnostics, Catch::Contains(b.path() + ":1: bad_json"));
}

TEST_CASE("an over-long line is reported and the next line still read", "[reader]") {
  std::string data = "{\"timestamp\":1777622400}\n{\"timestamp\":1777622400,\"pad\":\"" +
                     std::string(5000, 'p') + "\"}\n{\"timestamp\":1777622401}\n";
  TempFile f(data);
  ReaderOptions o;
  o.input.max_line_bytes = 1000;
  o.input.chunk_bytes = 4096;
  o.input.mmap_min_bytes = 0;  // mapped however small
  for (bool mmap : {true, false}) {
    o.input.allow_mmap = mmap;
    Run run = read({f.path()}, o);
    CHECK(run.result.stats.events == 2);
    CHECK(run.bad == 1);
    CHECK_THAT(run.diagnostics,
               Catch::Contains(":2: line_too_long: 5033 bytes, over the limit of 1000"));
  }
}

TEST_CASE("an input error names the input; the others are still read (issue 17)", "[reader]") {
  TempFile ok("{\"timestamp\":1777622400}\n");
  TempFile array("[\n  {\n    \"timestamp\": 1777622400\n  }\n]\n");
  std::vector<std::string> told;
  ReaderOptions options;
  options.input_failed = [&told](const std::string& m) { told.push_back(m); };
  Run run = read({"/nonexistent.jsonl", array.path(), ok.path()}, options);
  CHECK(run.result.failure == ReadFailure::input_error);
  CHECK_FALSE(run.result.stopped);
  CHECK(run.result.stats.events == 1);  // the last input was read
  REQUIRE(told.size() == 2);
  CHECK(told == run.result.input_errors);
  CHECK_THAT(told[0], Catch::Contains("/nonexistent.jsonl: cannot open"));
  CHECK_THAT(told[1], Catch::Contains(": no line is an event (5 lines skipped; a JSON array? one "
                                      "element a line: jq -c '.[]'"));
  CHECK(run.result.error == told[0]);
  // With --strict the first one stops the run.
  options.bad_lines.strict = true;
  told.clear();
  Run strict = read({"/nonexistent.jsonl", ok.path()}, options);
  CHECK(strict.result.stopped);
  CHECK(strict.result.stats.events == 0);
  CHECK(told.size() == 1);
  // Blank lines only, or nothing at all, is no error.
  TempFile blank("\n\n");
  CHECK(read({blank.path()}).result.failure == ReadFailure::none);
}

TEST_CASE("excerpts are short and printable", "[reader]") {
  CHECK(make_excerpt("abc") == "abc");
  CHECK(make_excerpt(std::string(100, 'a'), 10) == "aaaaaaaaaa...");
  CHECK(make_excerpt("a\tb\xff") == "a\\x09b\\xff");
  CHECK(make_excerpt("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(make_excerpt("a\xc2\x9b"
                     "2J") == "a\\xc2\\x9b2J");  // C1 CSI
}

TEST_CASE("excerpts mask string values but keep keys and structure (issue 17)", "[reader]") {
  std::string line =
      R"({"timestamp": "2026-11-02T12:00:01Z", "n": 3, "request":{"messages":[{"content":"SECRET \" plan"}]}})";
  CHECK(make_excerpt(line, 200) ==
        R"({"timestamp": "***", "n": 3, "request":{"messages":[{"content":"***"}]}})");
  CHECK(make_excerpt(line, 200, true) == line);
  // Cut inside a value: the rest of it stays hidden.
  CHECK(make_excerpt(R"({"prompt":"SECRET unterminated)") == R"({"prompt":"***)");
  // A key holding controls is escaped, not masked.
  CHECK(make_excerpt("{\"\x1b[2J\":1}") == "{\"\\x1b[2J\":1}");
  // Through the real reader: a bad line's report hides its prompt unless asked to show it.
  TempFile in(
      R"({"request":{"messages":[{"content":"my SECRET plan"}]},"timestamp":"2026-11-02T12:00:01Z")"
      "\n");
  CHECK_THAT(read({in.path()}).diagnostics,
             !Catch::Contains("SECRET") && Catch::Contains("\"***\""));
  ReaderOptions shown;
  shown.bad_lines.show_values = true;
  CHECK_THAT(read({in.path()}, shown).diagnostics, Catch::Contains("my SECRET plan"));
}

TEST_CASE("text from logs is printable on a terminal (issue 17)", "[reader]") {
  CHECK(printable("plain caf\xc3\xa9") == "plain caf\xc3\xa9");
  CHECK(printable("\x1b[2Jx\x7f\xff\xc2\x9b") == "\\x1b[2Jx\\x7f\\xff\\xc2\\x9b");
  CHECK(printable("\xc2\xa0nbsp") == "\xc2\xa0nbsp");  // U+00A0 is not a control
}

TEST_CASE("line-aligned byte ranges read on their own give the same events", "[reader]") {
  // The unit later work hands to several cores: any line-aligned range of the input, parsed by
  // its own ChunkReader, yields exactly the events of that range.
  std::string data;
  for (int i = 0; i < 300; ++i)
    data += "{\"timestamp\":" + std::to_string(1777622400 + i) + ",\"api_key_id\":\"k" +
            std::to_string(i % 7) + "\"}\n";
  std::string padded = data + std::string(chunk_padding, '\0');
  std::vector<size_t> cuts = {0, data.find('\n', 1000) + 1, data.find('\n', 5000) + 1, data.size()};

  CollectingSink whole, parts;
  BadLineLog log({}, nullptr);
  ReadStats stats;
  uint64_t line_no = 0;
  ChunkReader reader({}, 1 << 20);
  Chunk all;
  all.bytes = std::string_view(padded.data(), data.size());
  REQUIRE(reader.read(all, "whole", line_no, whole, log, stats));
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    ChunkReader own({}, 1 << 20);
    Chunk range;
    range.bytes = std::string_view(padded.data() + cuts[i], cuts[i + 1] - cuts[i]);
    range.offset = cuts[i];
    uint64_t relative_line = 0;
    REQUIRE(own.read(range, "part", relative_line, parts, log, stats));
  }
  CHECK(whole.timestamps.size() == 300);
  CHECK(parts.timestamps == whole.timestamps);
  CHECK(parts.keys == whole.keys);
  CHECK(log.total() == 0);
}

TEST_CASE("a byte-order mark at the start of an input is skipped", "[reader]") {
  TempFile f(
      "\xEF\xBB\xBF{\"timestamp\":1777622400,\"api_key_id\":\"a\"}\n{\"timestamp\":1777622401}\n");
  Run run = read({f.path()});
  CHECK(run.bad == 0);
  CHECK(run.result.stats.events == 2);
  CHECK(run.sink.keys.front() == "a");
}

TEST_CASE("values left out of kept events are reported and counted apart (issue 18)",
          "[reader][regression]") {
  TempFile f(
      R"({"time":"2026-05-02T08:00:05Z","resultSignature":"200","durationMs":-1021,"correlationId":"secret-ish"})"
      "\n"
      R"({"timestamp":"2026-05-02T08:00:06Z","api_key_id":"k"})"
      "\n");
  for (bool strict : {false, true}) {
    ReaderOptions options;
    options.bad_lines.strict = strict;
    Run run = read({f.path()}, options);
    CHECK(run.result.failure == ReadFailure::none);  // not a bad line: --strict goes on
    CHECK(run.result.stats.events == 2);
    CHECK(run.bad == 0);
    CHECK(run.left_out == 1);
    CHECK_THAT(run.diagnostics,
               Catch::Contains(":1: implausible_value: latency_ms is -1021: below 0; left out, "
                               "the event kept: {\"time\":\"***\""));
    CHECK_THAT(run.diagnostics, !Catch::Contains("secret-ish"));
  }
}
