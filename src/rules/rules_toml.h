#pragma once
/// Internal: writes rules back as TOML. TomlWriter has the reading methods of rules.cpp's
/// TableReader (get, duration, strings, sub, check, finish), so that the one list of
/// parameters in rule_parameters.h (read_parameters) is both how a rules file is read and how
/// `exfilscan rules` prints the rules in force. A kind of value the reader learns, the writer
/// learns here too.

#include <exfilscan/rules/rules.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilscan::detail {

/// A TOML string, quoted and escaped.
std::string toml_string(std::string_view text);

/// One table of the output: its keys as they are given, then its sub-tables as sections of their
/// own. Checks are the reader's business: here they pass.
class TomlWriter {
 public:
  TomlWriter(std::string path, std::string comment)
      : path_(std::move(path)), comment_(std::move(comment)) {}

  void get(std::string_view key, bool& v) { add(key, v ? "true" : "false"); }
  void get(std::string_view key, uint64_t& v) { add(key, std::to_string(v)); }
  void get(std::string_view key, uint64_t& v, uint64_t, uint64_t) { get(key, v); }
  void get(std::string_view key, int64_t& v) { add(key, std::to_string(v)); }
  void get(std::string_view key, double& v, double, double);
  void duration(std::string_view key, int64_t& ns) { add(key, toml_string(format_duration(ns))); }
  void strings(std::string_view key, std::vector<std::string>& v);
  void text(std::string_view key, std::string& v) { add(key, toml_string(v)); }
  /// The sub-table `key`, written after this table's own keys, `comment` under its header.
  TomlWriter* sub(std::string_view key, std::string_view comment);
  void check(bool, std::string_view, std::string_view) const {}
  void finish() const {}

  /// The table and its sub-tables, each under its [header] (none for a table without keys of its
  /// own, such as [detectors]), values aligned.
  std::string text() const;

 private:
  void add(std::string_view key, std::string value);

  std::string path_;
  std::string comment_;
  std::vector<std::pair<std::string, std::string>> keys_;
  std::vector<std::unique_ptr<TomlWriter>> subs_;
};

/// Every setting, allow-list and detector parameter of `rules` into `root` (rule_parameters.h:
/// the same code that reads them).
void write_parameters(TomlWriter& root, RuleSet rules);

}  // namespace exfilscan::detail
