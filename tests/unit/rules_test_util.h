#pragma once
// Helpers of the rules' unit tests: the values of rules files and of printed rules by dotted key,
// read by toml++ alone (not through the rules' own reader).

#include <exfilscan/rules/rules.h>

#include <toml++/toml.h>
#include <catch2/catch.hpp>

#include <map>
#include <string>

namespace exfilscan::test {

/// The scalar values of a TOML table and the tables inside it, by dotted key (durations in
/// nanoseconds, booleans as 0 or 1).
inline void scalars(const toml::table& table, const std::string& prefix,
                    std::map<std::string, double>& out) {
  for (auto&& [k, node] : table) {
    std::string key = prefix + std::string(k.str());
    if (const toml::table* t = node.as_table()) {
      scalars(*t, key + ".", out);
    } else if (auto b = node.value_exact<bool>()) {
      out[key] = *b ? 1 : 0;
    } else if (auto i = node.value_exact<int64_t>()) {
      out[key] = static_cast<double>(*i);
    } else if (auto f = node.value_exact<double>()) {
      out[key] = *f;
    } else if (auto text = node.value_exact<std::string>()) {
      // "0d": a zero duration, as a RuleSet never compiled prints it (no rules file gives one).
      auto ns = *text == "0d" ? std::optional<int64_t>(0) : parse_duration(*text);
      INFO(key << " = \"" << *text << "\"");
      REQUIRE(ns);
      out[key] = static_cast<double>(*ns);
    }
  }
}

/// The settings' and detectors' values of a rules file's text.
inline std::map<std::string, double> parameters(const std::string& toml_text) {
  toml::table file = toml::parse(toml_text, std::string_view("rules"));
  std::map<std::string, double> out;
  for (const char* section : {"settings", "detectors"})
    if (const toml::table* t = file[section].as_table())
      scalars(*t, std::string(section) + ".", out);
  return out;
}

/// Every setting and detector parameter `rules` holds, as `exfilscan rules` prints them: the
/// printer writes what the one list of parameters names (src/rules/rules.cpp, read_parameters),
/// the list the reader reads.
inline std::map<std::string, double> parameters(const RuleSet& rules) {
  return parameters(rules_toml(rules));
}

}  // namespace exfilscan::test
