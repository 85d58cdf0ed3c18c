// The subcommands: each wires the library's stages for one job and maps the outcome to an exit
// code.
#include "cli/commands.h"
#include "cli/in_order.h"

#include "cli/scan_input.h"

#include <exfilscan/engine/state_file.h>
#include <exfilscan/exit_codes.h>
#include <exfilscan/input/input_order.h>
#include <exfilscan/input/pipeline.h>
#include <exfilscan/order/event_order.h>
#include <exfilscan/report/html_report.h>
#include <exfilscan/report/report.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace exfilscan::cli {

void load_state_payload(DetectionEngine& engine, const std::string& path,
                        const std::string& payload, uint32_t version) {
  try {
    StateReader in(payload, version);
    engine.load_state(in);
  } catch (const StateError& e) {
    throw StateError(fmt::format(
        "{}: the state cannot be loaded (its header says format {}): {} (it is left as it is; "
        "--state-reset starts over)",
        path, version, e.what()));
  }
}

/// What a failed write to standard output means: EPIPE is the reader going away (`| head`),
/// quiet and exit 0; anything else (a full disk, a closed descriptor) is exit 2 with a message.
int stdout_failure(int error) {
  if (error == EPIPE) return exit_ok;
  note("exfilscan: standard output: write error: {}\n", std::strerror(error));
  return exit_input_error;
}

/// Writes a command's whole output to stdout.
int write_stdout(const std::string& text) {
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0)
    return exit_ok;
  return stdout_failure(errno);
}

int write_output(const std::string& path, const std::string& text) {
  if (path == "-") return write_stdout(text);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  int error = ok ? 0 : errno;
  if (f && std::fclose(f) != 0 && ok) ok = false, error = errno;
  if (ok) return exit_ok;
  note("exfilscan: {}: cannot write: {}\n", path, std::strerror(error));
  return exit_input_error;
}

namespace {

class NormalizeSink : public EventSink {
 public:
  explicit NormalizeSink(CanonicalWriter& writer) : writer_(writer) {}
  void on_event(const Event& event) override {
    writer_.on_event(event);
    if (writer_.failed()) throw OutputClosed{};
  }

 private:
  CanonicalWriter& writer_;
};

std::string counted(uint64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", with_commas(n), noun, n == 1 ? "" : "s");
}

/// A one-line progress display on a terminal's stderr for inputs larger than a few MB: where it
/// is, how fast, and when a file will be done. Redrawn at most twice a second.
class ProgressMeter {
 public:
  explicit ProgressMeter(bool enabled) : enabled_(enabled), started_(clock::now()) {}
  ~ProgressMeter() { clear(); }

