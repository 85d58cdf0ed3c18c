#include <exfilscan/rules/rules.h>

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

// The parameters, one list: each line reads one from a rules file (R = TableReader) and writes
// it back (R = TomlWriter, for `exfilscan rules`). A new parameter is one line here, in the
// order default.toml gives it, and its value in default.toml. get() takes the bounds a value
// must be within; check() a condition on several.

template <class R>
void read_settings(R& r, Settings& s) {
  r.duration("window", s.window_ns);
  r.check(s.window_ns >= 10 * ns_per_minute && s.window_ns <= ns_per_day, "window",
          "from 10m to 24h");
  r.duration("day", s.day_ns);
  r.check(s.day_ns >= s.window_ns && s.day_ns <= 7 * ns_per_day, "day", "from the window to 7d");
  // Each account (and each part of one) keeps the day's windows: a bounded number of them.
  r.check(s.window_ns <= 0 || s.day_ns / s.window_ns <= 168, "day",
          "at most 168 windows (a week of hours, a day of 10-minute windows)");
  r.duration("history_half_life", s.history_half_life_ns);
  r.duration("long_horizon_every", s.long_horizon_every_ns);
  r.check(s.long_horizon_every_ns >= ns_per_minute && s.long_horizon_every_ns <= s.window_ns,
          "long_horizon_every", "from 1m to the window");
  r.check(s.history_half_life_ns >= ns_per_hour && s.history_half_life_ns <= 90 * ns_per_day,
          "history_half_life", "from 1h to 90d");
  r.duration("cooldown", s.cooldown_ns);
  r.duration("max_skew", s.max_skew_ns);
  r.duration("idle_expiry", s.idle_expiry_ns);
  r.get("max_accounts", s.max_accounts, 1, 1'000'000'000);
  r.get("text_analysis_start", s.text_analysis_start, 0, 1);
  r.get("text_full_analysis", s.text_full_analysis);
  r.get("text_sample_every", s.text_sample_every, 1, 1'000'000);
  r.get("answer_input_ratio", s.answer_input_ratio, 0.01, 100);
  r.get("min_answer_tokens", s.min_answer_tokens);
  r.get("answer_length_correlation", s.answer_length_correlation, -1, 1);
  r.finish();
}

template <class R>
void read_allow(R& r, AllowList& a) {
  r.strings("keys", a.keys);
  r.strings("orgs", a.orgs);
  r.strings("templates", a.templates);
  r.finish();
}

template <class R>
void read_detectors(R& r, RuleSet& rules) {
  if (auto v = r.sub("volume_spike",
                     "completion tokens in a window far above the account's own baseline and "
                     "its peers")) {
    VolumeSpikeRule& d = rules.volume_spike;
    v->get("enabled", d.enabled);
    v->get("min_requests", d.min_requests);
    v->get("min_completion_tokens", d.min_completion_tokens);
    v->get("baseline_hours", d.baseline_hours, 24, 24 * 60);
    v->get("min_baseline_hours", d.min_baseline_hours);
    v->get("baseline_mads", d.baseline_mads, 0, 100);
    v->get("ratio", d.ratio, 1, 1e6);
    v->get("peer_quantile", d.peer_quantile, 0.5, 1);
    v->get("min_population_windows", d.min_population_windows, 1, 1'000'000'000);
    v->get("new_account_quantile", d.new_account_quantile, 0.5, 1);
    v->get("new_account_ratio", d.new_account_ratio, 1, 1e6);
    v->duration("warmup", d.warmup_ns);
    v->get("warmup_ratio", d.warmup_ratio, 1, 1e6);
    v->duration("dormant_after", d.dormant_after_ns);
    v->get("max_score", d.max_score, 0, 1);
    v->get("full_score_ratio", d.full_score_ratio, 1.1, 1e6);
    v->finish();
  }
  if (auto t = r.sub("prompt_templating",
                     "most prompts stamped from one template with many distinct slot values")) {
    TemplatingRule& d = rules.prompt_templating;
    t->get("enabled", d.enabled);
    t->get("min_requests", d.min_requests);
    t->get("min_share", d.min_share, 0, 1);
    t->get("min_distinct_fills", d.min_distinct_fills, 0, 1e12);
    t->get("fills_full_ratio", d.fills_full_ratio, 1, 1e6);
    t->get("long_completion_tokens", d.long_completion_tokens);
    t->get("product_answer_share", d.product_answer_share, 0, 1);
    t->get("max_score_short_outputs", d.max_score_short_outputs, 0, 1);
    t->get("full_evidence_ratio", d.full_evidence_ratio, 1, 1e6);
    t->get("max_score_little_evidence", d.max_score_little_evidence, 0, 1);
    t->finish();
  }
  if (auto s = r.sub("distillation_sweep",
                     "systematic instruction/benchmark coverage, reasoning asked for, long "
                     "answers, steady")) {
    SweepRule& d = rules.distillation_sweep;
    s->get("enabled", d.enabled);
    s->get("min_requests", d.min_requests);
    s->get("min_score", d.min_score, 0, 1);
    s->get("long_completion_tokens", d.long_completion_tokens);
    s->get("sampling_full_share", d.sampling_full_share, 0.01, 1);
    s->get("chain_of_thought_full_share", d.chain_of_thought_full_share, 0.01, 1);
    s->get("human_instruction_share", d.human_instruction_share, 0, 0.99);
    s->get("cadence_min_slices", d.cadence_min_slices, 1, 60);
    s->get("cadence_min_gaps", d.cadence_min_gaps, 1, 1'000'000);
    s->get("cadence_min_windows", d.cadence_min_windows, 1, 10'000);
    s->get("metadata_only_weight", d.metadata_only_weight, 0, 1);
    s->duration("short_sweep", d.short_sweep_ns);
    s->get("max_score_short_sweep", d.max_score_short_sweep, 0, 1);
    s->get("sustained_ratio", d.sustained_ratio, 1, 1e6);
    s->get("sustained_bonus", d.sustained_bonus, 0, 1);
    s->get("max_segments", d.max_segments, 0, 64);
    s->get("segment_max_share", d.segment_max_share, 0, 1);
    if (auto wr = s->sub("weights", "the weights of the sweep's signals (they sum to 1)")) {
      SweepWeights& x = d.weights;
      wr->get("instruction", x.instruction, 0, 1);
      wr->get("diversity", x.diversity, 0, 1);
      wr->get("chain_of_thought", x.chain_of_thought, 0, 1);
      wr->get("single_turn", x.single_turn, 0, 1);
      wr->get("long_completion", x.long_completion, 0, 1);
      wr->get("sampling", x.sampling, 0, 1);
      wr->get("cadence", x.cadence, 0, 1);
      wr->finish();
      double sum = x.instruction + x.diversity + x.chain_of_thought + x.single_turn +
                   x.long_completion + x.sampling + x.cadence;
      wr->check(sum >= 0.99 && sum <= 1.01, "",
                fmt::format("the weights must sum to 1 (they sum to {:.3f})", sum));
    }
    s->finish();
  }
  if (auto l = r.sub("logit_probe",
                     "one prompt with many logit_bias maps and tiny completions (logit "
                     "extraction)")) {
    LogitProbeRule& d = rules.logit_probe;
    l->get("enabled", d.enabled);
    l->get("min_distinct_biases", d.min_distinct_biases);
    l->get("max_completion_tokens", d.max_completion_tokens);
    l->get("full_score_ratio", d.full_score_ratio, 1, 1e6);
    l->get("echo_min_ratio", d.echo_min_ratio, 1, 1e6);
    l->get("echo_full_score_ratio", d.echo_full_score_ratio, 1, 1e6);
    l->finish();
  }
  if (auto c = r.sub("release_chasing",
                     "most of a key's traffic moved to a model within hours of its first "
                     "appearance, with sweep evidence")) {
    ReleaseChasingRule& d = rules.release_chasing;
    c->get("enabled", d.enabled);
    c->duration("established", d.established_ns);
    c->duration("restart_after", d.restart_after_ns);
    c->duration("max_lag", d.max_lag_ns);
    c->get("min_requests", d.min_requests, 1, 1'000'000'000);
    c->get("min_requests_before", d.min_requests_before, 0, 1'000'000'000);
    c->get("min_moved_share", d.min_moved_share, 0.01, 1);
    c->get("min_sweep_score", d.min_sweep_score, 0, 1);
    c->get("move_bonus", d.move_bonus, 0, 1);
    c->get("max_score", d.max_score, 0, 1);
    c->finish();
  }
  if (auto q = r.sub("quota_hugging",
                     "a steady rate held at the key's own ceiling, HTTP 429s at its edge")) {
    QuotaHuggingRule& d = rules.quota_hugging;
    q->get("enabled", d.enabled);
    q->get("min_windows", d.min_windows, 2, 168);
    q->get("max_windows", d.max_windows, 2, 168);
    q->check(d.max_windows >= d.min_windows, "max_windows", "at least min_windows");
    q->get("min_window_requests", d.min_window_requests, 1, 1'000'000'000);
    q->get("max_dispersion", d.max_dispersion, 0, 1e6);
    q->get("min_ceiling_share", d.min_ceiling_share, 0, 1);
    q->get("min_throttled", d.min_throttled, 1, 1'000'000'000);
    q->get("max_throttled_share", d.max_throttled_share, 0, 1);
    q->get("min_keys_throttled_share", d.min_keys_throttled_share, 0, 1);
    q->get("min_key_throttled", d.min_key_throttled, 1, 1'000'000'000);
    q->get("max_score_key", d.max_score_key, 0, 1);
    q->get("max_score", d.max_score, 0, 1);
    q->finish();
  }
  r.finish();
}

template <class R>
void read_clusters(R& r, ClusterRule& c) {
  r.get("enabled", c.enabled);
  r.get("min_keys", c.min_keys, 2, 1'000'000);
  r.get("min_key_requests", c.min_key_requests, 1, 1'000'000);
  r.get("max_member_share", c.max_member_share, 0.01, 1);
  r.get("core_share", c.core_share, 0.01, 1);
  r.get("common_hours", c.common_hours, 2, 1'000'000);
  r.get("dominant_share", c.dominant_share, 0.5, 1);
  r.duration("wave", c.wave_ns);
  r.check(c.wave_ns >= ns_per_minute && c.wave_ns <= ns_per_day, "wave", "from 1m to 24h");
  r.duration("settled", c.settled_ns);
  r.get("max_listed_keys", c.max_listed_keys, 1, 100'000);
  r.finish();
}

/// Settings, allow-lists and detectors: every parameter but the threshold rules.
template <class R>
void read_parameters(R& root, RuleSet& rules) {
  if (auto s = root.sub("settings", "windows, episodes, memory and how much prompt text is read"))
    read_settings(*s, rules.settings);
  if (auto a = root.sub("allow", "findings for these are suppressed (still counted)"))
    read_allow(*a, rules.allow);
  if (auto d = root.sub("detectors", "")) read_detectors(*d, rules);
  if (auto c =
          root.sub("clusters", "keys linked into campaigns, each judged as one pooled account"))
    read_clusters(*c, rules.clusters);
}

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
  read_parameters(r, rules);
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
  read_parameters(root, rules);
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
