#pragma once
/// Per-account totals over a whole input: what `scan` reports before any detector has fired.

#include <exfilscan/account_key.h>
#include <exfilscan/hash.h>
#include <exfilscan/reader.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

namespace exfilscan {

struct AccountTotals {
  std::string key;
  uint64_t requests = 0;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t reasoning_tokens = 0;
  uint64_t throttled = 0;      // HTTP 429
  uint64_t client_errors = 0;  // other 4xx
  uint64_t server_errors = 0;  // 5xx
  uint64_t logprobs_requests = 0;
  uint64_t multi_sample_requests = 0;  // n > 1 or best_of > 1
  uint64_t logit_bias_requests = 0;
};

/// Totals per account; one entry per distinct key (bounded by active accounts, not lines).
class AccountActivity : public EventSink {
 public:
  explicit AccountActivity(GroupBy group_by) : group_by_(group_by) {}
  void on_event(const Event& event) override;
  /// Accounts by completion tokens, then requests, then key (a stable order for reports).
  std::vector<AccountTotals> ranked() const;
  size_t accounts() const { return totals_.size(); }
  GroupBy group_by() const { return group_by_; }

 private:
  /// Lets the map be searched with a string_view, so a known key costs no allocation.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return hash_bytes(key); }
  };
  GroupBy group_by_;
  std::unordered_map<std::string, AccountTotals, KeyHash, std::equal_to<>> totals_;
};

/// An aligned plain-text table of the ranking, at most `limit` rows (0: all).
void print_activity_table(std::FILE* out, const std::vector<AccountTotals>& rows, GroupBy group_by,
                          size_t limit);

}  // namespace exfilscan
