#include <exfilscan/rules/rules.h>

#include "rules/rule_parameters.h"
#include "rules/rules_toml.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace exfilscan {

std::optional<int64_t> parse_duration(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t unit = 0;
  switch (text.back()) {
    case 's':
      unit = ns_per_second;
      break;
    case 'm':
      unit = ns_per_minute;
      break;
    case 'h':
      unit = ns_per_hour;
      break;
    case 'd':
      unit = ns_per_day;
      break;
    default:
      return std::nullopt;
  }
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9' || n > 1'000'000) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  // (Past 292 years of nanoseconds the product would wrap: --max-skew 200000d went negative.)
  if (n == 0 || n > INT64_MAX / unit) return std::nullopt;
  return n * unit;
}

std::string format_duration(int64_t ns) {
  if (ns % ns_per_day == 0) return fmt::format("{}d", ns / ns_per_day);
  if (ns % ns_per_hour == 0) return fmt::format("{}h", ns / ns_per_hour);
  if (ns % ns_per_minute == 0) return fmt::format("{}m", ns / ns_per_minute);
  return fmt::format("{}s", ns / ns_per_second);
}

double calibrated_score(double x, const SeverityBars& b) {
  if (b.builtin()) return x;  // exactly: not one rounding off
  if (!(x > 0)) return 0;
  if (x < b.medium) return 0.5 * x / b.medium;
  if (x < b.high) return 0.5 + 0.25 * (x - b.medium) / (b.high - b.medium);
  if (b.high >= 1) return 0.75;  // a bar at 1: only a full score is high, never critical
  return std::min(1.0, 0.75 + 0.25 * (x - b.high) / (1 - b.high));
}

bool is_sum_field(std::string_view f) {
  return f == "prompt_tokens" || f == "completion_tokens" || f == "reasoning_tokens" ||
         f == "total_tokens" || f == "latency_ms";
}

bool is_distinct_field(std::string_view f) {
  return f == "api_key" || f == "org" || f == "project" || f == "user" || f == "ip" ||
         f == "model" || f == "user_agent" || f == "prompt" || f == "logit_bias";
}

bool EventFilter::matches(const Event& ev) const {
  if (!statuses.empty() &&
      (!ev.status || std::find(statuses.begin(), statuses.end(), *ev.status) == statuses.end()))
    return false;
  if (!status_classes.empty()) {
    if (!ev.status) return false;
    // "4xx" names the statuses from 400 to 499: compared by the first digit, nothing formatted.
    int64_t hundreds = *ev.status / 100;
    auto in_class = [&](const std::string& c) {
      return !c.empty() && c[0] >= '0' && c[0] <= '9' && c[0] - '0' == hundreds && *ev.status >= 0;
    };
    if (std::none_of(status_classes.begin(), status_classes.end(), in_class)) return false;
  }
  if (!endpoints.empty() &&
      std::find(endpoints.begin(), endpoints.end(), ev.endpoint_kind) == endpoints.end())
    return false;
  if (!models.empty() && std::find(models.begin(), models.end(), ev.model) == models.end())
    return false;
  if (logprobs && ev.params.logprobs.value_or(false) != *logprobs) return false;
  return true;
}

