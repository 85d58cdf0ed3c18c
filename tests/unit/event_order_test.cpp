// Issue 18, "Dumps in any order": the order stage puts events in one order whatever order the
// reader gives them in, checking in-order input as it passes, sorting (and spilling) the rest.
#include "test_util.h"

#include <exfilscan/input/input_order.h>
#include <exfilscan/input/pipeline.h>
#include <exfilscan/order/event_order.h>
#include <exfilscan/report/canonical_writer.h>

#include "order/event_codec.h"

#include <dirent.h>
#include <sys/stat.h>
#include <algorithm>
#include <random>

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// Canonical text of each event (prompts included) in the order they came.
struct TextSink : EventSink {
  std::vector<std::string> lines;
  void on_event(const Event& e) override {
    std::string out;
    CanonicalWriter::format(e, {true}, out);
    lines.push_back(std::move(out));
  }
};

std::string line(int second, const std::string& key, const std::string& id,
                 const std::string& prompt = "hello") {
  return fmt::format(
      R"({{"timestamp":"2026-11-02T10:00:{:02d}Z","request_id":"{}","api_key_id":"{}",)"
      R"("endpoint":"/v1/chat/completions","request":{{"model":"m","messages":[{{"role":"user",)"
      R"("content":"{}"}}],"temperature":0.5,"logit_bias":{{"7":-1}}}},"response":{{"status":200,)"
      R"("usage":{{"prompt_tokens":3,"completion_tokens":9}}}},"latency_ms":12.5}})",
      second, id, key, prompt);
}

/// 60 events over 20 seconds, three of each second (ties), in time order.
std::vector<std::string> in_order_log() {
  std::vector<std::string> lines;
  for (int i = 0; i < 60; ++i) {
    std::string key = "k", id = "r";
    key += std::to_string(i % 5);
    id += std::to_string(i);
    lines.push_back(line(i / 3, key, id, std::string(static_cast<size_t>(i) * 7, 'x')));
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

/// The events of `lines` through the reader, the order stage and into a TextSink.
std::vector<std::string> through(const std::vector<std::string>& lines, OrderOptions options,
                                 unsigned threads = 1, OrderStats* stats = nullptr) {
  TempFile file(joined(lines));
  TextSink texts;
  EventOrder order(options, texts);
  ReaderOptions reader;
  reader.chunk_runs = true;
  reader.input.chunk_bytes = 4096;  // many chunks: ties and holds across their ends
  BadLineLog bad({}, nullptr);
  read_inputs_parallel({file.path()}, reader, order, bad, threads);
  order.finish();
  if (stats) *stats = order.stats();
  return texts.lines;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
        names.emplace_back(e->d_name);
    closedir(d);
  }
  return names;
}

}  // namespace

TEST_CASE("an event survives its record: every field", "[order]") {
  auto p = parse_line(
      R"({"timestamp":"2026-11-02T14:03:11.5Z","request_id":"r1","org_id":"o","project_id":"p","api_key_id":"k",)"
      R"("user":"u","ip":"1.2.3.4","user_agent":"ua","endpoint":"/v1/completions","request":{"model":"m",)"
      R"("prompt":["one","two"],"n":2,"temperature":0.5,"top_p":1,"max_tokens":3,"logprobs":4,"echo":true,)"
      R"("best_of":5,"seed":6,"stream":false,"logit_bias":{"9":-1}},"response":{"status":201,)"
      R"("usage":{"prompt_tokens":7,"completion_tokens":8,"completion_tokens_details":{"reasoning_tokens":9}}},"latency_ms":1.5})");
  REQUIRE(p->ok);
  std::string record;
  detail::encode_event(p->event, record);
  REQUIRE(detail::record_length(record.data()) + detail::record_header == record.size());
  Event back;
  std::vector<PromptPart> parts;
  detail::decode_event(std::string_view(record).substr(detail::record_header), back, parts);
  back.prompt = parts;
  std::string a, b;
  CanonicalWriter::format(p->event, {true}, a);
  CanonicalWriter::format(back, {true}, b);
  CHECK(a == b);
  CHECK(back.endpoint_kind == p->event.endpoint_kind);
  CHECK(back.params.logit_bias_hash == p->event.params.logit_bias_hash);
  CHECK(back.token_array_prompts == p->event.token_array_prompts);
  CHECK(*back.reasoning_tokens == 9);
}

TEST_CASE("in-order input passes the check, ties in one order whatever came first", "[order]") {
  std::vector<std::string> log = in_order_log();
  OrderOptions check;
  OrderStats stats;
  auto expected = through(log, check, 1, &stats);
  REQUIRE(expected.size() == 60);
  CHECK_FALSE(stats.sorted);
  CHECK(stats.events_reordered == 0);
  // The events of each second in another order: the check puts them back as they were.
  std::vector<std::string> swapped = log;
  for (size_t i = 0; i + 2 < swapped.size(); i += 3) std::swap(swapped[i], swapped[i + 2]);
  for (unsigned threads : {1u, 2u, 3u}) {
    INFO(threads);
    CHECK(through(swapped, check, threads) == expected);
    CHECK(through(log, check, threads) == expected);
  }
}

