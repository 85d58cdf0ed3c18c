#pragma once
/// Internal: what a detector returns: its verdict on an account with the metrics behind it, fired
/// or not (so `explain` can show why).

#include "engine/account_state.h"

#include <exfilscan/rules/rules.h>

#include <array>
#include <initializer_list>
#include <vector>

namespace exfilscan::detail {

/// A verdict's metrics, named by literals: judging allocates nothing until a verdict is kept
/// (a finding, or `explain`), and most verdicts are not.
class VerdictMetrics {
 public:
  struct Item {
    const char* name;
    double value;
  };
  VerdictMetrics() = default;
  VerdictMetrics(std::initializer_list<Item> items) {
    for (const Item& m : items) push_back(m);
  }
  void push_back(Item m) {
    if (size_ < items_.size()) items_[size_++] = m;
  }
  const Item* begin() const { return items_.data(); }
  const Item* end() const { return items_.data() + size_; }
  std::vector<Metric> to_vector() const {
    std::vector<Metric> out;
    for (const Item& m : *this) out.push_back({m.name, m.value});
    return out;
  }

 private:
  std::array<Item, 24> items_{};
  size_t size_ = 0;
};

struct Verdict {
  bool fired = false;
  double score = 0;
  /// The detector held the score under high on purpose (evidence it trusts less: a spike alone,
  /// a one-off eval, short answers, a key alone under its limit): calibrated bars keep it there.
  bool medium_at_most = false;
  VerdictMetrics metrics;
  std::string reason;
  std::string template_text;
};

}  // namespace exfilscan::detail