namespace {

/// Reads one TOML table strictly: every key must be known and of the right type; errors name
/// the file, line and dotted key. A `complete` table must also give every key asked for.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string_view source, std::string path,
              bool complete = false)
      : table_(table), source_(source), path_(std::move(path)), complete_(complete) {}

  [[noreturn]] void fail(const toml::node& node, std::string_view key,
                         std::string_view message) const {
    throw RulesError(
        fmt::format("{}:{}: {}: {}", source_, node.source().begin.line, dotted(key), message));
  }
  std::string dotted(std::string_view key) const {
    if (key.empty()) return path_;
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  const toml::node* find(std::string_view key) {
    seen_.insert(std::string(key));
    const toml::node* n = table_.get(key);
    if (!n && complete_ && missing_.empty()) missing_ = key;
    return n;
  }
  /// A key that may be left out even of a complete table.
  const toml::node* find_optional(std::string_view key) {
    seen_.insert(std::string(key));
    return table_.get(key);
  }

  void get(std::string_view key, bool& out) {
    if (auto* n = find(key)) {
      if (!n->is_boolean()) fail(*n, key, "expected true or false");
      out = n->as_boolean()->get();
    }
  }
  void get(std::string_view key, uint64_t& out) {
    if (auto* n = find(key)) {
      if (!n->is_integer() || n->as_integer()->get() < 0)
        fail(*n, key, "expected a whole number >= 0");
      out = static_cast<uint64_t>(n->as_integer()->get());
    }
  }
  void get(std::string_view key, uint64_t& out, uint64_t lo, uint64_t hi) {
    if (auto* n = find(key)) {
      int64_t v = n->is_integer() ? n->as_integer()->get() : -1;
      if (v < 0 || static_cast<uint64_t>(v) < lo || static_cast<uint64_t>(v) > hi)
        fail(*n, key, fmt::format("expected a whole number from {} to {}", lo, hi));
      out = static_cast<uint64_t>(v);
    }
  }
  void get(std::string_view key, int64_t& out) {
    uint64_t v = static_cast<uint64_t>(out);
    get(key, v);
    out = static_cast<int64_t>(v);
  }
  void get(std::string_view key, double& out, double lo, double hi) {
    if (auto* n = find(key)) {
      double v;
      if (n->is_integer())
        v = static_cast<double>(n->as_integer()->get());
      else if (n->is_floating_point())
        v = n->as_floating_point()->get();
      else
        fail(*n, key, "expected a number");
      if (v < lo || v > hi) fail(*n, key, fmt::format("expected a number from {} to {}", lo, hi));
      out = v;
    }
  }
  void duration(std::string_view key, int64_t& out) {
    if (auto* n = find(key)) {
      auto d = n->is_string() ? parse_duration(n->as_string()->get()) : std::nullopt;
      if (!d) fail(*n, key, "expected a duration such as \"30s\", \"10m\", \"1h\" or \"7d\"");
      out = *d;
    }
  }
  void strings(std::string_view key, std::vector<std::string>& out) {
    if (auto* n = find(key)) {
      if (!n->is_array()) fail(*n, key, "expected a list of strings");
      out.clear();
      for (const toml::node& item : *n->as_array()) {
        if (!item.is_string()) fail(item, key, "expected a list of strings");
        out.push_back(item.as_string()->get());
      }
    }
  }
  void text(std::string_view key, std::string& out) {
    if (auto* n = find(key)) {
      if (!n->is_string()) fail(*n, key, "expected a string");
      out = n->as_string()->get();
    }
  }
  /// A list of strings, or one string for a list of one (a threshold's filter).
  void one_or_more(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = find(key);
    if (n && n->is_string())
      out = {n->as_string()->get()};
    else if (n && !n->is_array())
      fail(*n, key, "expected a string or a list of strings");
    else
      strings(key, out);
  }
  void string(std::string_view key, std::string& out) {
    if (auto* n = find(key)) {
      if (!n->is_string()) fail(*n, key, "expected a string");
      out = n->as_string()->get();
    }
  }
  const toml::table* table(std::string_view key) {
    if (auto* n = find(key)) {
      if (!n->is_table()) fail(*n, key, "expected a table");
      return n->as_table();
    }
    return nullptr;
  }
  /// The reader of the sub-table `key`, if the file gives it. (The comment is for TomlWriter.)
  std::optional<TableReader> sub(std::string_view key, std::string_view /*comment*/) {
    if (const toml::table* t = table(key)) return sub(*t, key);
    return std::nullopt;
  }
  /// A condition on the values read so far (this file's, or those it left as they were): false
  /// fails at the key's line, or at the table's when this file does not give the key ("" names
  /// the table). A key missing from a complete table is said first: it explains the condition.
  void check(bool ok, std::string_view key, std::string_view message) const {
    if (ok) return;
    if (!missing_.empty())
      fail(table_, missing_, "missing (the built-in rules give every parameter)");
    const toml::node* n = key.empty() ? nullptr : table_.get(key);
    fail(n ? *n : table_, key, message);
  }
  /// Unknown keys are errors: a typo must not silently leave a default in force. So is a key
  /// left out of a complete table: there is no default to leave in force.
  void finish() const {
    for (auto&& [k, v] : table_)
      if (!seen_.count(std::string(k.str()))) fail(v, k.str(), "unknown key");
    if (!missing_.empty())
      fail(table_, missing_, "missing (the built-in rules give every parameter)");
  }
  std::string_view source() const { return source_; }
  const std::string& path() const { return path_; }
  bool complete() const { return complete_; }
  TableReader sub(const toml::table& table, std::string_view key) const {
    return TableReader(table, source_, dotted(key), complete_);
  }

 private:
  const toml::table& table_;
  std::string_view source_;
  std::string path_;
  bool complete_;
  std::string missing_;  // the first key asked for and not there, in a complete table
  std::set<std::string> seen_;
};