  void update(const ReadProgress& p) {
    if (!enabled_) return;
    auto now = clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return;
    if (p.input_size > 0 && p.input_size < 8'000'000 && p.inputs == 1) return;  // over soon anyway
    if (p.input_bytes_read == 0) return;  // nothing read yet (an input just opened, maybe empty)
    last_ = now;
    double seconds = std::chrono::duration<double>(now - started_).count();
    if (p.input_index != input_) input_ = p.input_index, input_started_ = now;
    double in_file = std::chrono::duration<double>(now - input_started_).count();
    std::string where = p.inputs > 1 ? fmt::format("{}/{} ", p.input_index + 1, p.inputs) : "";
    std::string line = fmt::format("exfilscan: {}{}  {:.0f} MB", where, p.input,
                                   static_cast<double>(p.input_bytes_read) / 1e6);
    if (p.input_size > 0 && p.input_bytes_read > 0) {
      double done = static_cast<double>(p.input_bytes_read) / static_cast<double>(p.input_size);
      double eta = in_file / done - in_file;
      line += fmt::format(" of {:.0f} MB ({:.0f}%), ETA {}:{:02d}",
                          static_cast<double>(p.input_size) / 1e6, done * 100,
                          static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    }
    if (seconds > 0)
      line += fmt::format(", {:.0f}k lines/s", static_cast<double>(p.lines) / seconds / 1e3);
    note("\r\x1b[K{}", line);
    shown_ = true;
  }
  void clear() {
    if (shown_) note("\r\x1b[K");
    shown_ = false;
  }

 private:
  using clock = std::chrono::steady_clock;
  bool enabled_;
  bool shown_ = false;
  clock::time_point started_, last_{}, input_started_{};
  size_t input_ = SIZE_MAX;
};

/// "104 accounts, 21 findings (1 critical, 7 high), 3 late events not counted (--max-skew)":
/// the findings written, and those --min-severity held back.
std::string engine_totals(const EngineStats& e, Severity min_severity) {
  FindingCounts n = finding_counts(e, min_severity);
  std::string out = fmt::format("{}, {}", counted(e.accounts_seen, "account"),
                                counted(n.total_written(), "finding"));
  std::string parts;
  for (size_t s = n.written.size(); s-- > 0;)
    if (n.written[s])
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n.written[s],
                           to_string(static_cast<Severity>(s)));
  if (!parts.empty()) out += " (" + parts + ")";
  if (n.total_held_back())
    out += fmt::format(", {} under --min-severity not shown", n.total_held_back());
  if (e.suppressed) out += fmt::format(", {} suppressed", e.suppressed);
  if (e.events_without_account)
    out += fmt::format(", {} without an account", counted(e.events_without_account, "event"));
  if (e.events_out_of_range)
    out += fmt::format(", {} outside --since/--until", counted(e.events_out_of_range, "event"));
  if (e.late_events)
    out += fmt::format(", {} too late to count (--max-skew)", counted(e.late_events, "event"));
  if (e.events_quarantined)
    out += fmt::format(", {} quarantined (far ahead of the clock, never confirmed)",
                       counted(e.events_quarantined, "event"));
  if (e.events_held)
    out += fmt::format(", {} held (ahead of the clock, not yet confirmed)",
                       counted(e.events_held, "event"));
  if (e.accounts_expired)
    out += fmt::format(", {} idle expired", counted(e.accounts_expired, "account"));
  if (e.accounts_evicted)
    out += fmt::format(", {} evicted (max_accounts)", counted(e.accounts_evicted, "account"));
  if (e.summaries_dropped)
    out += fmt::format(", {} dropped from the ranking (max_accounts)",
                       counted(e.summaries_dropped, "idle flagged account"));
  if (e.forgotten_dropped)
    out += fmt::format(", {} no longer remembered (max_accounts)",
                       counted(e.forgotten_dropped, "forgotten key"));
  if (e.templates_replaced)
    out += fmt::format(", {} replaced by newer ones (16 an account)",
                       counted(e.templates_replaced, "template"));
  if (e.parts_replaced)
    out += fmt::format(", {} of keys' traffic replaced by busier ones (max_segments)",
                       counted(e.parts_replaced, "part"));
  if (e.probes_untracked)
    out += fmt::format(", {} not tracked for logit probing (256 prompts a window)",
                       counted(e.probes_untracked, "probe"));
  return out;
}

/// ", 1,204 events put back in time order (up to 5 h 3 min late; 3 runs of 90,112 spilled to
/// disk)", or for a stream judged as it came, how many of its events came out of order.
std::string order_totals(const RunTotals& t) {
  const OrderStats& o = t.order;
  std::string out;
  if (o.events_reordered || o.spill_runs) {
    out = fmt::format(", {} put back in time order (up to {} late",
                      counted(o.events_reordered, "event"), format_lateness(o.max_lateness_ns));
    if (o.spill_runs)
      out += fmt::format("; {} of {} spilled to disk", counted(o.spill_runs, "run"),
                         with_commas(o.events_spilled));
    out += ")";
  }
  if (o.events_out_of_order)
    out += fmt::format(", {} out of time order, judged as they came (--sort-stdin sorts them)",
                       counted(o.events_out_of_order, "event"));
  return out;
}

}  // namespace

