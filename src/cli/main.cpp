// exfilscan: the command line. Parses flags, wires the reader to a sink, maps the outcome to an
// exit code. Everything else lives in the library.
#include "options.h"

#include <exfilscan/exit_codes.h>

#include <fmt/format.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace exfilscan::cli {

namespace {

/// The output pipe closed (`| head`): stop reading and exit quietly.
struct OutputClosed {};

/// Feeds the engine and stops the run when the report can no longer be written.
class ScanSink : public EventSink {
 public:
  ScanSink(DetectionEngine& engine, const Reporter& reporter)
      : engine_(engine), reporter_(reporter) {}
  void on_event(const Event& event) override {
    engine_.on_event(event);
    if (reporter_.failed()) throw OutputClosed{};
  }

 private:
  DetectionEngine& engine_;
  const Reporter& reporter_;
};

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

std::string with_commas(uint64_t n) {
  std::string digits = fmt::format("{}", n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string counted(uint64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", with_commas(n), noun, n == 1 ? "" : "s");
}

void print_totals(const ReadStats& s, const BadLineLog& bad, double seconds) {
  std::string skipped =
      bad.total() ? fmt::format(", {} skipped ({})", with_commas(bad.total()), bad.summary())
                  : ", 0 skipped";
  std::string blank = s.blank_lines ? fmt::format(", {} blank", with_commas(s.blank_lines)) : "";
  double mb = static_cast<double>(s.bytes) / 1e6;
  fmt::print(stderr, "exfilscan: {}, {}, {}{}{}; {:.1f} MB in {:.2f} s\n",
             counted(s.inputs, "input"), counted(s.lines, "line"), counted(s.events, "event"),
             skipped, blank, mb, seconds);
}

void print_engine_totals(const EngineStats& e) {
  std::string findings = fmt::format("{} finding{}", e.findings, e.findings == 1 ? "" : "s");
  std::string parts;
  for (size_t s = e.by_severity.size(); s-- > 0;)
    if (e.by_severity[s])
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", e.by_severity[s],
                           to_string(static_cast<Severity>(s)));
  if (!parts.empty()) findings += " (" + parts + ")";
  if (e.suppressed) findings += fmt::format(", {} suppressed", e.suppressed);
  std::string extra;
  if (e.events_without_account)
    extra += fmt::format(", {} events without an account", e.events_without_account);
  if (e.late_events)
    extra += fmt::format(", {} late events not counted (--max-skew)", e.late_events);
  if (e.accounts_expired)
    extra += fmt::format(", {} idle account{} expired", e.accounts_expired,
                         e.accounts_expired == 1 ? "" : "s");
  if (e.accounts_evicted)
    extra += fmt::format(", {} accounts evicted (max_accounts)", e.accounts_evicted);
  fmt::print(stderr, "exfilscan: {} accounts, {}{}\n", with_commas(e.accounts_seen), findings,
             extra);
}

int run(const RunConfig& c) {
  auto started = std::chrono::steady_clock::now();
  BadLineLog bad_lines(c.reader.bad_lines, stderr);
  ReadResult result;
  int code = exit_ok;

  if (c.command == Command::normalize) {
    std::FILE* out = stdout;
    if (c.output != "-") {
      out = std::fopen(c.output.c_str(), "wb");
      if (!out) {
        fmt::print(stderr, "exfilscan: {}: cannot write: {}\n", c.output, std::strerror(errno));
        return exit_input_error;
      }
    }
    CanonicalWriter writer(c.writer, out);
    NormalizeSink sink(writer);
    try {
      result = read_inputs(c.inputs, c.reader, sink, bad_lines);
      if (!writer.flush()) throw OutputClosed{};
    } catch (const OutputClosed&) {
      if (out != stdout) {
        fmt::print(stderr, "exfilscan: {}: write error: {}\n", c.output, std::strerror(errno));
        return exit_input_error;
      }
      return exit_ok;
    }
    if (out != stdout && std::fclose(out) != 0) {
      fmt::print(stderr, "exfilscan: {}: write error: {}\n", c.output, std::strerror(errno));
      return exit_input_error;
    }
  } else {
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
    } catch (const std::runtime_error& e) {
      fmt::print(stderr, "exfilscan: {}\n", e.what());
      for (OutputFile& f : files) std::fclose(f.file);
      return exit_input_error;
    }
    auto reporter = std::make_unique<ReportFanout>(std::move(outputs));
    DetectionEngine engine(c.rules, c.engine, *reporter);
    if (!c.state.empty() && !c.state_reset) {
      try {
        std::string payload = read_state_file(c.state, c.rules_fingerprint);
        if (!payload.empty()) {
          StateReader in(payload);
          engine.load_state(in);
        }
      } catch (const StateError& e) {
        fmt::print(stderr, "exfilscan: {}\n", e.what());
        return exit_input_error;
      }
    }
    ReaderOptions reader = c.reader;
    reader.parser.read_prompt_text = engine.needs_prompt_text();
    ScanSink sink(engine, *reporter);
    try {
      result = read_inputs(c.inputs, reader, sink, bad_lines);
      if (result.failure == ReadFailure::none) {
        // In cron mode open windows are carried to the next run, not judged early.
        engine.finish(c.state.empty());
        RunTotals totals{result.stats.lines, result.stats.events, bad_lines.total(),
                         engine.stats()};
        reporter->finish(engine.ranking(c.top), totals);
      }
      if (reporter->failed()) throw OutputClosed{};
    } catch (const OutputClosed&) {
      // A closed pipe on stdout is the reader of the report going away (`| head`): quiet. A
      // file that cannot be written is an error.
      int closed_code = exit_ok;
      for (OutputFile& f : files) {
        if (reporter->failed_at(f.reporter)) {
          fmt::print(stderr, "exfilscan: {}: write error: {}\n", f.path, std::strerror(errno));
          closed_code = exit_input_error;
        }
        std::fclose(f.file);
      }
      return closed_code;
    }
    if (!c.state.empty()) {
      if (result.failure != ReadFailure::none) {
        fmt::print(stderr, "exfilscan: {}: not updated (the input was not read to its end)\n",
                   c.state);
      } else {
        try {
          StateWriter out;
          engine.save_state(out);
          write_state_file(c.state, c.rules_fingerprint, out.data());
        } catch (const StateError& e) {
          fmt::print(stderr, "exfilscan: {}\n", e.what());
          code = exit_input_error;
        }
      }
    }
    for (OutputFile& f : files) {
      if (std::fclose(f.file) != 0 || reporter->failed_at(f.reporter)) {
        fmt::print(stderr, "exfilscan: {}: write error\n", f.path);
        code = exit_input_error;
      }
    }
    const EngineStats es = engine.stats();
    for (size_t s = static_cast<size_t>(c.fail_on); s < es.by_severity.size(); ++s)
      if (es.by_severity[s] && code == exit_ok) code = exit_findings;
    if (!c.quiet) print_engine_totals(es);
  }

  switch (result.failure) {
    case ReadFailure::none:
      break;
    case ReadFailure::strict_bad_line:
      fmt::print(stderr, "exfilscan: stopped at the first bad line (--strict)\n");
      code = exit_input_error;
      break;
    case ReadFailure::input_error:
      fmt::print(stderr, "exfilscan: {}\n", result.error);
      code = exit_input_error;
      break;
  }
  if (!c.quiet) {
    bad_lines.print_suppressed();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    print_totals(result.stats, bad_lines, seconds);
  }
  return code;
}

}  // namespace
}  // namespace exfilscan::cli