void read_filter(TableReader r, EventFilter& f) {
  if (auto* n = r.find("status")) {
    auto add = [&](const toml::node& item) {
      if (item.is_integer()) {
        f.statuses.push_back(item.as_integer()->get());
      } else if (item.is_string() && item.as_string()->get().size() == 3 &&
                 item.as_string()->get().ends_with("xx")) {
        f.status_classes.push_back(item.as_string()->get());
      } else {
        r.fail(item, "status", "expected an HTTP status (429) or class (\"4xx\"), or a list");
      }
    };
    if (n->is_array())
      for (const toml::node& item : *n->as_array()) add(item);
    else
      add(*n);
  }
  std::vector<std::string> endpoints;
  r.one_or_more("endpoint", endpoints);
  for (const std::string& e : endpoints) {
    EndpointKind kind = EndpointKind::unknown;
    for (EndpointKind k : {EndpointKind::chat, EndpointKind::completion, EndpointKind::embedding,
                           EndpointKind::responses, EndpointKind::other})
      if (to_string(k) == e) kind = k;
    if (kind == EndpointKind::unknown)
      r.fail(*r.find("endpoint"), "endpoint",
             "expected chat, completion, embedding, responses or other");
    f.endpoints.push_back(kind);
  }
  r.one_or_more("model", f.models);
  if (r.find("logprobs")) {
    bool b = false;
    r.get("logprobs", b);
    f.logprobs = b;
  }
  r.finish();
}

/// "count > 500", "sum(completion_tokens) >= 2e6", "distinct(api_key) > 50".
bool parse_condition(std::string_view c, ThresholdRule& rule, std::string& why) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  size_t op = c.find('>');
  if (op == std::string_view::npos) {
    why = "expected \"count > N\", \"sum(field) > N\" or \"distinct(field) > N\" (> or >=)";
    return false;
  }
  std::string_view lhs = trim(c.substr(0, op));
  std::string_view rhs = c.substr(op + 1);
  rule.inclusive = !rhs.empty() && rhs.front() == '=';
  if (rule.inclusive) rhs.remove_prefix(1);
  rhs = trim(rhs);
  std::string number(rhs);
  char* end = nullptr;
  rule.limit = std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || rule.limit < 0) {
    why = fmt::format("\"{}\" is not a number >= 0", rhs);
    return false;
  }
  if (lhs == "count") {
    rule.aggregate = Aggregate::count;
    return true;
  }
  for (auto [name, agg] :
       {std::pair{"sum", Aggregate::sum}, std::pair{"distinct", Aggregate::distinct}}) {
    std::string_view n = name;
    if (lhs.starts_with(n) && lhs.size() > n.size() + 2 && lhs[n.size()] == '(' &&
        lhs.back() == ')') {
      rule.aggregate = agg;
      rule.field = std::string(trim(lhs.substr(n.size() + 1, lhs.size() - n.size() - 2)));
      bool ok = agg == Aggregate::sum ? is_sum_field(rule.field) : is_distinct_field(rule.field);
      if (!ok) {
        why = agg == Aggregate::sum
                  ? fmt::format(
                        "sum() of \"{}\": fields are prompt_tokens, completion_tokens, "
                        "reasoning_tokens, total_tokens, latency_ms",
                        rule.field)
                  : fmt::format(
                        "distinct() of \"{}\": fields are api_key, org, project, user, "
                        "ip, model, user_agent, prompt, logit_bias",
                        rule.field);
      }
      return ok;
    }
  }
  why = fmt::format("\"{}\": expected count, sum(field) or distinct(field)", lhs);
  return false;
}

