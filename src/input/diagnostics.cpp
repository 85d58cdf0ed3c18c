#include <exfilscan/input/diagnostics.h>

#include <fmt/format.h>

namespace exfilscan {

std::string_view to_string(BadLineReason reason) {
  switch (reason) {
    case BadLineReason::bad_json:
      return "bad_json";
    case BadLineReason::invalid_utf8:
      return "invalid_utf8";
    case BadLineReason::wrong_type:
      return "wrong_type";
    case BadLineReason::missing_timestamp:
      return "missing_timestamp";
    case BadLineReason::bad_timestamp:
      return "bad_timestamp";
    case BadLineReason::line_too_long:
      return "line_too_long";
    case BadLineReason::implausible_value:
      return "implausible_value";
  }
  return "unknown";
}

namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a valid one.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

/// Appends the character at s[i] as printable() writes it; returns its length in s.
size_t append_printable(std::string& out, std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = utf8_sequence(s, i);
  // U+0080..U+009F (C2 80..C2 9F) are C1 controls: a terminal takes U+009B for CSI.
  bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
  if (n == 1 && c >= 0x20 && c != 0x7F) {
    out += static_cast<char>(c);
  } else if (n > 1 && !c1) {
    out.append(s.substr(i, n));
  } else {
    out += fmt::format("\\x{:02x}", c);
    n = 1;
  }
  return n;
}

/// End of the JSON string whose opening quote is at s[open]: the index of its closing quote, or
/// s.size() when the line ends inside it.
size_t string_end(std::string_view s, size_t open) {
  for (size_t j = open + 1; j < s.size(); ++j) {
    if (s[j] == '\\')
      ++j;
    else if (s[j] == '"')
      return j;
  }
  return s.size();
}

/// True when the string closed at s[close] is an object key (a colon follows).
bool is_key(std::string_view s, size_t close) {
  size_t j = close + 1;
  while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
  return j < s.size() && s[j] == ':';
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) i += append_printable(out, text, i);
  return out;
}

std::string make_excerpt(std::string_view line, size_t max_bytes, bool show_values) {
  std::string out;
  size_t i = 0;
  while (i < line.size() && out.size() < max_bytes) {
    if (!show_values && line[i] == '"') {
      size_t close = string_end(line, i);
      if (close == line.size()) {  // the line ends inside the string
        out += "\"***";
        i = close;
      } else if (!is_key(line, close)) {
        out += "\"***\"";
        i = close + 1;
      } else {
        while (i <= close && out.size() < max_bytes) i += append_printable(out, line, i);
      }
      continue;
    }
    i += append_printable(out, line, i);
  }
  if (i < line.size()) out += "...";
  return out;
}

bool BadLineLog::report(const BadLine& bad) {
  if (bad.value_left_out) {
    uint64_t count = ++left_out_[static_cast<size_t>(bad.reason)];
    ++left_out_total_;
    if (out_ && count <= options_.max_reports_per_reason &&
        count > left_out_shown_[static_cast<size_t>(bad.reason)]) {
      std::string msg = fmt::format("{}:{}: {}: {}; left out, the event kept", bad.input, bad.line,
                                    to_string(bad.reason), bad.detail);
      if (!bad.excerpt.empty()) msg += fmt::format(": {}", bad.excerpt);
      msg += '\n';
      std::fwrite(msg.data(), 1, msg.size(), out_);
    }
    return true;
  }
  uint64_t& count = counts_[static_cast<size_t>(bad.reason)];
  ++count;
  ++total_;
  if (out_ && (options_.strict || count <= options_.max_reports_per_reason) &&
      count > shown_[static_cast<size_t>(bad.reason)]) {
    std::string msg = fmt::format("{}:{}: {}", bad.input, bad.line, to_string(bad.reason));
    if (!bad.detail.empty()) msg += fmt::format(": {}", bad.detail);
    if (!bad.excerpt.empty()) msg += fmt::format(": {}", bad.excerpt);
    msg += '\n';
    std::fwrite(msg.data(), 1, msg.size(), out_);
  }
  return !options_.strict;
}

void BadLineLog::restart() {
  for (size_t r = 0; r < bad_line_reason_count; ++r) {
    shown_[r] = std::max(shown_[r], counts_[r]);
    left_out_shown_[r] = std::max(left_out_shown_[r], left_out_[r]);
  }
  counts_ = {};
  left_out_ = {};
  total_ = 0;
  left_out_total_ = 0;
}

namespace {

std::string summary_of(const std::array<uint64_t, bad_line_reason_count>& counts) {
  std::string out;
  for (size_t r = 0; r < bad_line_reason_count; ++r) {
    if (counts[r] == 0) continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", to_string(static_cast<BadLineReason>(r)), counts[r]);
  }
  return out;
}

}  // namespace

std::string BadLineLog::summary() const {
  return summary_of(counts_);
}

std::string BadLineLog::left_out_summary() const {
  return summary_of(left_out_);
}

void BadLineLog::print_suppressed() const {
  if (!out_) return;
  for (size_t r = 0; r < bad_line_reason_count && !options_.strict; ++r) {
    if (counts_[r] <= options_.max_reports_per_reason) continue;
    // Best effort, as every diagnostic: a full stderr must not end the run.
    std::string msg = fmt::format("exfilscan: ... and {} more {} lines not shown\n",
                                  counts_[r] - options_.max_reports_per_reason,
                                  to_string(static_cast<BadLineReason>(r)));
    std::fwrite(msg.data(), 1, msg.size(), out_);
  }
  for (size_t r = 0; r < bad_line_reason_count; ++r) {
    if (left_out_[r] <= options_.max_reports_per_reason) continue;
    std::string msg = fmt::format("exfilscan: ... and {} more {} values left out not shown\n",
                                  left_out_[r] - options_.max_reports_per_reason,
                                  to_string(static_cast<BadLineReason>(r)));
    std::fwrite(msg.data(), 1, msg.size(), out_);
  }
}

}  // namespace exfilscan