/// The closing line on stderr: what was read, what was skipped and why, what was found, and
/// how fast.
void print_totals(const ReadStats& s, const BadLineLog& bad, double seconds,
                  const std::string& found) {
  std::string skipped =
      bad.total() ? fmt::format(", {} skipped ({})", with_commas(bad.total()), bad.summary())
                  : ", 0 skipped";
  std::string blank = s.blank_lines ? fmt::format(", {} blank", with_commas(s.blank_lines)) : "";
  if (bad.values_left_out())
    blank += fmt::format(", {} left out of kept events ({})",
                         counted(bad.values_left_out(), "value"), bad.left_out_summary());
  double mb = static_cast<double>(s.bytes) / 1e6;
  note("exfilscan: {}, {}, {}{}{}{}; {:.1f} MB in {:.2f} s ({:.0f} MB/s)\n",
       counted(s.inputs, "input"), counted(s.lines, "line"), counted(s.events, "event"), skipped,
       blank, found.empty() ? "" : "; " + found, mb, seconds, seconds > 0 ? mb / seconds : 0.0);
}

/// Says why reading stopped early; the exit code for it.
/// Input errors were told as they came (input_failed); a strict stop is told here.
int report_read_failure(const ReadResult& result) {
  if (result.failure == ReadFailure::strict_bad_line)
    note("exfilscan: stopped at the first bad line (--strict)\n");
  else if (result.stopped)
    note("exfilscan: stopped at the first input that could not be read (--strict)\n");
  return exit_input_error;
}

namespace {

/// Tells an input error on stderr as it happens, clearing the progress line first.
std::function<void(const std::string&)> tell_input_errors(ProgressMeter* meter) {
  return [meter](const std::string& message) {
    if (meter) meter->clear();
    note("exfilscan: {}\n", message);
  };
}

/// The reader options of a run, with the progress display and -v logging hooked in.
ReaderOptions with_feedback(const RunConfig& c, ProgressMeter& meter) {
  ReaderOptions reader = c.reader;
  reader.input_failed = tell_input_errors(&meter);
  if (c.progress) reader.progress = [&meter](const ReadProgress& p) { meter.update(p); };
  if (c.verbose)
    reader.opened = [](std::string_view input, Compression compression, uint64_t size) {
      spdlog::info("reading {} ({}{})", input, to_string(compression),
                   size ? fmt::format(", {} bytes", size) : "");
    };
  return reader;
}

void log_rules(const RunConfig& c) {
  if (!c.verbose) return;
  const RuleSet& r = c.rules;
  std::vector<std::string> on;
  if (r.volume_spike.enabled) on.push_back("volume_spike");
  if (r.prompt_templating.enabled) on.push_back("prompt_templating");
  if (r.distillation_sweep.enabled) on.push_back("distillation_sweep");
  if (r.logit_probe.enabled) on.push_back("logit_probe");
  if (r.release_chasing.enabled) on.push_back("release_chasing");
  if (r.quota_hugging.enabled) on.push_back("quota_hugging");
  spdlog::info("rules: {}{}; detectors on: {}; {} threshold rules; window {}",
               c.rules_files.empty() ? "built-in" : "built-in + ", fmt::join(c.rules_files, ", "),
               fmt::join(on, ", "), r.thresholds.size(), format_duration(r.settings.window_ns));
  if (r.calibration.name == "none") {
    spdlog::info("severity bars: built-in (no calibration)");
  } else {
    spdlog::info("severity bars: calibration {} (target {:.2g}% at high, {} accounts)",
                 printable(r.calibration.name), r.calibration.target_fpr * 100,
                 r.calibration.accounts);
  }
}

/// Clears the progress line before a finding the table prints as it fires (at high and above,
/// on a terminal), so the two never share a line; the meter draws itself again on its next tick.
class ClearsProgress : public FindingSink {
 public:
  ClearsProgress(FindingSink& next, ProgressMeter& meter) : next_(next), meter_(meter) {}
  void on_finding(const Finding& f) override {
    if (f.severity >= Severity::high) meter_.clear();
    next_.on_finding(f);
  }

