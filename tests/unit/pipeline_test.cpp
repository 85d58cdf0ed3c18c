// Parsing on a second thread hands over the same events, in the same order, as reading on one.
#include "test_util.h"

#include <exfilscan/input/pipeline.h>
#include <exfilscan/report/canonical_writer.h>

#include <zstd.h>
#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {
/// Canonical text of each event (prompts included): equal text, equal events.
struct TextSink : EventSink {
  std::vector<std::string> lines;
  void on_event(const Event& e) override {
    std::string out;
    CanonicalWriter::format(e, {true}, out);
    lines.push_back(std::move(out));
  }
};
}  // namespace

TEST_CASE("a batch copy is the same event", "[pipeline]") {
  auto p = parse_line(
      R"({"timestamp":"2026-11-02T14:03:11.5Z","request_id":"r1","org_id":"o","project_id":"p","api_key_id":"k",)"
      R"("user":"u","ip":"1.2.3.4","user_agent":"ua","endpoint":"/v1/completions","request":{"model":"m",)"
      R"("prompt":["one","two"],"n":2,"temperature":0.5,"top_p":1,"max_tokens":3,"logprobs":4,"echo":true,)"
      R"("best_of":5,"seed":6,"stream":false,"logit_bias":{"9":-1}},"response":{"status":201,)"
      R"("usage":{"prompt_tokens":7,"completion_tokens":8,"completion_tokens_details":{"reasoning_tokens":9}}},"latency_ms":1.5})");
  REQUIRE(p->ok);
  EventBatch batch;
  for (int round = 0; round < 2; ++round) {  // the second round reuses the batch's memory
    batch.clear();
    batch.add(p->event);
    std::string a, b;
    CanonicalWriter::format(p->event, {true}, a);
    CanonicalWriter::format(batch[0], {true}, b);
    CHECK(a == b);
    CHECK(batch[0].token_array_prompts == p->event.token_array_prompts);
    CHECK(batch[0].params.logit_bias_hash == p->event.params.logit_bias_hash);
  }
}

TEST_CASE("a batch keeps views of long text in stable bytes and copies the rest", "[pipeline]") {
  auto p = parse_line(
      R"({"timestamp":1777622400,"api_key_id":"plain-key","request_id":"esc\"aped",)"
      R"("request":{"system":"be brief, and answer in the language of the question unless told otherwise","messages":[{"role":"user","content":"first"},)"
      R"({"role":"assistant","content":"skipped"},{"role":"user","content":"sec\nond"}]}})");
  REQUIRE(p->ok);
  std::string_view line = p->buffer;
  auto inside = [&](std::string_view s) {
    return s.data() >= line.data() && s.data() + s.size() <= line.data() + line.size();
  };
  EventBatch batch;
  std::string before;
  CanonicalWriter::format(p->event, {true}, before);
  for (bool stable : {false, true}) {
    batch.clear();
    batch.add(p->event, stable ? line : std::string_view{});
    const Event& e = batch[0];
    CHECK_FALSE(inside(e.api_key));     // short: copied, to lie beside the other keys
    CHECK_FALSE(inside(e.request_id));  // unescaped into the parser's buffer: always copied
    REQUIRE(e.prompt.size() == 3);
    CHECK(e.prompt.data() != p->event.prompt.data());
    CHECK(inside(e.prompt[0].text) == stable);  // long text
    CHECK_FALSE(inside(e.prompt[2].text));      // "sec\nond", unescaped
  }
  // The parser moves on (its buffers and parts are reused): the batch's event stays whole.
  batch.clear();
  batch.add(p->event, line);
  Event next;
  ParseError error;
  std::string other =
      R"({"timestamp":1777622401,"api_key_id":"k2","request_id":"o\"ther","request":{"messages":)"
      R"([{"role":"user","content":"x\ty"},{"role":"user","content":"z\tw"},{"role":"user","content":"q"}]}})";
  other.append(chunk_padding, '\0');
  REQUIRE(p->parser->parse({other.data(), other.size() - chunk_padding}, next, error));
  std::string after;
  CanonicalWriter::format(batch[0], {true}, after);
  CHECK(after == before);
}

