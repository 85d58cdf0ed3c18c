// `exfilscan calibrate`: the detectors run over traffic the user vouches for, each detector's
// strongest score per account kept as a histogram, and a rules file written whose bars hold the
// accounts at high to a target share.
#include "cli/commands.h"
#include "cli/in_order.h"

#include <exfilscan/exit_codes.h>
#include <exfilscan/input/input_order.h>
#include <exfilscan/input/pipeline.h>
#include <exfilscan/order/event_order.h>
#include <exfilscan/rules/calibration.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace exfilscan::cli {

namespace {

/// Each account's detector scores: its own, and its cluster's where that was higher (a member
/// ranks with its cluster, so a cluster's pooled verdict is what its members are seen at).
void add_accounts(ScoreHistograms& h, const std::vector<AccountSummary>& ranking,
                  uint64_t keys_seen, uint64_t& clusters) {
  std::unordered_map<std::string_view, const AccountSummary*> pooled;
  for (const AccountSummary& s : ranking)
    if (s.key_kind == "cluster") pooled.emplace(s.key, &s), ++clusters;
  uint64_t added = 0;
  for (const AccountSummary& s : ranking) {
    if (s.key_kind == "cluster") continue;
    std::vector<RuleScore> scores = s.rule_scores;
    if (auto c = pooled.find(s.cluster); !s.cluster.empty() && c != pooled.end())
      scores.insert(scores.end(), c->second->rule_scores.begin(), c->second->rule_scores.end());
    if (scores.empty()) continue;
    h.add(s.key, scores);
    ++added;
  }
  h.add_quiet(keys_seen > added ? keys_seen - added : 0);
}

/// "2026-11-01/2026-11-07 at 0.1%": what the calibration rests on.
std::string default_name(const CalibrationSource& s, double target) {
  return fmt::format("{}/{} at {:.2g}%", s.from.substr(0, 10), s.until.substr(0, 10), target * 100);
}

}  // namespace

int run_calibrate(const RunConfig& c) {
  auto started = std::chrono::steady_clock::now();
  // Scores are learnt on the detectors' own scale: bars a base rules file carries are set again.
  RuleSet rules = c.rules;
  std::vector<std::string> detectors;
  for (const char* d : {"volume_spike", "prompt_templating", "distillation_sweep", "logit_probe",
                        "release_chasing", "quota_hugging"}) {
    SeverityBars* bars = bars_of(rules, d);
    *bars = SeverityBars{0.5, 0.75};
    detectors.push_back(d);
  }
  ReportFanout findings({});  // findings are not the output: the scores behind them are
  // As scan: files in time order, checked as they are judged, read again and sorted when out of
  // order; stdin as it comes unless --sort-stdin.
  ReaderOptions told = c.reader;
  told.input_failed = [](const std::string& message) { note("exfilscan: {}\n", message); };
  told.chunk_runs = true;
  InOrderReading in_order(c, std::move(told));
  ReaderOptions& reader = in_order.reader();
  BadLineLog bad_lines(c.reader.bad_lines, stderr);
  std::unique_ptr<DetectionEngine> engine_made;
  std::unique_ptr<ScanSink> sink_made;
  ReadResult result;
  for (;;) {
    engine_made = std::make_unique<DetectionEngine>(rules, c.engine, findings);
    sink_made = std::make_unique<ScanSink>(*engine_made, findings, c.engine);
    reader.parser.read_prompt_text = engine_made->needs_prompt_text();
    reader.parser.read_turns = engine_made->needs_turns();
    reader.sink_uses_threads = engine_made->uses_threads();
    try {
      EventOrder order(in_order.order(), *sink_made);
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
  DetectionEngine& engine = *engine_made;
  ScanSink& sink = *sink_made;
  int code = exit_ok;
  if (result.failure != ReadFailure::none || result.inputs_unread > 0) {
    // Bars learnt on part of what the user vouched for would be someone else's bars.
    code = result.failure != ReadFailure::none ? report_read_failure(result) : exit_input_error;
    note("exfilscan: no rules file written: the input was not read whole\n");
  } else {
    engine.finish();
    const EngineStats stats = engine.stats();
    ScoreHistograms h(detectors, CalibrationOptions{}.named_accounts);
    CalibrationSource source;
    source.build = "exfilscan " EXFILSCAN_VERSION;
    source.group_by = std::string(to_string(c.engine.group_by));
    source.events = stats.events;
    auto [first, last] = sink.span();
    source.from = format_time(first, TimeZone{});
    source.until = format_time(last, TimeZone{});
    add_accounts(h, engine.ranking(0), stats.accounts_seen, source.clusters);
    if (stats.summaries_dropped > 0)
      note(
          "exfilscan: warning: {} flagged accounts' summaries were dropped over max_accounts: "
          "their scores are not in the calibration\n",
          stats.summaries_dropped);
    try {
      CalibrationResult learnt = learn_bars(h, c.calibration);
      source.name =
          c.calibration_name.empty() ? default_name(source, learnt.target_fpr) : c.calibration_name;
      for (const std::string& w : learnt.warnings) note("exfilscan: warning: {}\n", w);
      std::string out = calibrated_rules_toml(c.rules, learnt, source);
      code = write_output(c.output, out);
    } catch (const CalibrationError& e) {
      note("exfilscan: {}\n", e.what());
      code = exit_input_error;
    }
  }
  if (!c.quiet) {
    bad_lines.print_suppressed();
    print_totals(result.stats, bad_lines,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  return code;
}

}  // namespace exfilscan::cli
