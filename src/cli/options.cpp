#include "cli/options.h"

#include "cli/kafka_options.h"

#include <exfilscan/hash.h>
#include <exfilscan/input/diagnostics.h>
#include <exfilscan/input/input.h>
#include <exfilscan/parse/batch_requests.h>
#include <exfilscan/parse/field_map.h>
#include <exfilscan/time_zone.h>
#include <exfilscan/timestamp.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

namespace exfilscan::cli {

namespace {

/// What a state's contents mean something under: the accounts (--group-by), how late an event
/// may come (--max-skew), the windows, and each threshold rule's key, window, filter and measure.
/// Not the detectors' bars, weights or caps, nor a rule's limit: the state holds evidence
/// (counts, windows, templates), and new bars judge the same evidence (an upgrade, a calibrated
/// rules file). A state written under other structure is refused.
uint64_t state_fingerprint(const RuleSet& rules, std::string_view group_by,
                           std::string_view max_skew) {
  std::string s = fmt::format("v2|{}|{}|{}", group_by, max_skew, rules.settings.window_ns);
  for (const ThresholdRule& t : rules.thresholds) {
    const EventFilter& f = t.filter;
    s += fmt::format("|{}|{}|{}|{}|{}|{}", t.id, to_string(t.group_by), t.window_ns,
                     static_cast<int>(t.aggregate), t.field, t.inclusive);
    for (int64_t x : f.statuses) s += fmt::format(",s{}", x);
    for (const std::string& x : f.status_classes) s += ",c" + x;
    for (EndpointKind x : f.endpoints) s += fmt::format(",e{}", to_string(x));
    for (const std::string& x : f.models) s += fmt::format(",m{}:{}", x.size(), x);
    if (f.logprobs) s += *f.logprobs ? ",l1" : ",l0";
  }
  return hash_bytes(s);
}

void add_input_flags(CLI::App& sub, Flags& f) {
  sub.add_option("inputs", f.inputs,
                 "Log files or directories (every file beneath, in path order; JSON lines, gzip "
                 "and zstd detected by their magic bytes). '-' or nothing reads standard input.");
  sub.add_option("--input-format", f.input_format,
                 "auto (sniff each line), canonical, litellm, bedrock, helicone, langfuse, "
                 "portkey, azure, azure-apim, openai-batch, openrouter, kong, envoy (higress), "
                 "vertex, cloudflare or mapped")
      ->check(CLI::IsMember({"auto", "canonical", "litellm", "litellm-spendlogs", "litellm-payload",
                             "bedrock", "helicone", "langfuse", "portkey", "azure", "azure-apim",
                             "openai-batch", "openrouter", "kong", "envoy", "higress", "vertex",
                             "cloudflare", "mapped"}));
  sub.add_option("--map", f.maps,
                 "FIELD=/json/pointer: read FIELD from that place (repeatable); alone it is the "
                 "whole schema, with --input-format it adds to the format's fields")
      ->allow_extra_args(false);  // one value per --map, so the files after it stay inputs
  sub.add_option("--map-file", f.map_file, "File of FIELD=/json/pointer lines ('#' comments)");
  sub.add_option("--max-line-bytes", f.max_line_bytes,
                 "Longer lines are skipped and reported (default 64 MiB)")
      ->check(CLI::Range(size_t{64}, size_t{1} << 34));
  sub.add_option("--max-diagnostics", f.max_diagnostics,
                 "Bad lines reported in full per reason; the rest are counted (default 5)");
  sub.add_flag("--strict", f.strict, "Stop at the first bad line with exit code 2");
  sub.add_flag("-q,--quiet", f.quiet, "Print nothing on stderr but errors");
  sub.add_flag("-v,--verbose", f.verbose,
               "Log what is being done (inputs, rules, state) on stderr");
  sub.add_option("--threads", f.threads,
                 "Threads to parse and judge on (default: one per core). The output is the same "
                 "for every value")
      ->check(CLI::Range(0u, 64u));
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1u : 0u)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string closest_match(std::string_view word, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& k : known) {
    size_t d = edit_distance(word, k);
    if (d < best_d) best_d = d, best = k;
  }
  return best;
}

std::unique_ptr<CLI::App> make_app(Flags& f, Command& command) {
  auto app = std::make_unique<CLI::App>(
      "exfilscan: finds accounts pulling bulk answers out of an LLM API (distillation, "
      "extraction) in gateway and provider request logs.\n\n"
      "Exit codes: 0 success, no finding at or above --fail-on; 1 scan found something at or "
      "above --fail-on (default high); 2 usage or input error (unreadable or truncated input, "
      "a bad line with --strict, a wrong rules file, an unusable or locked --state, a state not "
      "saved after the findings were written). A closed output pipe exits 0 quietly.",
      "exfilscan");
  app->require_subcommand(1);
  app->set_version_flag("-V,--version", "exfilscan " EXFILSCAN_VERSION);

  // The flags that decide what the detectors see and how: shared by scan, explain and rules.
  auto add_rule_flags = [&f](CLI::App& sub) {
    sub.add_option("--rules", f.rules_files,
                   "TOML rules read on top of the built-in ones (repeatable; docs/detection.md)")
        ->allow_extra_args(false);
    sub.add_flag("--no-default-rules", f.no_default_rules,
                 "Start from no rules: only what --rules files enable runs");
  };
  auto add_detection_flags = [&f, &add_rule_flags](CLI::App& sub) {
    sub.add_option("--group-by", f.group_by,
                   "Account identity: api_key (default), org, project, user, ip, ip24")
        ->check(CLI::IsMember({"api_key", "org", "project", "user", "ip", "ip24"}));
    add_rule_flags(sub);
    sub.add_option("--max-skew", f.max_skew,
                   "How late an event may come behind its account's newest and still count "
                   "(e.g. 5m; default from the rules: 5m)");
    sub.add_flag("--sort-stdin", f.sort_stdin,
                 "Read standard input (or a pipe) to its end and judge its events in time order, "
                 "as files are: findings then come at the end, not as they fire");
    sub.add_option("--sort-memory", f.sort_memory,
                   "Memory for events held to be sorted (default 64MiB; 64K to 1T); past it they "
                   "are spilled to a private directory in $TMPDIR, removed at the end")
        ->transform(CLI::AsSizeValue(false).description(""))
        ->check(CLI::Range(size_t{1} << 16, size_t{1} << 40).description(""))
        ->type_name("SIZE");
    sub.add_option("--since", f.since,
                   "Only events at or after this time (event time): 2026-11-02 (from its start), "
                   "2026-11-02T10:00 (in --tz), RFC 3339 with an offset, or a span back from now "
                   "(24h, 7d)");
    sub.add_option("--until", f.until,
                   "Only events before this time, as --since; a date alone includes its day");
    sub.add_flag("--include-prompts", f.include_prompts,
                 "Show sample prompt text in the evidence and string values in bad-line excerpts "
                 "(customers' data: off by default)");
    sub.add_option("--tz", f.tz,
                   "Show times in this time zone (Europe/Berlin, from the system's tz database) "
                   "or UTC offset (+05:30), and read --since/--until without an offset in it; "
                   "JSON lines and CSV stay UTC");
  };

  CLI::App* scan = app->add_subcommand(
      "scan", "Find accounts running extraction campaigns: findings as they fire, then a ranking");
  add_input_flags(*scan, f);
  add_kafka_flags(*scan, f, false);
  add_detection_flags(*scan);
  scan->add_option(
          "--format", f.format,
          "table, jsonl or csv (default: table when stdout is a terminal, jsonl otherwise)")
      ->check(CLI::IsMember({"table", "jsonl", "csv"}));
  scan->add_option("-o,--output", f.output, "Write the report here (default: standard output)");
  scan->add_option("--report-csv", f.report_csv, "Also write the findings as CSV to this file");
  scan->add_option("--report-jsonl", f.report_jsonl,
                   "Also write the JSON-lines report (findings, accounts, run) to this file");
  scan->add_option("--summary-csv", f.summary_csv, "Also write the account ranking as CSV here");
  scan->add_option("--report-html", f.report_html,
                   "Also write an HTML report here: the summary, the sortable ranking, and a "
                   "timeline with the evidence of each account at medium or above (one file, "
                   "nothing fetched)");
  scan->add_option("--state", f.state,
                   "Load per-account baselines and open windows from FILE and save them back at "
                   "the end (cron mode: docs/cron.md); a missing FILE starts fresh");
  scan->add_option("--state-dir", f.state_dir,
                   "With --kafka: keep each assigned partition's state in a file of its own in "
                   "DIR (created if missing; shared by the group's members): loaded when the "
                   "partition is assigned, saved every hour of event time, when it is revoked "
                   "and at the end, offsets committed after each save (docs/scale-out.md)")
      ->type_name("DIR");
  scan->add_flag("--state-reset", f.state_reset,
                 "With --state (or --state-dir): ignore what FILE holds and start over (it is "
                 "replaced at the end)");
  scan->add_flag("--wait", f.wait,
                 "With --state: wait for another exfilscan using FILE to finish, instead of "
                 "refusing to run (exit 2)");
  scan->add_option("--min-severity", f.min_severity,
                   "Findings shown from this severity (default info)")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  scan->add_option("--fail-on", f.fail_on,
                   "Exit 1 when a finding reaches this severity (default high)")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  scan->add_option("--color", f.color,
                   "Colour the table's severities: auto (on a terminal), always or never; "
                   "NO_COLOR set in the environment (no-color.org) means never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  scan->add_option("--top", f.top,
                   "Accounts without findings added to the ranking, busiest first (default 20)");
  scan->callback([&command] { command = Command::scan; });

  CLI::App* explain = app->add_subcommand(
      "explain",
      "Every detector's verdict and metrics on each window of one account: why it "
      "was flagged or not");
  explain->add_option("key", f.explain_key, "The account (in the --group-by identity)")->required();
  add_input_flags(*explain, f);
  add_detection_flags(*explain);
  explain
      ->add_option("--format", f.explain_format,
                   "text (default) or jsonl: one JSON object per line (docs/output.md)")
      ->check(CLI::IsMember({"text", "jsonl"}));
  explain->add_option("-o,--output", f.output, "Write the explanation here (default: stdout)");
  explain->add_option("--state", f.state,
                      "Start from the baselines and open windows a scan --state saved in FILE, "
                      "to reproduce a nightly run's verdicts (read only: the file is not changed)");
  explain->add_flag("--only-flagged", f.only_flagged,
                    "Show only the windows in which a detector fired or a finding came");
  explain->callback([&command] { command = Command::explain; });

  CLI::App* rules = app->add_subcommand(
      "rules",
      "Print the rules in force as a TOML rules file (rules > mine.toml starts one); "
      "--check validates");
  add_rule_flags(*rules);
  rules->add_option("--check", f.check_files, "Validate these rules files and say what is wrong")
      ->allow_extra_args(false);
  rules->callback([&command] { command = Command::rules; });

  CLI::App* calibrate = app->add_subcommand(
      "calibrate",
      "Learn the detectors' severity bars from traffic you vouch for, at a target false-positive "
      "rate: writes a rules file for scan --rules (docs/detection.md, \"Calibration\")");
  add_input_flags(*calibrate, f);
  add_detection_flags(*calibrate);
  calibrate
      ->add_option("--target-fpr", f.target_fpr,
                   "The share of these accounts the bars may put at high (default 0.001); ten "
                   "times it at medium")
      ->check(CLI::Range(1e-7, 0.1));
  calibrate->add_flag("--widen", f.widen,
                      "With too few accounts for --target-fpr, calibrate at the smallest target "
                      "they can hold (warned) instead of refusing (exit 2)");
  calibrate->add_option("--name", f.calibration_name,
                        "What scan reports as the calibration in force (default: the span and "
                        "the target)");
  calibrate->add_option("-o,--output", f.output, "Write the rules file here (default: stdout)");
  calibrate->callback([&command] { command = Command::calibrate; });

  CLI::App* campaigns = app->add_subcommand(
      "campaigns",
      "The cluster stage of a group of scan --kafka --profiles-topic members: links keys across "
      "members into clusters and judges each as one account (docs/scale-out.md)");
  add_input_flags(*campaigns, f);
  campaigns->remove_option(campaigns->get_option("inputs"));  // it reads the topics
  add_kafka_flags(*campaigns, f, true);
  add_detection_flags(*campaigns);
  campaigns
      ->add_option(
          "--format", f.format,
          "table, jsonl or csv (default: table when stdout is a terminal, jsonl otherwise)")
      ->check(CLI::IsMember({"table", "jsonl", "csv"}));
  campaigns->add_option("-o,--output", f.output,
                        "Write the report here (default: standard output)");
  campaigns->add_option("--report-jsonl", f.report_jsonl,
                        "Also write the JSON-lines report (findings, accounts, run) to this file");
  campaigns
      ->add_option("--min-severity", f.min_severity,
                   "Findings shown from this severity (default info)")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  campaigns
      ->add_option("--fail-on", f.fail_on,
                   "Exit 1 when a finding reaches this severity (default high)")
      ->check(CLI::IsMember({"info", "low", "medium", "high", "critical"}));
  campaigns->add_option("--top", f.top,
                        "Clusters without findings added to the ranking (default 20)");
  campaigns->callback([&command] { command = Command::campaigns; });

  CLI::App* normalize = app->add_subcommand(
      "normalize", "Write any supported log as canonical JSON lines (docs/log-format.md)");
  add_input_flags(*normalize, f);
  normalize->add_flag(
      "--include-prompts", f.include_prompts,
      "Include prompt text, and string values in bad-line excerpts (customers' data: left "
      "out unless asked for)");
  normalize->add_option("-o,--output", f.output, "Output file (default: standard output)");
  normalize->callback([&command] { command = Command::normalize; });
  return app;
}

namespace {

/// OpenAI Batch input files named beside other inputs (their output files) are not read as
/// events: their requests are held by custom_id and joined to the output lines. Only files
/// named on the command line are looked at (one small read each), not a directory's, and only
/// when something else is read too: an input file alone is read, and says it has no time.
void hold_batch_inputs(const std::vector<std::string>& named, RunConfig& c) {
  InputFormat format = c.reader.parser.format;
  if (named.size() < 2 ||
      (format != InputFormat::auto_detect && format != InputFormat::openai_batch))
    return;
  InputOptions sniff = c.reader.input;
  sniff.chunk_bytes = 64u << 10;
  std::vector<std::string> held;
  for (const std::string& path : named) {
    std::error_code ec;
    if (path != "-" && std::filesystem::is_regular_file(path, ec) && is_batch_input(path, sniff))
      held.push_back(path);
  }
  if (held.empty() || held.size() == c.inputs.size()) return;
  auto requests = std::make_shared<BatchRequests>();
  for (const std::string& path : held) {
    uint64_t other = 0;
    try {
      other = load_batch_input(path, c.reader.input, *requests);
    } catch (const InputError& e) {
      throw CLI::ValidationError(e.what());
    }
    std::erase(c.inputs, path);
    c.notes.push_back(
        fmt::format("{}: an OpenAI Batch input file, joined on custom_id to the "
                    "output lines{}",
                    path,
                    other ? fmt::format(" ({} lines that are not requests "
                                        "passed over)",
                                        other)
                          : ""));
  }
  c.notes.push_back(
      fmt::format("batch requests held: {} ({} bytes)", requests->size(), requests->bytes()));
  c.reader.parser.batch_requests = std::move(requests);
}

}  // namespace

RunConfig resolve(const Flags& f, Command command, bool stdin_is_terminal,
                  bool stdout_is_terminal) {
  RunConfig c;
  c.command = command;
  c.inputs = f.inputs;
  c.explain_key = f.explain_key;
  c.rules_files = f.rules_files;
  c.check_files = f.check_files;
  if (command == Command::rules) {
    c.rules = f.no_default_rules ? empty_rules() : default_rules();
    return c;  // rules files are read by the command itself, to report their errors
  }
  resolve_kafka(f, command == Command::campaigns, c);
  if (c.kafka) {
    c.inputs = {fmt::format("kafka:{}", c.kafka->topic)};  // its name in the reports
  } else if (c.inputs.empty()) {
    if (stdin_is_terminal)
      throw CLI::ValidationError("inputs", "no input files (give files, or '-' for stdin)");
    c.inputs.push_back("-");
  }
  try {
    if (!c.kafka) c.inputs = expand_inputs(c.inputs);
  } catch (const InputError& e) {
    throw CLI::ValidationError(e.what());
  }
  if (!parse_input_format(f.input_format, c.reader.parser.format))
    throw CLI::ValidationError("--input-format", "unknown format " + f.input_format);
  try {
    if (!f.map_file.empty()) c.reader.parser.field_map.load_file(f.map_file);
    for (const std::string& m : f.maps) c.reader.parser.field_map.add(m);
  } catch (const FieldMapError& e) {
    throw CLI::ValidationError(e.what());
  }
  if (c.reader.parser.format == InputFormat::mapped && c.reader.parser.field_map.empty())
    throw CLI::ValidationError("--input-format mapped needs --map or --map-file");
  c.reader.input.max_line_bytes = f.max_line_bytes;
  if (!c.kafka) hold_batch_inputs(f.inputs.empty() ? c.inputs : f.inputs, c);
  c.reader.bad_lines.max_reports_per_reason = f.max_diagnostics;
  c.reader.bad_lines.strict = f.strict;
  c.reader.bad_lines.show_values = f.include_prompts;
  c.writer.include_prompts = f.include_prompts;
  if (!parse_group_by(f.group_by, c.engine.group_by))
    throw CLI::ValidationError("--group-by", "unknown grouping " + f.group_by);
  c.engine.include_prompts = f.include_prompts;
  c.rules = f.no_default_rules ? empty_rules() : default_rules();
  if (f.no_default_rules && f.rules_files.empty())
    throw CLI::ValidationError("--no-default-rules needs at least one --rules file");
  try {
    for (const std::string& file : f.rules_files) merge_rules_file(c.rules, file);
  } catch (const RulesError& e) {
    throw CLI::ValidationError(e.what());
  }
  c.sort_streams = f.sort_stdin;
  c.order.buffer_bytes = f.sort_memory;
  c.state = f.state;
  c.state_reset = f.state_reset;
  c.explain.format = f.explain_format == "jsonl" ? ExplainFormat::jsonl : ExplainFormat::text;
  c.explain.only_flagged = f.only_flagged;
  c.calibration.target_fpr = f.target_fpr;
  c.calibration.widen = f.widen;
  c.calibration_name = f.calibration_name;
  // It is written into the rules file, which TOML wants in UTF-8: other bytes would not load.
  if (!simdjson::validate_utf8(f.calibration_name.data(), f.calibration_name.size())) {
    std::string why = "not UTF-8: ";
    why += printable(f.calibration_name);
    throw CLI::ValidationError("--name", why);
  }
  if (!f.state.empty() && !f.state_dir.empty())
    throw CLI::ValidationError(
        "--state FILE and --state-dir DIR together: give one (--state keeps one member's state "
        "in one file, --state-dir a file per partition for the members of a group)");
  if (f.state_reset && f.state.empty() && f.state_dir.empty())
    throw CLI::ValidationError("--state-reset needs --state FILE (or --state-dir DIR)");
  c.state_dir = f.state_dir;
  if (!f.state_dir.empty()) {
    std::error_code error;
    std::filesystem::create_directory(f.state_dir, error);
    if (error || !std::filesystem::is_directory(f.state_dir))
      throw CLI::ValidationError(
          fmt::format("--state-dir {}: not a directory that can be made ({})", f.state_dir,
                      error ? error.message() : "something else is there"));
  }
  c.wait = f.wait;
  if (f.wait && f.state.empty()) throw CLI::ValidationError("--wait needs --state FILE");
  c.rules_fingerprint = state_fingerprint(c.rules, f.group_by, f.max_skew);
  // --tz first: dates and times without an offset in --since/--until are read in it.
  if (!f.tz.empty()) {
    try {
      c.report.tz = TimeZone::load(f.tz);
    } catch (const TimeZoneError& e) {
      throw CLI::ValidationError(e.what());
    }
  }
  auto now = std::chrono::system_clock::now().time_since_epoch();
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  for (auto [flag, text, out] : {std::tuple{"--since", &f.since, &c.engine.since_ns},
                                 std::tuple{"--until", &f.until, &c.engine.until_ns}}) {
    if (text->empty()) continue;
    auto t = parse_time_bound(*text, c.report.tz, now_ns, out == &c.engine.until_ns);
    if (!t)
      throw CLI::ValidationError(fmt::format(
          "{}: \"{}\" is not a time (2026-11-02, 2026-11-02T10:00, 2026-11-02T10:00:00Z, or a "
          "span back from now: 24h, 7d)",
          flag, *text));
    *out = *t;
  }
  c.explain.tz = c.report.tz;
  if (!f.since.empty() && !f.until.empty() && c.engine.since_ns >= c.engine.until_ns)
    throw CLI::ValidationError(fmt::format(
        "--since {} is not before --until {} ({} >= {}): no event could be read", f.since, f.until,
        format_time(c.engine.since_ns, c.report.tz), format_time(c.engine.until_ns, c.report.tz)));
  if (!f.max_skew.empty()) {
    auto skew = parse_duration(f.max_skew);
    if (!skew)
      throw CLI::ValidationError("--max-skew", "expected a duration such as 30s, 5m or 1h");
    c.rules.settings.max_skew_ns = *skew;
  }
  bool terminal = stdout_is_terminal && f.output == "-";
  // Colour for a person at a terminal, or when asked for; NO_COLOR (no-color.org: set and not
  // empty) always wins, also over --color=always.
  const char* no_color = std::getenv("NO_COLOR");
  bool colour_wanted = f.color == "always" || (f.color == "auto" && terminal);
  c.report.colour = colour_wanted && !(no_color && *no_color);
  c.report.terminal = terminal;
  if (terminal) {
    struct winsize ws;
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) c.report.width = ws.ws_col;
  }
  // COLUMNS, when exported, sets the table's width also in a file (wrapped, keys never cut).
  if (const char* cols = std::getenv("COLUMNS")) {
    char* end = nullptr;
    unsigned long n = std::strtoul(cols, &end, 10);
    if (end != cols && *end == '\0' && n >= 40 && n <= 1000) c.report.width = n;
  }
  std::string format = f.format.empty() ? (terminal ? "table" : "jsonl") : f.format;
  parse_report_format(format, c.format);
  parse_severity(f.min_severity, c.report.min_severity);
  parse_severity(f.fail_on, c.fail_on);
  c.top = f.top;
  c.output = f.output;
  c.report_csv = f.report_csv;
  c.report_jsonl = f.report_jsonl;
  c.summary_csv = f.summary_csv;
  c.report_html = f.report_html;
  c.quiet = f.quiet;
  // N threads take turns: all parse the pieces of a chunk, then all judge it, each the
  // accounts of its shard.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  c.threads = f.threads == 0 ? cores : f.threads;
  c.engine.shards = c.threads;
  c.verbose = f.verbose && !f.quiet;
  c.progress = !f.quiet && ::isatty(STDERR_FILENO);
  // Prompt text is read only where it is used: normalize --include-prompts, and scan's text
  // detectors (see finish_config in main).
  c.reader.parser.read_prompt_text = command == Command::normalize && f.include_prompts;
  return c;
}

}  // namespace exfilscan::cli