void read_threshold(TableReader r, const toml::node& node, std::vector<ThresholdRule>& out) {
  ThresholdRule rule;
  r.string("id", rule.id);
  if (rule.id.empty()) r.fail(node, "id", "every [[threshold]] needs an id");
  r.string("description", rule.description);
  if (const toml::table* f = r.table("filter"))
    read_filter(TableReader(*f, r.source(), r.dotted("filter")), rule.filter);
  std::string group = "api_key";
  r.string("group_by", group);
  if (!parse_group_by(group, rule.group_by))
    r.fail(*r.find("group_by"), "group_by", "expected api_key, org, project, user, ip or ip24");
  r.duration("window", rule.window_ns);
  r.string("condition", rule.condition);
  std::string why;
  if (rule.condition.empty()) r.fail(node, "condition", "every [[threshold]] needs a condition");
  if (!parse_condition(rule.condition, rule, why)) r.fail(*r.find("condition"), "condition", why);
  std::string severity = "medium";
  r.string("severity", severity);
  if (!parse_severity(severity, rule.severity))
    r.fail(*r.find("severity"), "severity", "expected info, low, medium, high or critical");
  r.finish();
  auto same =
      std::find_if(out.begin(), out.end(), [&](const ThresholdRule& t) { return t.id == rule.id; });
  if (same != out.end())
    *same = std::move(rule);
  else
    out.push_back(std::move(rule));
}

}  // namespace

namespace {

/// A key forgotten before it counts as dormant would come back as a new account: in the input's
/// first hours held to the warm-up's bar, not the dormant one. With volume_spike on, idle_expiry
/// must be at least dormant_after, so that every key that comes back from being forgotten is
/// dormant. The error names the key this file set.
void check_expiry(const RuleSet& rules, const toml::table& root, std::string_view source) {
  const Settings& s = rules.settings;
  const VolumeSpikeRule& v = rules.volume_spike;
  if (!v.enabled || s.idle_expiry_ns >= v.dormant_after_ns) return;
  std::string idle = format_duration(s.idle_expiry_ns);
  std::string dormant = format_duration(v.dormant_after_ns);
  const std::pair<const char*, std::string> said[] = {
      {"settings.idle_expiry",
       fmt::format("{} is shorter than detectors.volume_spike.dormant_after ({})", idle, dormant)},
      {"detectors.volume_spike.dormant_after",
       fmt::format("{} is longer than settings.idle_expiry ({})", dormant, idle)},
      {"detectors.volume_spike.enabled",
       fmt::format("settings.idle_expiry ({}) is shorter than dormant_after ({})", idle, dormant)},
  };
  const char* why = ": a key forgotten sooner would come back as a new account, not a dormant one";
  for (const auto& [key, what] : said)
    if (const toml::node* n = root.at_path(key).node())
      throw RulesError(
          fmt::format("{}:{}: {}: {}{}", source, n->source().begin.line, key, what, why));
  throw RulesError(fmt::format("{}: {}: {}{}", source, said[0].first, said[0].second, why));
}

void merge(RuleSet& rules, std::string_view text, std::string_view source, bool complete) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw RulesError(fmt::format("{}:{}: {}", source, e.source().begin.line, e.description()));
  }
  TableReader r(root, source, "", complete);
  detail::read_parameters(r, rules);
  if (const toml::node* n = r.find_optional("threshold")) {
    if (!n->is_array_of_tables()) r.fail(*n, "threshold", "expected [[threshold]] tables");
    size_t i = 0;
    for (const toml::node& item : *n->as_array())
      read_threshold(TableReader(*item.as_table(), source, fmt::format("threshold[{}]", i++)), item,
                     rules.thresholds);
  }
  r.finish();
  check_expiry(rules, root, source);
}

}  // namespace

void detail::write_parameters(detail::TomlWriter& root, RuleSet rules) {
  detail::read_parameters(root, rules);
}

void merge_rules(RuleSet& rules, std::string_view text, std::string_view source) {
  merge(rules, text, source, false);
}

RuleSet compile_complete_rules(std::string_view text, std::string_view source) {
  RuleSet rules;
  merge(rules, text, source, true);
  return rules;
}

void merge_rules_file(RuleSet& rules, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RulesError(fmt::format("{}: cannot read the rules file", path));
  std::stringstream text;
  text << in.rdbuf();
  merge_rules(rules, text.str(), path);
}

RuleSet empty_rules() {
  RuleSet rules = default_rules();
  rules.volume_spike.enabled = false;
  rules.prompt_templating.enabled = false;
  rules.distillation_sweep.enabled = false;
  rules.logit_probe.enabled = false;
  rules.release_chasing.enabled = false;
  rules.quota_hugging.enabled = false;
  rules.clusters.enabled = false;
  rules.allow = {};
  rules.thresholds.clear();
  return rules;
}

RuleSet default_rules() {
  return compile_complete_rules(default_rules_text(), "<built-in rules>");
}

}  // namespace exfilscan