TEST_CASE("an event earlier than one before it breaks the check", "[order]") {
  std::vector<std::string> log = in_order_log();
  std::swap(log[10], log[50]);
  OrderOptions check;
  CHECK_THROWS_AS(through(log, check), OrderBroken);
  // A stream passes it on where it came, and counts it.
  OrderOptions stream;
  stream.mode = OrderMode::stream;
  OrderStats stats;
  auto passed = through(log, stream, 2, &stats);
  CHECK(passed.size() == 60);
  CHECK(stats.events_out_of_order == 2);  // the one after the late-comer, and the early one
}

TEST_CASE("more events of one time than a check holds: a file is sorted, a stream goes on",
          "[order]") {
  std::vector<std::string> log;
  for (int i = 0; i < 40; ++i) log.push_back(line(5, "k", std::to_string(100 - i)));
  OrderOptions check;
  check.max_held_events = 8;
  CHECK_THROWS_AS(through(log, check), OrderBroken);
  OrderOptions stream = check;
  stream.mode = OrderMode::stream;
  OrderStats stats;
  CHECK(through(log, stream, 2, &stats).size() == 40);
  CHECK(stats.events_out_of_order == 0);
}

TEST_CASE("sorting gives the checked order for any order of the lines", "[order]") {
  std::vector<std::string> log = in_order_log();
  auto expected = through(log, {});
  std::vector<std::string> shuffled = log;
  std::mt19937 random(18);
  std::shuffle(shuffled.begin(), shuffled.end(), random);
  std::vector<std::string> reversed(log.rbegin(), log.rend());
  OrderOptions sort;
  sort.mode = OrderMode::sort;
  for (const auto* lines : {&log, &shuffled, &reversed}) {
    OrderStats stats;
    CHECK(through(*lines, sort, 2, &stats) == expected);
    CHECK(stats.sorted);
    CHECK(stats.spill_runs == 0);  // the buffer held them all
  }
  OrderStats stats;
  through(reversed, sort, 1, &stats);
  CHECK(stats.events_reordered == 57);  // all but the three of the latest second
  CHECK(stats.max_lateness_ns == 19'000'000'000);
}

TEST_CASE("past its buffer the sort spills runs and merges them, then removes them", "[order]") {
  std::vector<std::string> log = in_order_log();
  auto expected = through(log, {});
  std::vector<std::string> shuffled = log;
  std::mt19937 random(7);
  std::shuffle(shuffled.begin(), shuffled.end(), random);
  char dir[] = "/tmp/exfilscan-order-test-XXXXXX";
  REQUIRE(mkdtemp(dir));
  OrderOptions sort;
  sort.mode = OrderMode::sort;
  sort.temp_dir = dir;
  sort.buffer_bytes = 1500;  // a few events a run
  sort.merge_fan_in = 3;     // and runs merged in groups first
  {
    TempFile file(joined(shuffled));
    TextSink texts;
    EventOrder order(sort, texts);
    ReaderOptions reader;
    reader.chunk_runs = true;
    BadLineLog bad({}, nullptr);
    read_inputs_parallel({file.path()}, reader, order, bad, 2);
    // While it sorts: one private directory, 0700, and no file in it has a name.
    auto made = entries(dir);
    REQUIRE(made.size() == 1);
    std::string spill = dir;
    spill += "/";
    spill += made[0];
    struct stat st;
    REQUIRE(stat(spill.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(entries(spill).empty());
    order.finish();
    CHECK(texts.lines == expected);
    CHECK(order.stats().spill_runs > 10);
    CHECK(order.stats().events_spilled > 50);
  }
  CHECK(entries(dir).empty());  // the directory went with the sort
  rmdir(dir);
}

TEST_CASE("a sort that stops early (an error downstream) leaves no spill behind", "[order]") {
  char dir[] = "/tmp/exfilscan-order-test-XXXXXX";
  REQUIRE(mkdtemp(dir));
  struct Failing : EventSink {
    void on_event(const Event&) override { throw std::runtime_error("output closed"); }
  } failing;
  {
    OrderOptions sort;
    sort.mode = OrderMode::sort;
    sort.temp_dir = dir;
    sort.buffer_bytes = 1500;
    EventOrder order(sort, failing);
    TempFile file(joined(in_order_log()));
    ReaderOptions reader;
    BadLineLog bad({}, nullptr);
    read_inputs_parallel({file.path()}, reader, order, bad, 1);
    CHECK_THROWS_AS(order.finish(), std::runtime_error);
  }
  CHECK(entries(dir).empty());
  rmdir(dir);
}

TEST_CASE("inputs are read in the order of their first events", "[order][input]") {
  TempFile day1(line(1, "k", "a") + "\n" + line(2, "k", "b") + "\n");
  TempFile day2(line(30, "k", "c") + "\n");
  TempFile none("not json\n");
  ReaderOptions reader;
  std::vector<std::string> given = {day2.path(), none.path(), day1.path()};
  auto ordered = order_inputs_by_time(given, reader, 0);
  CHECK(ordered.paths == std::vector<std::string>{day1.path(), day2.path(), none.path()});
  CHECK(ordered.rereadable);
  // Standard input keeps its place; only files move.
  given = {day2.path(), "-", day1.path()};
  ordered = order_inputs_by_time(given, reader, 0);
  CHECK(ordered.paths == std::vector<std::string>{day1.path(), "-", day2.path()});
  CHECK_FALSE(ordered.rereadable);
  // Files under the size given keep their places too.
  CHECK(order_inputs_by_time(given, reader, 1u << 20).paths == given);
  // The earliest of its first events, from its start.
  CHECK(first_event_time(day2.path(), reader) == 1793613630000000000LL);
}
