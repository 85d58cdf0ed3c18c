// The table: for a person, top-down. A summary that fits one screen (what was read, accounts,
// findings by severity, the accounts by risk), then each account with its findings under it,
// worst first, with the evidence. Lines wrap at word boundaries for the width; keys are never
// cut in a file, and on a terminal a cut shows an ellipsis (the full key is in the ranking).
#include <exfilscan/input/diagnostics.h>
#include <exfilscan/report/report.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

namespace exfilscan {

namespace {

/// Text from a log on one line: line breaks and tabs as spaces, control characters \xNN.
std::string flat(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return printable(out);
}

/// Columns a UTF-8 text takes (one per character).
size_t columns(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

/// The first `n` characters' bytes.
size_t prefix_bytes(std::string_view s, size_t n) {
  size_t i = 0;
  for (size_t chars = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == n) break;
  return i;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string plural(uint64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

class TableReporter final : public Reporter {
 public:
  using Reporter::Reporter;
  void write_finding(const Finding& f) override {
    findings_.push_back(f);
    if (options_.terminal && f.severity >= Severity::high) live(f);
  }

  void finish(const std::vector<AccountSummary>& ranking, const RunTotals& t) override {
    std::string o;
    if (live_) o += "\n";  // the report closes the run below what streamed
    summary(o, ranking, t);
    details(o, ranking);
    write(o);
    if (std::fflush(out_) != 0) fail();
  }

 private:
  std::string when(int64_t ns) const { return format_time(ns, options_.tz); }

  /// On a terminal a finding at high or above is printed as it fires (`tail -f log | exfilscan
  /// scan -` shows them while it reads); the grouped report still closes the run.
  void live(const Finding& f) {
    std::string o;
    if (!live_) o += "Findings at high and above, as they fire (the report follows at the end):\n";
    live_ = true;
    std::string lead =
        fmt::format("{}  {}  {}  ", upper(to_string(f.severity)), when(f.detected_at_ns), f.rule);
    o += fmt::format("{}  {}  {}  ", severity(f.severity, 0), when(f.detected_at_ns), f.rule);
    o += key_text(f.key, columns(lead));
    o += "  ";
    o += wrap(flat(f.reason), 2, 2);
    write(o);
    if (std::fflush(out_) != 0) fail();
  }

  std::string severity(Severity s, size_t pad) const {
    std::string word = upper(to_string(s));
    word.resize(std::max(word.size(), pad), ' ');
    if (!options_.colour) return word;
    const char* code = s >= Severity::high     ? "1;31"
                       : s == Severity::medium ? "33"
                       : s == Severity::low    ? "36"
                                               : "2";
    return fmt::format("\x1b[{}m{}\x1b[0m", code, word);
  }

  /// `text` after `lead` (already on the line, `lead_cols` wide), wrapped at spaces so that no
  /// line passes the width; continuation lines start `indent` columns in. A word longer than a
  /// line is broken, never dropped. Without a width, one line.
  std::string wrap(std::string_view text, size_t lead_cols, size_t indent) const {
    size_t width = options_.width;
    if (width == 0 || width < indent + 20) return std::string(text) + "\n";
    std::string out;
    size_t col = lead_cols;
    std::string pad(indent, ' ');
    size_t i = 0;
    bool line_start = true;  // nothing written on this line yet after the lead or the pad
    while (i < text.size()) {
      size_t spaces = 0;
      while (i < text.size() && text[i] == ' ') ++i, ++spaces;
      size_t end = std::min(text.find(' ', i), text.size());
      std::string_view word = text.substr(i, end - i);
      i = end;
      if (word.empty()) break;
      size_t w = columns(word);
      if (!line_start && col + spaces + w > width) {
        out += "\n" + pad;
        col = indent;
        line_start = true;
      }
      if (!line_start) {
        out.append(spaces, ' ');
        col += spaces;
      }
      while (col + w > width && width > col) {
        // Longer than the line: broken after a '/', ':' or '-' that fits, else where it must.
        size_t take = prefix_bytes(word, width - col);
        size_t soft = word.substr(0, take).find_last_of("/:-");
        if (soft != std::string_view::npos && soft + 1 >= take / 2) take = soft + 1;
        out += std::string(word.substr(0, take)) + "\n" + pad;
        word.remove_prefix(take);
        w = columns(word);
        col = indent;
      }
      out += word;
      col += w;
      line_start = false;
    }
    return out + "\n";
  }

  /// A key in a heading, after `used` columns, with its line break: wrapped in a file (never
  /// cut); on a terminal cut to the room left, with an ellipsis (the ranking has it whole).
  std::string key_text(std::string_view key, size_t used) const {
    std::string k = flat(key);
    if (!options_.terminal || options_.width == 0 || options_.width < used + 12)
      return wrap(k, used, 2);
    size_t room = options_.width - used;
    if (columns(k) <= room) return k + "\n";
    return k.substr(0, prefix_bytes(k, room - 1)) + "\xe2\x80\xa6\n";
  }

  void summary(std::string& o, const std::vector<AccountSummary>& ranking,
               const RunTotals& t) const {
    const EngineStats& e = t.engine;
    std::string read = fmt::format("Read {}: {}, {} skipped", plural(t.lines, "line"),
                                   plural(t.events, "event"), plural(t.skipped, "bad line"));
    if (t.first_event_ns != 0 || t.last_event_ns != 0)
      read += fmt::format("; event time {} to {}", when(t.first_event_ns), when(t.last_event_ns));
    if (t.order.events_reordered)
      read += fmt::format("; {} put back in time order (up to {} late)",
                          plural(t.order.events_reordered, "event"),
                          format_lateness(t.order.max_lateness_ns));
    if (e.late_events) read += fmt::format("; {} late, not judged", plural(e.late_events, "event"));
    if (e.events_out_of_range)
      read += fmt::format("; {} outside --since/--until", plural(e.events_out_of_range, "event"));
    o += wrap(read, 0, 2);
    if (t.calibration != "none")
      o += wrap(fmt::format("Severity bars calibrated: {}", printable(t.calibration)), 0, 2);
    size_t flagged = 0, allowed = 0, carried = 0, clusters = 0, through = 0;
    for (const AccountSummary& a : ranking) {
      if (a.key_kind == "cluster") {  // not an account of the run: its keys are
        clusters += !a.rules.empty();
        continue;
      }
      through += !a.cluster.empty() && a.risk > a.own_risk;
      if (allow_listed(a))
        ++allowed;
      else if (!a.rules.empty())
        // (A cluster stage's member key has no traffic at all: the members report it.)
        ++flagged, carried += a.first_seen_ns == 0 && a.total_requests > 0;
    }
    std::string accounts =
        fmt::format("{}: {} with findings", plural(e.accounts_seen, "account"), flagged);
    if (carried)
      accounts = fmt::format(
          "{} in this run; {} with findings, {} of them with no request in it "
          "(carried by the --state)",
          plural(e.accounts_seen, "account"), flagged, carried);
    if (through) accounts += fmt::format(" ({} through their cluster)", through);
    if (allowed) accounts += fmt::format(", {} allow-listed", allowed);
    if (clusters)
      accounts += fmt::format("; {} cluster{} of keys flagged", clusters, clusters == 1 ? "" : "s");
    o += wrap(accounts, 0, 2);
    std::string found = fmt::format("{}", plural(findings_.size(), "finding"));
    std::string parts;
    std::array<uint64_t, 5> by{};
    for (const Finding& f : findings_) ++by[static_cast<size_t>(f.severity)];
    for (size_t s = by.size(); s-- > 0;)
      if (by[s])
        parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", by[s],
                             to_string(static_cast<Severity>(s)));
    if (!parts.empty()) found += ": " + parts;
    if (e.findings > findings_.size())
      found += fmt::format(" ({} more under --min-severity)", e.findings - findings_.size());
    if (e.suppressed) found += fmt::format(" ({} more suppressed by allow-lists)", e.suppressed);
    o += wrap(found, 0, 2);

    if (flagged) {
      o += "\nAccounts by risk:\n";
      o += fmt::format("  {:>4}  {:<8}  {:>8}  {:>10}  {:>8}  {}\n", "risk", "severity", "requests",
                       "completion", "findings", "account");
      for (const AccountSummary& a : ranking) {
        if (a.rules.empty() || allow_listed(a)) continue;
        std::string lead =
            fmt::format("  {:>4.2f}  {}  {:>8}  {:>10}  {:>8}  ", a.risk, severity(a.severity, 8),
                        a.requests, a.completion_tokens, shown_for(a.key));
        std::string name = flat(a.key);
        if (!a.cluster.empty()) {
          name += "  in ";
          name += a.cluster;
        }
        o += lead + wrap(name, 2 + 4 + 2 + 8 + 2 + 8 + 2 + 10 + 2 + 8 + 2, 50);
      }
    }
    if (allowed) {
      o += "\nAllow-listed (not ranked):\n";
      for (const AccountSummary& a : ranking)
        if (allow_listed(a))
          o += "  " + wrap(fmt::format("{}  {} suppressed", flat(a.key),
                                       plural(a.suppressed_findings, "finding")),
                           2, 4);
    }
    bool others = std::any_of(ranking.begin(), ranking.end(),
                              [](const AccountSummary& a) { return a.rules.empty(); });
    if (others) {
      o += "\nBusiest accounts without findings:\n";
      o += fmt::format("  {:>8}  {:>10}  {}\n", "requests", "completion", "account");
      for (const AccountSummary& a : ranking)
        if (a.rules.empty())
          o += fmt::format("  {:>8}  {:>10}  ", a.requests, a.completion_tokens) +
               wrap(flat(a.key), 2 + 8 + 2 + 10 + 2, 26);
    }
  }

  /// "api_key; 120 requests, 5400 completion tokens; 10:00 to 11:00", this run's, and with a
  /// --state that carried more of it, the totals.
  std::string traffic(const AccountSummary& a) const {
    std::string out = a.first_seen_ns == 0
                          ? fmt::format("{}; no request in this run", a.key_kind)
                          : fmt::format("{}; {}, {} completion tokens; {} to {}", a.key_kind,
                                        plural(a.requests, "request"), a.completion_tokens,
                                        when(a.first_seen_ns), when(a.last_seen_ns));
    if (a.total_requests != a.requests)
      out += fmt::format("; with the runs before (--state): {}, {} completion tokens since {}",
                         plural(a.total_requests, "request"), a.total_completion_tokens,
                         when(a.total_first_seen_ns));
    if (a.key_kind == "cluster") out += fmt::format("; {} linked", plural(a.cluster_keys, "key"));
    if (!a.cluster.empty())
      out += fmt::format("; in {}{}", a.cluster,
                         a.risk > a.own_risk
                             ? fmt::format(", whose risk it takes (its own {:.2f})", a.own_risk)
                             : std::string());
    return out;
  }

  /// An account whose findings an allow-list suppressed, none of them shown.
  bool allow_listed(const AccountSummary& a) const {
    return a.suppressed_findings > 0 && shown_for(a.key) == 0;
  }
  size_t shown_for(const std::string& key) const {
    return static_cast<size_t>(std::count_if(findings_.begin(), findings_.end(),
                                             [&](const Finding& f) { return f.key == key; }));
  }

  void details(std::string& o, const std::vector<AccountSummary>& ranking) const {
    // Findings by key, worst first; keys in ranking order, then those with no account of
    // their own (threshold rules grouped by another field), by their worst finding.
    std::map<std::string, std::vector<const Finding*>> by_key;
    for (const Finding& f : findings_) by_key[f.key].push_back(&f);
    for (auto& [k, fs] : by_key)
      std::stable_sort(fs.begin(), fs.end(), [](const Finding* a, const Finding* b) {
        if (a->severity != b->severity) return a->severity > b->severity;
        return a->score > b->score;
      });
    std::vector<std::string> order;
    for (const AccountSummary& a : ranking)
      if (by_key.contains(a.key)) order.push_back(a.key);
    std::vector<std::string> rest;
    for (const auto& [k, fs] : by_key)
      if (std::find(order.begin(), order.end(), k) == order.end()) rest.push_back(k);
    std::stable_sort(rest.begin(), rest.end(), [&](const std::string& a, const std::string& b) {
      return by_key[a].front()->score > by_key[b].front()->score;
    });
    order.insert(order.end(), rest.begin(), rest.end());
    for (const std::string& k : order) {
      const std::vector<const Finding*>& fs = by_key[k];
      auto a = std::find_if(ranking.begin(), ranking.end(),
                            [&](const AccountSummary& s) { return s.key == k; });
      o += "\n";
      if (a != ranking.end()) {
        std::string lead = fmt::format("{}  risk {:.2f}  ", severity(a->severity, 0), a->risk);
        size_t lead_cols = upper(to_string(a->severity)).size() + 2 + 9 + 2;  // "risk 0.96"
        o += lead + key_text(k, lead_cols);
        o += "  " + wrap(traffic(*a), 2, 4);
      } else {
        o += severity(fs.front()->severity, 0) + "  " +
             key_text(k, upper(to_string(fs.front()->severity)).size() + 2);
        o += "  " + wrap(fmt::format("{}: judged by threshold rules grouped by it; no account "
                                     "of its own",
                                     fs.front()->key_kind),
                         2, 4);
      }
      for (const Finding* f : fs) finding(o, *f);
    }
  }

  void finding(std::string& o, const Finding& f) const {
    std::string head = fmt::format("{}  score {:.2f}  account risk {:.2f}  at {}", flat(f.rule),
                                   f.score, f.account_risk, when(f.detected_at_ns));
    size_t lead = 2 + std::max<size_t>(8, to_string(f.severity).size()) + 2;
    o += "  " + severity(f.severity, 8) + "  " + wrap(head, lead, 6);
    o += "      " + wrap(flat(f.reason), 6, 6);
    if (!f.template_text.empty()) o += "      template: " + wrap(flat(f.template_text), 16, 8);
    std::string metrics;
    for (const Metric& m : f.metrics)
      metrics += fmt::format("{}{}={}", metrics.empty() ? "" : " ", m.name, format_number(m.value));
    if (!metrics.empty()) o += "      metrics: " + wrap(metrics, 15, 8);
    std::string ids;
    for (const std::string& id : f.sample_request_ids) {
      if (!ids.empty()) ids += ' ';
      ids += flat(id);
    }
    if (!ids.empty()) o += "      requests: " + wrap(ids, 16, 8);
    if (f.key_kind == "cluster") {
      o += "      links: " + wrap(flat(f.links), 13, 8);
      std::string keys;
      for (const std::string& k : f.keys) {
        if (!keys.empty()) keys += ' ';
        keys += flat(k);
      }
      if (f.cluster_keys > f.keys.size())
        keys += fmt::format(" (and {} more)", f.cluster_keys - f.keys.size());
      o += "      keys: " + wrap(keys, 12, 8);
    }
    for (const std::string& p : f.sample_prompts) o += "      prompt: " + wrap(flat(p), 14, 8);
  }

  std::vector<Finding> findings_;
  bool live_ = false;  // findings at high were printed as they fired
};

}  // namespace

std::unique_ptr<Reporter> make_table_reporter(ReportOptions options, std::FILE* out) {
  return std::make_unique<TableReporter>(options, out);
}

}  // namespace exfilscan
