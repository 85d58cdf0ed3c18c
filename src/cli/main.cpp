// exfilscan: the command line. Parses flags, resolves them into a run configuration and hands it
// to the command; everything else lives in the library.
#include "cli/commands.h"
#include "cli/options.h"

#include <exfilscan/exit_codes.h>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string_view>

namespace {

/// A standard descriptor the shell left closed (`>&-`) is held on /dev/null: otherwise the next
/// file this run opens (a state, a report) takes its number and receives what was meant for it.
/// Returns whether it was closed.
bool hold_if_closed(int fd, int flags) {
  if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) return false;
  int null = open("/dev/null", flags);
  if (null >= 0 && null != fd) {
    dup2(null, fd);
    close(null);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace exfilscan;
  using namespace exfilscan::cli;
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe becomes a write error we handle quietly
  hold_if_closed(STDIN_FILENO, O_RDONLY);
  bool stdout_closed = hold_if_closed(STDOUT_FILENO, O_WRONLY);
  hold_if_closed(STDERR_FILENO, O_WRONLY);  // diagnostics then go nowhere; the exit code stands

  const std::vector<std::string> commands = {"scan",  "normalize", "explain",
                                             "rules", "calibrate", "campaigns"};
  // `exfilscan help [COMMAND]` is `exfilscan [COMMAND] --help`.
  std::vector<char*> help_args;
  std::string help_flag = "--help";
  if (argc > 1 && std::string_view(argv[1]) == "help" && argc <= 3) {
    help_args.push_back(argv[0]);
    if (argc == 3) help_args.push_back(argv[2]);
    help_args.push_back(help_flag.data());
    argc = static_cast<int>(help_args.size());
    argv = help_args.data();
  }
  if (argc > 1 && argv[1][0] != '-' &&
      std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    std::string hint = closest_match(argv[1], commands);
    note("exfilscan: unknown command '{}'{}\nRun 'exfilscan --help' for the commands.\n", argv[1],
         hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint));
    return exit_input_error;
  }

  if (argc == 1) {
    note(
        "usage: exfilscan scan|normalize|explain|rules|calibrate|campaigns [OPTIONS] "
        "[FILES...]\nRun "
        "'exfilscan "
        "--help' for "
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
    note("exfilscan: {}\nRun 'exfilscan {} --help' for the flags.\n", msg, argc > 1 ? argv[1] : "");
    return exit_input_error;
  } catch (const CLI::ParseError& e) {
    note("exfilscan: {}\n", e.what());
    return exit_input_error;
  }

  RunConfig config;
  try {
    config = resolve(flags, command, isatty(STDIN_FILENO), isatty(STDOUT_FILENO));
  } catch (const CLI::ParseError& e) {
    note("exfilscan: {}\n", e.what());
    return exit_input_error;
  }
  bool writes_stdout = config.command == Command::rules || config.output == "-";
  if (stdout_closed && writes_stdout) {
    note("exfilscan: standard output is closed (>&-): nowhere to write the {}\n",
         config.command == Command::normalize ? "events" : "report");
    return exit_input_error;
  }
  // spdlog carries -v's log to stderr; without -v only warnings would show, and there are none.
  spdlog::set_default_logger(spdlog::stderr_color_st("exfilscan"));
  spdlog::set_pattern("exfilscan: %v");
  spdlog::set_level(config.verbose ? spdlog::level::info : spdlog::level::warn);
  return exfilscan::cli::run(config);
}
