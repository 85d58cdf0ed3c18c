#include "detectors/verdict.h"

namespace exfilscan::detail {

int top_template(const Account& a) {
  if (!a.miner) return -1;
  int best = -1;
  uint64_t most = 0;
  for (size_t i = 0; i < a.miner->size(); ++i) {
    if (a.miner->matches(static_cast<int>(i)) > most) {
      most = a.miner->matches(static_cast<int>(i));
      best = static_cast<int>(i);
    }
  }
  return best;
}

}  // namespace exfilscan::detail
