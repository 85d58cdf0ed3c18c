#include <exfilscan/account_activity.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>

namespace exfilscan {

void AccountActivity::on_event(const Event& ev) {
  std::string scratch;
  std::string_view key = account_key(ev, group_by_, scratch);
  if (key.empty()) key = "(none)";
  auto it = totals_.find(key);
  if (it == totals_.end()) {
    it = totals_.emplace(std::string(key), AccountTotals{}).first;
    it->second.key = std::string(key);
    it->second.first_seen_ns = ev.timestamp_ns;
    it->second.last_seen_ns = ev.timestamp_ns;
  }
  AccountTotals& t = it->second;
  ++t.requests;
  t.first_seen_ns = std::min(t.first_seen_ns, ev.timestamp_ns);
  t.last_seen_ns = std::max(t.last_seen_ns, ev.timestamp_ns);
  t.prompt_tokens += static_cast<uint64_t>(std::max<int64_t>(0, ev.prompt_tokens.value_or(0)));
  t.completion_tokens +=
      static_cast<uint64_t>(std::max<int64_t>(0, ev.completion_tokens.value_or(0)));
  t.reasoning_tokens +=
      static_cast<uint64_t>(std::max<int64_t>(0, ev.reasoning_tokens.value_or(0)));
  if (ev.status) {
    int64_t s = *ev.status;
    if (s == 429)
      ++t.throttled;
    else if (s >= 400 && s < 500)
      ++t.client_errors;
    else if (s >= 500)
      ++t.server_errors;
  }
  const RequestParams& p = ev.params;
  if (p.logprobs.value_or(false) || p.top_logprobs.value_or(0) > 0) ++t.logprobs_requests;
  if (p.n.value_or(1) > 1 || p.best_of.value_or(1) > 1) ++t.multi_sample_requests;
  if (p.logit_bias_entries.value_or(0) > 0) ++t.logit_bias_requests;
}

std::vector<AccountTotals> AccountActivity::ranked() const {
  std::vector<AccountTotals> rows;
  rows.reserve(totals_.size());
  for (const auto& [key, t] : totals_) rows.push_back(t);
  std::sort(rows.begin(), rows.end(), [](const AccountTotals& a, const AccountTotals& b) {
    if (a.completion_tokens != b.completion_tokens)
      return a.completion_tokens > b.completion_tokens;
    if (a.requests != b.requests) return a.requests > b.requests;
    return a.key < b.key;
  });
  return rows;
}

void print_activity_table(std::FILE* out, const std::vector<AccountTotals>& rows, GroupBy g,
                          size_t limit) {
  size_t n = limit ? std::min(limit, rows.size()) : rows.size();
  size_t width = to_string(g).size();
  for (size_t i = 0; i < n; ++i) width = std::max(width, std::min<size_t>(rows[i].key.size(), 40));
  std::string text =
      fmt::format("{:<{}}  {:>9}  {:>12}  {:>12}  {:>6}  {:>6}  {:>8}  {:>6}  {:<20}  {:<20}\n",
                  to_string(g), width, "requests", "prompt_tok", "completion", "429s", "errors",
                  "logprobs", "n>1", "first_seen", "last_seen");
  for (size_t i = 0; i < n; ++i) {
    const AccountTotals& t = rows[i];
    std::string key = t.key.size() > 40 ? t.key.substr(0, 37) + "..." : t.key;
    text +=
        fmt::format("{:<{}}  {:>9}  {:>12}  {:>12}  {:>6}  {:>6}  {:>8}  {:>6}  {:<20}  {:<20}\n",
                    key, width, t.requests, t.prompt_tokens, t.completion_tokens, t.throttled,
                    t.client_errors + t.server_errors, t.logprobs_requests, t.multi_sample_requests,
                    format_rfc3339(t.first_seen_ns).substr(0, 19) + "Z",
                    format_rfc3339(t.last_seen_ns).substr(0, 19) + "Z");
  }
  if (n < rows.size()) text += fmt::format("... {} more accounts\n", rows.size() - n);
  std::fwrite(text.data(), 1, text.size(), out);
}

}  // namespace exfilscan