TEST_CASE("a batch copies strings of every length up to and past the short-copy limit",
          "[pipeline]") {
  // Short strings are copied in fixed-size moves that overlap: every length from 0 to past 64
  // must come out whole, and the neighbours copied after it must not overwrite it.
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += static_cast<char>('a' + i % 26) + std::string(1, 'A' + i % 7);
  Event e;
  EventBatch batch;
  for (size_t n = 0; n <= 80; ++n) {
    e.request_id = std::string_view(text).substr(1, n);
    e.api_key = std::string_view(text).substr(100 - n / 2, n);
    e.model = std::string_view(text).substr(3, 80 - n);
    batch.add(e);
  }
  for (size_t n = 0; n <= 80; ++n) {
    INFO("length " << n);
    CHECK(batch[n].request_id == std::string_view(text).substr(1, n));
    CHECK(batch[n].api_key == std::string_view(text).substr(100 - n / 2, n));
    CHECK(batch[n].model == std::string_view(text).substr(3, 80 - n));
    CHECK(batch[n].request_id.data() != text.data() + 1);
  }
}

TEST_CASE("parallel reading gives the same events in the same order", "[pipeline]") {
  std::string data;
  for (int i = 0; i < 20000; ++i)
    data += fmt::format(
        R"({{"timestamp":{},"api_key_id":"k{}","request":{{"messages":[{{"role":"user","content":"prompt {}{} {}"}}]}}}})"
        "\n",
        1777622400 + i, i % 13, i, i % 2 ? "\\n" : "", std::string(i % 50, 'x'));
  data += "broken line\n";
  TempFile f(data);
  ReaderOptions options;
  options.input.chunk_bytes = 64 * 1024;
  TextSink one;
  BadLineLog log1({}, nullptr);
  ReadResult r1 = read_inputs_parallel({f.path()}, options, one, log1, 1);
  CHECK(r1.stats.events == 20000);
  // A sink with threads of its own gets each chunk's events before the next chunk is read
  // (views into the chunk are kept); one without works while the next is parsed (copied).
  for (bool threads : {false, true}) {
    TextSink two;
    ReaderOptions turns = options;  // as for a sink with threads of its own: parsing takes turns
    turns.sink_uses_threads = threads;
    BadLineLog log2({}, nullptr);
    ReadResult r2 = read_inputs_parallel({f.path()}, turns, two, log2, 2);
    CHECK(r2.stats.events == r1.stats.events);
    CHECK(log2.total() == 1);
    CHECK(two.lines == one.lines);
  }
}

TEST_CASE("a consumer that stops ends the parsing thread and its error comes through",
          "[pipeline]") {
  std::string data;
  for (int i = 0; i < 50000; ++i) data += fmt::format("{{\"timestamp\":{}}}\n", 1777622400 + i);
  TempFile f(data);
  struct Failing : EventSink {
    int seen = 0;
    void on_event(const Event&) override {
      if (++seen == 3000) throw std::runtime_error("closed");
    }
  } sink;
  BadLineLog log({}, nullptr);
  CHECK_THROWS_WITH(read_inputs_parallel({f.path()}, {}, sink, log, 2), "closed");
  CHECK(sink.seen == 3000);
}

namespace {

/// What a read leaves behind: events, bad-line reports, totals.
struct ReadRecord {
  std::vector<std::string> events;
  std::string reports;
  std::string totals;
};

ReadRecord read_with(const std::string& path, unsigned threads, bool strict,
                     bool sink_threads = false) {
  ReaderOptions options;
  options.input.chunk_bytes = 1 << 20;  // several chunks, each cut into several pieces
  options.bad_lines.strict = strict;
  options.bad_lines.max_reports_per_reason = 100;
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  BadLineLog log(options.bad_lines, out);
  options.sink_uses_threads = sink_threads;
  TextSink sink;
  ReadResult r = read_inputs_parallel({path}, options, sink, log, threads);
  std::fclose(out);
  ReadRecord rec;
  rec.events = std::move(sink.lines);
  rec.reports.assign(text, size);
  std::free(text);
  rec.totals = fmt::format("{} {} {} {} {} {}", r.stats.lines, r.stats.blank_lines, r.stats.events,
                           r.stats.bytes, log.total(), static_cast<int>(r.failure));
  return rec;
}

}  // namespace

