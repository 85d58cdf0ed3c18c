#include "rules/rules_toml.h"

#include <fmt/format.h>

#include <algorithm>

namespace exfilscan {

namespace {

/// A comment's text on one line: it comes from rules files too (a model name in a filter).
std::string one_line(std::string_view text) {
  std::string out(text);
  std::replace_if(
      out.begin(), out.end(),
      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }, ' ');
  return out;
}

/// `[a, b]`, or `a` alone: the filter takes a single value as a list of one.
std::string one_or_list(const std::vector<std::string>& values) {
  if (values.size() == 1) return values[0];
  return fmt::format("[{}]", fmt::join(values, ", "));
}

}  // namespace

namespace detail {

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        // Other control characters as escapes; UTF-8 as it is (TOML is UTF-8).
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  return out + '"';
}

void TomlWriter::get(std::string_view key, double& v, double, double) {
  // The shortest text that reads back as the same double ("0.3", "10", "1e+20").
  add(key, fmt::format("{}", v));
}

void TomlWriter::strings(std::string_view key, std::vector<std::string>& v) {
  std::vector<std::string> quoted;
  for (const std::string& s : v) quoted.push_back(toml_string(s));
  add(key, fmt::format("[{}]", fmt::join(quoted, ", ")));
}

TomlWriter* TomlWriter::sub(std::string_view key, std::string_view comment) {
  std::string path = path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  subs_.push_back(std::make_unique<TomlWriter>(std::move(path), std::string(comment)));
  return subs_.back().get();
}

void TomlWriter::add(std::string_view key, std::string value) {
  keys_.emplace_back(std::string(key), std::move(value));
}

std::string TomlWriter::text() const {
  std::string out;
  if (!keys_.empty()) {
    if (!path_.empty()) out += fmt::format("\n[{}]\n", path_);
    if (!comment_.empty()) out += fmt::format("# {}\n", one_line(comment_));
    size_t width = 0;
    for (const auto& [key, value] : keys_) width = std::max(width, key.size());
    for (const auto& [key, value] : keys_) out += fmt::format("{:<{}} = {}\n", key, width, value);
  }
  for (const auto& sub : subs_) out += sub->text();
  return out;
}

}  // namespace detail

namespace {

std::string filter_text(const EventFilter& f) {
  std::vector<std::string> parts;
  std::vector<std::string> statuses;
  for (int64_t s : f.statuses) statuses.push_back(std::to_string(s));
  for (const std::string& c : f.status_classes) statuses.push_back(c);
  if (!statuses.empty()) parts.push_back(fmt::format("status {}", fmt::join(statuses, "|")));
  std::vector<std::string> endpoints;
  for (EndpointKind k : f.endpoints) endpoints.emplace_back(to_string(k));
  if (!endpoints.empty()) parts.push_back(fmt::format("endpoint {}", fmt::join(endpoints, "|")));
  if (!f.models.empty()) parts.push_back(fmt::format("model {}", fmt::join(f.models, "|")));
  if (f.logprobs) parts.emplace_back(*f.logprobs ? "logprobs" : "no logprobs");
  return parts.empty() ? "every event" : fmt::format("{}", fmt::join(parts, ", "));
}

/// The filter as an inline table, each key as read_filter reads it; "" for no filter.
std::string filter_toml(const EventFilter& f) {
  std::vector<std::string> parts;
  std::vector<std::string> statuses;
  for (int64_t s : f.statuses) statuses.push_back(std::to_string(s));
  for (const std::string& c : f.status_classes) statuses.push_back(detail::toml_string(c));
  if (!statuses.empty()) parts.push_back("status = " + one_or_list(statuses));
  std::vector<std::string> endpoints;
  for (EndpointKind k : f.endpoints) endpoints.push_back(detail::toml_string(to_string(k)));
  if (!endpoints.empty()) parts.push_back("endpoint = " + one_or_list(endpoints));
  std::vector<std::string> models;
  for (const std::string& m : f.models) models.push_back(detail::toml_string(m));
  if (!models.empty()) parts.push_back("model = " + one_or_list(models));
  if (f.logprobs) parts.push_back(fmt::format("logprobs = {}", *f.logprobs));
  return parts.empty() ? "" : fmt::format("{{ {} }}", fmt::join(parts, ", "));
}

/// One [[threshold]], every key written out; the comment says what it counts.
std::string threshold_toml(const ThresholdRule& t) {
  std::vector<std::pair<std::string_view, std::string>> keys = {{"id", detail::toml_string(t.id)}};
  if (!t.description.empty()) keys.emplace_back("description", detail::toml_string(t.description));
  if (std::string filter = filter_toml(t.filter); !filter.empty())
    keys.emplace_back("filter", filter);
  keys.emplace_back("group_by", detail::toml_string(to_string(t.group_by)));
  keys.emplace_back("window", detail::toml_string(format_duration(t.window_ns)));
  keys.emplace_back("condition", detail::toml_string(t.condition));
  keys.emplace_back("severity", detail::toml_string(to_string(t.severity)));
  std::string out = fmt::format(
      "\n[[threshold]]\n# {}\n",
      one_line(fmt::format("{} per {} in {}, over {}", t.condition, to_string(t.group_by),
                           format_duration(t.window_ns), filter_text(t.filter))));
  size_t width = 0;
  for (const auto& [key, value] : keys) width = std::max(width, key.size());
  for (const auto& [key, value] : keys) out += fmt::format("{:<{}} = {}\n", key, width, value);
  return out;
}

}  // namespace

std::string rules_toml(const RuleSet& rules) {
  std::string out =
      "# The rules in force, as a rules file: `exfilscan scan --no-default-rules --rules FILE`\n"
      "# runs exactly these. Every parameter is written out; docs/detection.md says what each\n"
      "# does, src/rules/default.toml why the built-in values are what they are.\n"
      "# Durations: 30s, 10m, 1h, 7d.\n";
  detail::TomlWriter root("", "");
  detail::write_parameters(root, rules);
  out += root.text();
  for (const ThresholdRule& t : rules.thresholds) out += threshold_toml(t);
  return out;
}

}  // namespace exfilscan
