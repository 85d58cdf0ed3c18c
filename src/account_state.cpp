#include "account_state.h"

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {
// Bin b holds values in [2^((b-1)/4), 2^(b/4)); bin 0 holds values below 1.
size_t bin_of(double v) {
  if (v < 1) return 0;
  size_t b = static_cast<size_t>(std::floor(std::log2(v) * 4)) + 1;
  return b < 160 ? b : 159;
}
double value_of(size_t b) {
  return b == 0 ? 0 : std::exp2((static_cast<double>(b) - 0.5) / 4);
}
}  // namespace

void LogHistogram::add(double value, uint64_t weight) {
  counts_[bin_of(value)] += weight;
  count_ += weight;
}

double LogHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < bins; ++b) {
    seen += counts_[b];
    if (seen >= rank) return value_of(b);
  }
  return value_of(bins - 1);
}

void LogHistogram::clear() {
  counts_.fill(0);
  count_ = 0;
}

void WindowStats::clear(int64_t start, int64_t window_ns) {
  start_ns = start;
  last_ns = start;
  slice_ns = std::max<int64_t>(1, window_ns / 60);
  throttled = client_errors = server_errors = 0;
  min_temperature = 1e9;
  max_temperature = -1;
  last_gap_ns = start;
  gaps = 0;
  gap_mean = gap_m2 = 0;
  requests = prompt_tokens = completion_tokens = 0;
  text_requests = instruction = chain_of_thought = single_turn = turns_known = sampling = 0;
  probe_requests = 0;
  completion.clear();
  prompts.clear();
  slices.reset();
  biases_by_prompt.clear();
  for (std::string& s : sample_ids) s.clear();
  for (std::string& s : sample_prompts) s.clear();
  samples = 0;
}

double WindowStats::gap_variation() const {
  if (gaps < 10 || gap_mean <= 0) return -1;
  return std::sqrt(gap_m2 / static_cast<double>(gaps)) / gap_mean;
}

}  // namespace exfilscan::detail