TEST_CASE("parsing pieces in parallel reports bad lines in order with their line numbers",
          "[pipeline]") {
  std::string data;
  for (int i = 0; i < 30000; ++i) {
    if (i % 4099 == 17)
      data += "{broken " + std::to_string(i) + "\n";
    else if (i % 5003 == 5)
      data += "   \n";
    else
      data += fmt::format(R"({{"timestamp":{},"api_key_id":"k{}","request":{{"prompt":"{}"}}}})"
                          "\n",
                          1777622400 + i, i % 7, std::string(i % 90, 'y'));
  }
  TempFile f(data);
  for (bool strict : {false, true}) {
    INFO("strict " << strict);
    ReadRecord one = read_with(f.path(), 1, strict);
    CHECK_FALSE(one.reports.empty());
    for (unsigned threads : {2u, 3u}) {
      for (bool sink_threads : {false, true}) {
        ReadRecord many = read_with(f.path(), threads, strict, sink_threads);
        CHECK(many.totals == one.totals);
        CHECK(many.reports == one.reports);
        CHECK(many.events == one.events);
      }
    }
  }
  // The reports carry the real line numbers: line 18 is the first broken one.
  CHECK(read_with(f.path(), 2, true).reports.find(":18:") != std::string::npos);
}

TEST_CASE("many small inputs give the same events and reports on any number of threads",
          "[pipeline]") {
  // Each file is one piece, parsed on the calling thread, and its few events are judged there
  // too: the order of events and the files' own line numbers must not change.
  auto zstd = [](const std::string& data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 1));
    return out;
  };
  std::vector<std::unique_ptr<TempFile>> files;
  std::vector<std::string> paths;
  for (int f = 0; f < 60; ++f) {
    std::string data;
    for (int i = 0; i < f % 4 + 1; ++i)
      data += f % 17 == 3 && i == 1 ? std::string("{broken\n")
                                    : fmt::format(R"({{"timestamp":{},"api_key_id":"k{}"}})"
                                                  "\n",
                                                  1777622400 + f * 10 + i, f % 5);
    files.push_back(
        std::make_unique<TempFile>(f % 3 ? data : zstd(data), f % 3 ? ".jsonl" : ".zst"));
    paths.push_back(files.back()->path());
  }
  auto run = [&](unsigned threads) {
    TextSink sink;
    char* text = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&text, &size);
    BadLineLog log({}, out);
    ReadResult r = read_inputs_parallel(paths, {}, sink, log, threads);
    std::fclose(out);
    std::string reports(text, size);
    std::free(text);
    CHECK(r.failure == ReadFailure::none);
    return std::pair{sink.lines, reports};
  };
  auto one = run(1);
  CHECK(one.first.size() > 100);
  CHECK_THAT(one.second, Catch::Contains(paths[3] + ":2: bad_json"));
  CHECK(run(2) == one);
  CHECK(run(3) == one);
}

TEST_CASE("a truncated input delivers the same lines on any number of threads, then fails",
          "[pipeline]") {
  std::string data;
  for (int i = 0; i < 60000; ++i)
    data += fmt::format(R"({{"timestamp":{},"api_key_id":"k{}"}})"
                        "\n",
                        1777622400 + i, i % 11);
  // A zstd frame cut in the middle: the decoder hands over what it decoded, then the error.
  std::string packed(ZSTD_compressBound(data.size()), '\0');
  packed.resize(ZSTD_compress(packed.data(), packed.size(), data.data(), data.size(), 1));
  TempFile f(packed.substr(0, packed.size() * 2 / 3), ".zst");
  ReaderOptions options;
  options.input.chunk_bytes = 256 * 1024;
  // Issue 17: the inputs after it are still read, in order, on any number of threads.
  TempFile after("{\"timestamp\":1777622400,\"api_key_id\":\"after\"}\n");
  auto run = [&](unsigned threads, bool sink_threads) {
    TextSink sink;
    ReaderOptions turns = options;
    turns.sink_uses_threads = sink_threads;
    BadLineLog log({}, nullptr);
    ReadResult r = read_inputs_parallel({f.path(), after.path()}, turns, sink, log, threads);
    CHECK(r.failure == ReadFailure::input_error);
    CHECK_FALSE(r.stopped);
    CHECK(r.input_errors.size() == 1);
    return std::pair{sink.lines, r.error};
  };
  auto one = run(1, false);
  CHECK(one.first.size() > 1000);
  REQUIRE_FALSE(one.first.empty());
  CHECK_THAT(one.first.back(), Catch::Contains("after"));
  CHECK(run(2, false) == one);
  CHECK(run(3, true) == one);
}