 private:
  FindingSink& next_;
  ProgressMeter& meter_;
};

int run_read(const RunConfig& c) {
  auto started = std::chrono::steady_clock::now();
  BadLineLog bad_lines(c.reader.bad_lines, stderr);
  ProgressMeter meter(c.progress);
  ReadResult result;
  int code = exit_ok;
  std::string found;        // what scan found, for the closing line
  std::string order_found;  // how its events were put in time order

  if (c.command == Command::normalize) {
    std::FILE* out = stdout;
    if (c.output != "-") {
      out = std::fopen(c.output.c_str(), "wb");
      if (!out) {
        note("exfilscan: {}: cannot write: {}\n", c.output, std::strerror(errno));
        return exit_input_error;
      }
    }
    CanonicalWriter writer(c.writer, out);
    NormalizeSink sink(writer);
    try {
      result = read_inputs_parallel(c.inputs, with_feedback(c, meter), sink, bad_lines, c.threads);
      if (!writer.flush()) throw OutputClosed{};
    } catch (const OutputClosed&) {
      if (out != stdout) {
        note("exfilscan: {}: write error: {}\n", c.output, std::strerror(writer.error()));
        return exit_input_error;
      }
      return stdout_failure(writer.error());
    }
    if (out != stdout && std::fclose(out) != 0) {
      note("exfilscan: {}: write error: {}\n", c.output, std::strerror(errno));
      return exit_input_error;
    }
  } else {
    // The state is locked before the outputs are opened: a run refused for another's lock must
    // not truncate the report that other run is writing.
    std::optional<StateFile> state;
    if (!c.state.empty()) {
      StateFileOptions options;
      options.wait = c.wait;
      options.waiting = [&c] {
        if (!c.quiet)
          note("exfilscan: {}: another exfilscan holds this state; waiting (--wait)\n", c.state);
      };
      try {
        state.emplace(c.state, options);
      } catch (const StateError& e) {
        note("exfilscan: {}\n", e.what());
        return exit_input_error;
      }
    }
    ScanInput input(c);
    // Every output is opened before reading starts: a wrong path fails at once, not after an
    // hour of input.
    struct OutputFile {
      std::FILE* file;
      std::string path;
      size_t reporter;
    };
    std::vector<OutputFile> files;
    std::vector<std::unique_ptr<Reporter>> outputs;
    auto open_out = [&](const std::string& path) -> std::FILE* {
      if (path == "-") return stdout;
      std::FILE* f = std::fopen(path.c_str(), "wb");
      if (!f)
        throw std::runtime_error(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
      files.push_back({f, path, outputs.size()});
      return f;
    };
    try {
      outputs.push_back(make_reporter(c.format, c.report, open_out(c.output)));
      if (!c.report_csv.empty())
        outputs.push_back(make_reporter(ReportFormat::csv, c.report, open_out(c.report_csv)));
      if (!c.report_jsonl.empty())
        outputs.push_back(make_reporter(ReportFormat::jsonl, c.report, open_out(c.report_jsonl)));
      if (!c.summary_csv.empty())
        outputs.push_back(make_summary_csv_reporter(c.report, open_out(c.summary_csv)));
      if (!c.report_html.empty())
        outputs.push_back(make_html_reporter(c.report, {c.inputs}, open_out(c.report_html)));
      if (auto produced = input.findings_producer()) outputs.push_back(std::move(produced));
    } catch (const std::runtime_error& e) {
      note("exfilscan: {}\n", e.what());
      for (OutputFile& f : files) std::fclose(f.file);
      return exit_input_error;
    }
    auto reporter = std::make_unique<ReportFanout>(std::move(outputs));
    try {
      input.prepare();  // campaigns: the profiles topic read to its end
    } catch (const std::runtime_error& e) {
      note("exfilscan: {}\n", e.what());
      for (OutputFile& f : files) std::fclose(f.file);
      return exit_input_error;
    }
    std::string state_payload;
    uint32_t state_version = 0;
    if (state && !c.state_reset) {
      try {
        state_payload = state->read(c.rules_fingerprint, state_version);
        if (!state_payload.empty()) state_payload = input.engine_payload(state_payload);
        if (c.verbose && state_payload.empty())
          spdlog::info("state: {} does not exist yet; starting fresh", c.state);
      } catch (const StateError& e) {
        note("exfilscan: {}\n", e.what());
        return exit_input_error;
      }
    }
    // Judging starts over when the inputs turn out not to be in time order: a new engine, from
    // the same state.
    auto make_engine = [&](FindingSink& findings) {
      auto engine = std::make_unique<DetectionEngine>(c.rules, input.engine_options(),
                                                      input.findings(findings));
      if (!state_payload.empty()) {
        load_state_payload(*engine, c.state, state_payload, state_version);
        if (c.verbose) spdlog::info("state: loaded {} ({} bytes)", c.state, state_payload.size());
      }
      return engine;
    };
    // (A topic is read once: its records are sorted as they come within the merge's bounds.)
    InOrderReading in_order(c, with_feedback(c, meter), !c.kafka);
    ReaderOptions& reader = in_order.reader();
    const std::vector<std::string>& inputs = in_order.inputs();
    if (c.verbose && inputs != c.inputs)
      spdlog::info("inputs in time order: {}", fmt::join(inputs, ", "));
    // A checked pass holds its findings until the input is known to be in order.
    ClearsProgress clearing(*reporter, meter);
    FindingHold held(clearing);
    auto findings_sink = [&]() -> FindingSink& {
      if (in_order.checking()) return held;
      return clearing;
    };
    std::unique_ptr<DetectionEngine> engine;
    try {
      engine = make_engine(findings_sink());
    } catch (const StateError& e) {
      note("exfilscan: {}\n", e.what());
      return exit_input_error;
    }
    reader.parser.read_prompt_text = engine->needs_prompt_text();
    reader.parser.read_turns = engine->needs_turns();
    reader.sink_uses_threads = engine->uses_threads();
    reader.chunk_runs = true;
    log_rules(c);
    for (;;) {
      ScanSink sink(*engine, *reporter, c.engine);
      EventOrder order(in_order.order(), sink);
      try {
        result = input.read(inputs, reader, order, bad_lines, *engine);
        order.finish();  // (after a --strict stop too: what was read before it is judged)
        if (!result.stopped) {
          // What could be read is reported in full, also when an input could not be read (its
          // error is told, and the exit code says it). In cron mode open windows are carried to
          // the next run, not judged early.
          engine->finish(c.state.empty() && c.state_dir.empty());
          held.release();
          RunTotals totals{result.stats.lines, result.stats.events, bad_lines.total(),
                           engine->stats()};
          std::tie(totals.first_event_ns, totals.last_event_ns) = sink.span();
          totals.calibration = c.rules.calibration.name;
          totals.order = order.stats();
          order_found = order_totals(totals);
          meter.clear();  // before the table (and anything else) reaches the terminal
          reporter->finish(input.ranking(engine->ranking(c.top)), totals);
        }
        held.release();  // (a --strict stop: the findings before it)
        if (reporter->failed()) throw OutputClosed{};
      } catch (const OrderBroken&) {
        if (c.verbose)
          spdlog::info("the events are not in time order: reading the inputs again to sort them");
        held.drop();
        in_order.read_again(bad_lines);
        try {
          engine = make_engine(findings_sink());
        } catch (const StateError& e) {
          note("exfilscan: {}\n", e.what());
          return exit_input_error;
        }
        continue;
      } catch (const OrderError& e) {
        note("exfilscan: {}\n", e.what());
        for (OutputFile& f : files) std::fclose(f.file);
        if (!c.state.empty()) note("exfilscan: {}: not updated\n", c.state);
        return exit_input_error;
      } catch (const OutputClosed&) {
        // A closed pipe on stdout is the reader of the report going away (`| head`): quiet. A
        // file that cannot be written is an error.
        int closed_code = c.output == "-" ? stdout_failure(reporter->error_at(0)) : exit_ok;
        for (OutputFile& f : files) {
          if (reporter->failed_at(f.reporter)) {
            note("exfilscan: {}: write error: {}\n", f.path,
                 std::strerror(reporter->error_at(f.reporter)));
            closed_code = exit_input_error;
          }
          std::fclose(f.file);
        }
        // Its input was not read to the end: saving would lose what the next run must see.
        if (!c.state.empty())
          note("exfilscan: {}: not updated (the report could not be written)\n", c.state);
        return closed_code;
      }
      break;
    }
    if (!c.state.empty()) {
      if (result.stopped || result.inputs_unread > 0) {
        // The next run must see what this one could not read: the old state stays. An input
        // read whole that held no event (exit 2 still says so) loses nothing: the state is saved.
        note("exfilscan: {}: not updated ({})\n", c.state,
             result.stopped ? "the input was not read to its end"
                            : fmt::format("{} input{} could not be read", result.inputs_unread,
                                          result.inputs_unread == 1 ? "" : "s"));
      } else {
        try {
          StateWriter out;
          engine->save_state(out);
          std::string payload = input.state_payload(out.data());
          state->save(c.rules_fingerprint, payload);
          if (c.verbose) spdlog::info("state: saved {} ({} bytes)", c.state, payload.size());
          input.state_saved();
        } catch (const StateError& e) {
          // Exit 2 hides the exit 1 of the findings: say they are there.
          note("exfilscan: the findings were written; the state was not saved: {}\n", e.what());
          code = exit_input_error;
        }
      }
    }
    // The other outputs were written to their end; one that failed is still an error.
    if (c.output == "-" && reporter->failed_at(0) &&
        stdout_failure(reporter->error_at(0)) != exit_ok)
      code = exit_input_error;
    for (OutputFile& f : files) {
      int error = reporter->failed_at(f.reporter) ? reporter->error_at(f.reporter) : 0;
      if (std::fclose(f.file) != 0 && error == 0) error = errno;
      if (error != 0) {
        note("exfilscan: {}: write error: {}\n", f.path, std::strerror(error));
        code = exit_input_error;
      }
    }
    if (!input.findings_produced()) code = exit_input_error;
    const EngineStats es = engine->stats();
    for (size_t s = static_cast<size_t>(c.fail_on); s < es.by_severity.size(); ++s)
      if (es.by_severity[s] && code == exit_ok) code = exit_findings;
    found = engine_totals(es, c.report.min_severity) + order_found;
  }

  if (result.failure != ReadFailure::none) code = report_read_failure(result);
  meter.clear();
  if (!c.quiet) {
    bad_lines.print_suppressed();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    print_totals(result.stats, bad_lines, seconds, found);
  }
  return code;
}

int run_rules(const RunConfig& c) {
  RuleSet rules = c.rules;
  std::string checked_text;
  try {
    for (const std::string& file : c.check_files) {
      RuleSet checked = c.rules;
      merge_rules_file(checked, file);
      int on = checked.volume_spike.enabled + checked.prompt_templating.enabled +
               checked.distillation_sweep.enabled + checked.logit_probe.enabled +
               checked.release_chasing.enabled + checked.quota_hugging.enabled;
      checked_text += fmt::format(
          "{}: ok ({} threshold rule{}, {} detector{} on)\n", file, checked.thresholds.size(),
          checked.thresholds.size() == 1 ? "" : "s", on, on == 1 ? "" : "s");
    }
    if (!c.check_files.empty()) return write_stdout(checked_text);
    for (const std::string& file : c.rules_files) merge_rules_file(rules, file);
  } catch (const RulesError& e) {
    note("exfilscan: {}\n", e.what());
    return exit_input_error;
  }
  return write_stdout(rules_toml(rules));
}

}  // namespace

int run(const RunConfig& c) {
  if (c.verbose)
    for (const std::string& note : c.notes) spdlog::info("{}", note);
  switch (c.command) {
    case Command::rules:
      return run_rules(c);
    case Command::explain:
      return run_explain(c);
    case Command::calibrate:
      return run_calibrate(c);
    case Command::scan:
    case Command::campaigns:
    case Command::normalize:
      break;
  }
  return run_read(c);
}

}  // namespace exfilscan::cli
