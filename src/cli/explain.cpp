// `exfilscan explain KEY`: the engine run with one account explained, optionally from a nightly
// scan's --state (read only), its output as text or JSON lines to stdout or -o.
#include "cli/commands.h"
#include "cli/in_order.h"
#include "cli/scan_input.h"

#include <exfilscan/engine/state_file.h>
#include <exfilscan/exit_codes.h>
#include <exfilscan/input/input_order.h>
#include <exfilscan/input/pipeline.h>
#include <exfilscan/order/event_order.h>

#include <algorithm>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace exfilscan::cli {

int run_explain(const RunConfig& c) {
  auto started = std::chrono::steady_clock::now();
  std::string payload;
  uint32_t version = 0;
  if (!c.state.empty()) {
    // Not locked: a nightly scan may hold the state, and explain never writes it.
    try {
      payload = read_state_unlocked(c.state, c.rules_fingerprint, version);
    } catch (const StateError& e) {
      note("exfilscan: {}\n", e.what());
      return exit_input_error;
    }
  }
  // As scan: files in time order, checked as they are judged, read again and sorted when out of
  // order (the report is written at the end: nothing to hold back); stdin as it comes unless
  // --sort-stdin.
  ReaderOptions told = c.reader;
  told.input_failed = [](const std::string& message) { note("exfilscan: {}\n", message); };
  InOrderReading in_order(c, std::move(told));
  ReaderOptions& reader = in_order.reader();
  reader.chunk_runs = true;
  BadLineLog bad_lines(c.reader.bad_lines, stderr);
  std::unique_ptr<ExplainReport> report;
  std::unique_ptr<DetectionEngine> engine;
  ReadResult result;
  for (;;) {
    report = std::make_unique<ExplainReport>(c.explain, c.rules, c.explain_key);
    EngineOptions options = c.engine;
    options.explain_key = c.explain_key;
    options.explain = [r = report.get()](const Explanation& e) { r->on_explanation(e); };
    engine = std::make_unique<DetectionEngine>(c.rules, options, *report);
    try {
      if (!payload.empty()) load_state_payload(*engine, c.state, engine_state_of(payload), version);
    } catch (const StateError& e) {
      note("exfilscan: {}\n", e.what());
      return exit_input_error;
    }
    reader.parser.read_prompt_text = engine->needs_prompt_text();
    reader.parser.read_turns = engine->needs_turns();
    reader.sink_uses_threads = engine->uses_threads();
    try {
      EventOrder order(in_order.order(), *engine);
      result = read_inputs_parallel(in_order.inputs(), reader, order, bad_lines, c.threads);
      order.finish();
    } catch (const OrderBroken&) {
      in_order.read_again(bad_lines);
      continue;
    } catch (const OrderError& e) {
      note("exfilscan: {}\n", e.what());
      return exit_input_error;
    }
    break;
  }
  // Every window is judged at the end, those a nightly run would carry to the next included.
  if (!result.stopped) engine->finish();
  std::vector<AccountSummary> ranking = engine->ranking(SIZE_MAX);
  const AccountSummary* account = nullptr;
  for (const AccountSummary& a : ranking)
    if (a.key == c.explain_key) account = &a;
  int code = exit_ok;
  if (!account) {
    note("exfilscan: no events for {} \"{}\" in the input\n", to_string(c.engine.group_by),
         printable(c.explain_key));
    code = exit_input_error;
  } else {
    report->set_cluster(engine->cluster_ties(c.explain_key));
    std::string out =
        report->finish(account, engine->threshold_peaks(c.explain_key), c.engine.group_by,
                       {result.stats.lines, result.stats.events, bad_lines.total()});
    code = write_output(c.output, out);
  }
  if (result.failure != ReadFailure::none) code = report_read_failure(result);
  if (!c.quiet) {
    bad_lines.print_suppressed();
    print_totals(result.stats, bad_lines,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return code;
}

}  // namespace exfilscan::cli
