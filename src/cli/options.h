#pragma once
/// The command line: flags as CLI11 fills them, and the run configuration resolved from them.

#include <exfilscan/engine/engine.h>
#include <exfilscan/input/kafka.h>
#include <exfilscan/input/reader.h>
#include <exfilscan/order/event_order.h>
#include <exfilscan/parse/account_key.h>
#include <exfilscan/report/canonical_writer.h>
#include <exfilscan/report/explain_report.h>
#include <exfilscan/report/report.h>
#include <exfilscan/rules/calibration.h>
#include <exfilscan/rules/rules.h>

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace exfilscan::cli {

/// Raw flag values, validated only as far as CLI11 can.
struct Flags {
  std::vector<std::string> inputs;
  std::string input_format = "auto";
  std::vector<std::string> maps;
  std::string map_file;
  size_t max_line_bytes = 64u << 20;
  size_t max_diagnostics = 5;
  bool strict = false;
  bool quiet = false;
  bool verbose = false;
  unsigned threads = 0;  // 0: as many as useful (2 on a machine with 2 cores or more)
  bool include_prompts = false;
  std::string output = "-";
  std::string group_by = "api_key";
  size_t top = 20;
  std::string format;  // empty: table on a terminal, jsonl otherwise
  std::vector<std::string> rules_files;
  std::string min_severity = "info";
  std::string fail_on = "high";
  std::string max_skew;  // empty: the rules' max_skew
  std::string report_csv, report_jsonl, summary_csv, report_html;
  bool no_default_rules = false;
  std::string state;
  std::string state_dir;
  bool state_reset = false;
  bool wait = false;
  std::string since, until, tz;
  std::string color = "auto";
  std::string explain_key;
  std::string explain_format = "text";
  bool only_flagged = false;
  std::vector<std::string> check_files;
  double target_fpr = 0.001;
  bool widen = false;
  std::string calibration_name;
  std::string kafka, topic, kafka_group, kafka_config, findings_topic, kafka_idle_timeout;
  std::string profiles_topic;
  bool kafka_until_end = false;
  bool sort_stdin = false;
  size_t sort_memory = 64u << 20;
};

enum class Command { scan, normalize, explain, rules, calibrate, campaigns };

/// What main() runs: library option structs only, no CLI types.
struct RunConfig {
  Command command = Command::scan;
  std::vector<std::string> inputs;
  ReaderOptions reader;
  CanonicalWriterOptions writer;
  EngineOptions engine;
  RuleSet rules;
  ReportFormat format = ReportFormat::jsonl;
  ReportOptions report;
  Severity fail_on = Severity::high;
  size_t top = 20;
  std::string output = "-";
  std::string report_csv, report_jsonl, summary_csv, report_html;  // extra outputs of one scan
  std::string state;      // cron mode: carry the engine's state between runs
  std::string state_dir;  // --kafka: a state file per partition (docs/scale-out.md)
  bool state_reset = false;
  bool wait = false;  // for the state's lock, instead of refusing the run
  bool verbose = false;
  unsigned threads = 1;
  bool progress = false;           // stderr is a terminal and not -q
  uint64_t rules_fingerprint = 0;  // what a state file must have been written with
  std::string explain_key;
  ExplainOptions explain;
  std::vector<std::string> check_files;
  std::vector<std::string> rules_files;
  CalibrationOptions calibration;
  std::string calibration_name;  // empty: named after the span and the target
  bool quiet = false;
  /// scan --kafka: the topic is the input (the paths stay empty).
  std::optional<KafkaOptions> kafka;
  std::string findings_topic;  // with --kafka: the report produced to this topic too
  /// scan --kafka: where the keys' profiles are published for the cluster stage; campaigns:
  /// where it reads them (docs/scale-out.md, "The cluster stage").
  std::string profiles_topic;
  /// How events are put in time order (docs/performance.md, "Inputs in any order"); the mode is
  /// chosen per run by the command.
  OrderOptions order;
  /// Standard input and pipes are sorted too (--sort-stdin), not judged as they come.
  bool sort_streams = false;
  /// What resolving did that -v tells (OpenAI Batch input files held for the join).
  std::vector<std::string> notes;
};

/// Builds the parser; `flags` receives the values and `command` the subcommand chosen.
std::unique_ptr<CLI::App> make_app(Flags& flags, Command& command);
/// Throws CLI::ValidationError for values that CLI11 could not check.
RunConfig resolve(const Flags& flags, Command command, bool stdin_is_terminal,
                  bool stdout_is_terminal);
/// "did you mean" for an unknown word among the known ones; empty when nothing is close.
std::string closest_match(std::string_view word, const std::vector<std::string>& known);

}  // namespace exfilscan::cli