int main(int argc, char** argv) {
  using namespace exfilscan;
  using namespace exfilscan::cli;
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe becomes a write error we handle quietly

  const std::vector<std::string> commands = {"scan", "normalize"};
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    std::string hint = closest_match(argv[1], commands);
    fmt::print(stderr,
               "exfilscan: unknown command '{}'{}\nRun 'exfilscan --help' for the commands.\n",
               argv[1], hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
    return exit_input_error;
  }

  if (argc == 1) {
    fmt::print(stderr,
               "usage: exfilscan scan|normalize [OPTIONS] [FILES...]\nRun 'exfilscan --help' for "
               "more.\n");
    return exit_input_error;
  }

  Flags flags;
  Command command = Command::scan;
  auto app = make_app(flags, command);
  try {
    app->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app->exit(e);
  } catch (const CLI::ExtrasError& e) {
    // Suggest the nearest flag of the subcommand in use for each unknown one.
    std::vector<std::string> known;
    for (const CLI::App* sub : app->get_subcommands())
      for (const CLI::Option* opt : sub->get_options())
        for (const std::string& name : opt->get_lnames()) known.push_back("--" + name);
    std::string msg = e.what();
    for (int i = 2; i < argc; ++i) {
      std::string arg = argv[i];
      arg = arg.substr(0, arg.find('='));
      if (!arg.starts_with("--") || std::find(known.begin(), known.end(), arg) != known.end())
        continue;
      std::string hint = closest_match(arg, known);
      if (!hint.empty()) msg += fmt::format(" (did you mean '{}'?)", hint);
    }
    fmt::print(stderr, "exfilscan: {}\nRun 'exfilscan {} --help' for the flags.\n", msg,
               argc > 1 ? argv[1] : "");
    return exit_input_error;
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "exfilscan: {}\n", e.what());
    return exit_input_error;
  }

  RunConfig config;
  try {
    config = resolve(flags, command, isatty(STDIN_FILENO), isatty(STDOUT_FILENO));
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "exfilscan: {}\n", e.what());
    return exit_input_error;
  }
  return run(config);
}
