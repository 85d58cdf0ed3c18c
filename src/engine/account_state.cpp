#include "engine/account_state.h"

#include "detectors/detector.h"

#include <exfilscan/timestamp.h>

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
  size_t b = bin_of(value);
  counts_[b] += weight;
  count_ += weight;
  lo_ = std::min(lo_, b);
  hi_ = std::max(hi_, b + 1);
}

void LogHistogram::merge(const LogHistogram& other) {
  for (size_t b = other.lo_; b < other.hi_; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
  lo_ = std::min(lo_, other.lo_);
  hi_ = std::max(hi_, other.hi_);
}

double LogHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t b = lo_; b < hi_; ++b) {
    seen += counts_[b];
    if (seen >= rank) return value_of(b);
  }
  return value_of(bins - 1);
}

void LogHistogram::clear() {
  // Only the bins used since the last clear: a window's requests fill a few of the 160.
  if (lo_ < hi_) std::fill(counts_.begin() + lo_, counts_.begin() + hi_, 0);
  count_ = 0;
  lo_ = bins;
  hi_ = 0;
}

void WindowStats::restart(int64_t start) {
  start_ns = last_ns = last_gap_ns = start;
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
  with_system = product_answers = 0;
  lengths = LengthPairs{};
  end_users.clear();
  completion.clear();
  median_at_ = UINT64_MAX;
  prompts.clear();
  slices.reset();
  for (std::string& s : sample_ids) s.clear();
  for (std::string& s : sample_prompts) s.clear();
  samples = 0;
}

void LogHistogram::save(StateWriter& w) const {
  size_t used = 0;
  for (uint64_t c : counts_) used += c != 0;
  w.u64(used);
  for (size_t b = 0; b < bins; ++b)
    if (counts_[b]) w.u64(b), w.u64(counts_[b]);
}

void LogHistogram::load(StateReader& r) {
  clear();
  size_t used = r.count(bins);
  for (size_t i = 0; i < used; ++i) {
    size_t b = r.count(bins - 1);
    counts_[b] = r.u64();
    count_ += counts_[b];
    lo_ = std::min(lo_, b);
    hi_ = std::max(hi_, b + 1);
  }
}

void WindowStats::save(StateWriter& w) const {
  for (int64_t v : {start_ns, last_ns, slice_ns, last_gap_ns}) w.i64(v);
  for (uint64_t v : {requests, prompt_tokens, completion_tokens, text_requests, instruction,
                     chain_of_thought, single_turn, turns_known, sampling, throttled, client_errors,
                     server_errors, gaps, with_system, product_answers,
                     static_cast<uint64_t>(samples), static_cast<uint64_t>(slices.to_ullong())})
    w.u64(v);
  lengths.save(w);
  for (double v : {min_temperature, max_temperature, gap_mean, gap_m2}) w.f64(v);
  completion.save(w);
  prompts.save(w);
  end_users.save(w);
  for (const std::string& id : sample_ids) w.str(id);
  for (const std::string& p : sample_prompts) w.str(p);
}

void WindowStats::load(StateReader& r, LegacyDetectorData& legacy) {
  median_at_ = UINT64_MAX;
  start_ns = r.time();
  last_ns = r.time();
  slice_ns = r.i64();
  last_gap_ns = r.time();
  // A window is 10 minutes to a day (rule_parameters.h): its sixtieth, 10 s to 24 min.
  if (slice_ns < 10 * 1'000'000'000LL || slice_ns > 24 * 60 * 1'000'000'000LL)
    throw StateError("a window's slice is out of range");
  uint64_t n_samples = 0, slice_bits = 0;
  bool old = r.version() < 5;  // logit_probe's counts in the window, no answer lengths
  std::vector<uint64_t*> counts = {&requests,      &prompt_tokens, &completion_tokens,
                                   &text_requests, &instruction,   &chain_of_thought,
                                   &single_turn,   &turns_known,   &sampling};
  if (old) counts.push_back(&legacy.probe_requests);
  for (uint64_t* v : {&throttled, &client_errors, &server_errors, &gaps, &with_system})
    counts.push_back(v);
  product_answers = 0;
  if (!old) counts.push_back(&product_answers);
  counts.push_back(&n_samples);
  counts.push_back(&slice_bits);
  for (uint64_t* v : counts) *v = r.u64();
  lengths = LengthPairs{};
  if (!old) lengths.load(r);
  samples = static_cast<size_t>(n_samples);
  slices = std::bitset<60>(slice_bits);
  for (double* v : {&min_temperature, &max_temperature, &gap_mean, &gap_m2}) *v = r.f64();
  // Temperatures in [0, 10] or unset; gaps non-negative seconds (a state holds any bytes).
  auto temperature = [](double t, double unset) { return t == unset || (t >= 0 && t <= 10); };
  if (!temperature(min_temperature, 1e9) || !temperature(max_temperature, -1) ||
      !(gap_mean >= 0 && gap_mean <= 1e12) || !(gap_m2 >= 0 && gap_m2 <= 1e30))
    throw StateError("a window's temperatures or gaps are out of range");
  completion.load(r);
  prompts.load(r);
  end_users.load(r);
  if (old) {
    legacy.biases_by_prompt.clear();
    size_t n = r.count(4096);
    for (size_t i = 0; i < n; ++i) {
      uint64_t k = r.u64();
      legacy.biases_by_prompt[k].load(r);
    }
  }
  for (std::string& id : sample_ids) id = r.str();
  for (std::string& p : sample_prompts) p = r.str();
}

Account::Account() = default;
Account::~Account() = default;
Account::Account(Account&&) noexcept = default;
Account& Account::operator=(Account&&) noexcept = default;

void Account::save(StateWriter& w) const {
  w.str(key);
  w.str(org);
  for (int64_t v : {first_seen_ns, last_seen_ns, last_evaluated_minute, active_before_ns}) w.i64(v);
  w.i64(long_judged_minute);
  for (uint64_t v : {requests, prompt_tokens, completion_tokens, suppressed,
                     static_cast<uint64_t>(hours_of_day.to_ulong())})
    w.u64(v);
  window.save(w);
  w.u64(recent.size());
  for (const WindowEvidence& e : recent) e.save(w);
  history.save(w);
  w.u64(fired.size());
  for (const RuleFiring& f : fired) {
    w.str(f.rule);
    w.f64(f.score);
    w.i64(f.last_fired_ns);
    w.f64(f.episode_score);
  }
  w.u8(pooled ? 1 : 0);
  w.u64(cluster);
  w.f64(cluster_risk);
  w.u64(members);
  links.save(w);
}

void Account::load(StateReader& r, LegacyDetectorData& legacy) {
  key = r.str();
  org = r.str();
  first_seen_ns = r.time();
  last_seen_ns = r.time();
  last_evaluated_minute = r.i64();
  if (last_evaluated_minute < -1 || last_evaluated_minute >= timestamp_end_s / 60)
    throw StateError("an account's last judged minute is out of range");
  active_before_ns = r.version() >= 4 ? r.time() : 0;
  long_judged_minute = -1;
  if (r.version() >= 5) {
    long_judged_minute = r.i64();
    if (long_judged_minute < -1 || long_judged_minute >= timestamp_end_s / 60)
      throw StateError("an account's last judged minute is out of range");
  }
  uint64_t hours = 0;
  for (uint64_t* v : {&requests, &prompt_tokens, &completion_tokens, &suppressed, &hours})
    *v = r.u64();
  hours_of_day = std::bitset<24>(hours);
  window.load(r, legacy);
  bool old = r.version() < 5;  // volume_spike's history and the template miner inline
  if (old) {
    legacy.history.resize(r.count(100000));
    for (HistoryPoint& h : legacy.history)
      h.start_ns = r.time(), h.requests = HistoryPoint::saturate(r.u64()),
      h.completion_tokens = HistoryPoint::saturate(r.u64());
  }
  recent.clear();
  recent_pool = PooledEvidence{};
  if (!old) {
    recent.resize(r.count(10000));
    for (WindowEvidence& e : recent) {
      e.load(r);
      recent_pool.add(e);
    }
  }
  history = DecayedEvidence{};
  if (!old) history.load(r);
  if (r.version() < 4) {
    // Older states did not keep it. Between windows it is the last event; inside one, the
    // latest window of the history comes closest.
    if (window.requests == 0)
      active_before_ns = last_seen_ns;
    else if (!legacy.history.empty())
      active_before_ns = legacy.history.back().start_ns;
  }
  if (old && r.u8()) {
    legacy.miner = std::make_unique<TemplateMiner>();
    legacy.miner->load(r);
  }
  fired.resize(r.count(1000));
  for (RuleFiring& f : fired) {
    f.rule = r.str();
    f.score = r.f64();
    f.last_fired_ns = r.time();
    f.episode_score = r.f64();
  }
  pooled = false, cluster = 0, cluster_risk = 0, members = 0, links = LinkProfile{};
  if (r.version() >= 7) {
    pooled = r.u8() != 0;
    cluster = r.u64();
    cluster_risk = r.f64();
    if (!(cluster_risk >= 0 && cluster_risk <= 1))
      throw StateError("a cluster risk is out of range");
    members = r.u64();
    links.load(r);
  }
}

double WindowStats::gap_variation(uint64_t min_gaps) const {
  if (gaps < min_gaps || gap_mean <= 0) return -1;
  return std::sqrt(gap_m2 / static_cast<double>(gaps)) / gap_mean;
}

}  // namespace exfilscan::detail

namespace exfilscan::detail {

void PooledEvidence::add(const WindowEvidence& e) {
  first_ns = std::min(first_ns, e.start_ns);
  last_ns = std::max(last_ns, e.last_ns);
  first_start_ns = std::min(first_start_ns, e.start_ns);
  last_start_ns = std::max(last_start_ns, e.start_ns);
  ++windows;
  requests += e.requests;
  text_requests += e.text_requests;
  instruction += e.instruction;
  chain_of_thought += e.chain_of_thought;
  single_turn += e.single_turn;
  turns_known += e.turns_known;
  sampling += e.sampling;
  with_system += e.with_system;
  distinct_prompts += e.distinct_prompts;
  completion_known += e.completion_known;
  product_answers += e.product_answers;
  lengths.merge(e.lengths);
  median_weighted += static_cast<double>(e.median_completion) * e.completion_known;
  slices_active += e.slices_active;
  slices_elapsed += e.slices_elapsed;
  end_users = std::max(end_users, static_cast<double>(e.end_users));
  min_temperature = std::min(min_temperature, static_cast<double>(e.min_temperature));
  max_temperature = std::max(max_temperature, static_cast<double>(e.max_temperature));
  // Chan et al.'s pairwise update: the gaps of both as if they had been one sequence.
  double n = gaps + e.gaps;
  if (e.gaps > 0) {
    double delta = e.gap_mean - gap_mean;
    gap_m2 += e.gap_m2 + delta * delta * gaps * e.gaps / n;
    gap_mean += delta * e.gaps / n;
    gaps = n;
  }
}

void LengthPairs::add(double asked_tokens, double answer_tokens) {
  double x = std::log1p(std::max(0.0, asked_tokens)), y = std::log1p(std::max(0.0, answer_tokens));
  n += 1, sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
}

double LengthPairs::correlation() const {
  if (n < 3) return 0;
  double vx = sxx - sx * sx / n, vy = syy - sy * sy / n, cxy = sxy - sx * sy / n;
  // Spread far above the rounding of the sums (constant lengths leave only that).
  if (vx <= 1e-9 * sxx || vy <= 1e-9 * syy || vx <= 1e-12 || vy <= 1e-12) return 0;
  return std::clamp(cxy / std::sqrt(vx * vy), -1.0, 1.0);
}

void LengthPairs::save(StateWriter& w) const {
  for (double v : {n, sx, sy, sxx, syy, sxy}) w.f64(v);
}

void LengthPairs::load(StateReader& r) {
  // Logs of token counts: each term is at most about 21 (log of 1e9) per pair.
  for (double* v : {&n, &sx, &sy, &sxx, &syy, &sxy}) {
    double x = r.f64();
    if (!(x >= 0 && x <= 1e15)) throw StateError("answer lengths are out of range");
    *v = x;
  }
}

void PooledEvidence::scale(double f) {
  for (double* v :
       {&requests,        &text_requests,   &instruction,   &chain_of_thought, &single_turn,
        &turns_known,     &sampling,        &with_system,   &distinct_prompts, &completion_known,
        &product_answers, &median_weighted, &slices_active, &slices_elapsed,   &gaps,
        &gap_m2,          &end_users,       &lengths.n,     &lengths.sx,       &lengths.sy,
        &lengths.sxx,     &lengths.syy,     &lengths.sxy})
    *v *= f;
}

void PooledEvidence::save(StateWriter& w) const {
  for (int64_t v : {first_ns, last_ns, first_start_ns, last_start_ns}) w.i64(v);
  w.u64(windows);
  for (double v :
       {requests,        text_requests,   instruction,   chain_of_thought, single_turn,
        turns_known,     sampling,        with_system,   distinct_prompts, completion_known,
        product_answers, median_weighted, slices_active, slices_elapsed,   gaps,
        gap_mean,        gap_m2,          end_users,     min_temperature,  max_temperature,
        lengths.n,       lengths.sx,      lengths.sy,    lengths.sxx,      lengths.syy,
        lengths.sxy})
    w.f64(v);
}

void PooledEvidence::load(StateReader& r) {
  // Unset times are INT64_MAX / INT64_MIN; set ones event times.
  auto time = [&r] {
    int64_t t = r.i64();
    if (t == INT64_MAX || t == INT64_MIN || (t >= 0 && t < timestamp_end_s * 1'000'000'000))
      return t;
    throw StateError("a pooled evidence's time is out of range");
  };
  for (int64_t* v : {&first_ns, &last_ns, &first_start_ns, &last_start_ns}) *v = time();
  windows = r.count(SIZE_MAX / 2);
  for (double* v :
       {&requests,        &text_requests,   &instruction,   &chain_of_thought, &single_turn,
        &turns_known,     &sampling,        &with_system,   &distinct_prompts, &completion_known,
        &product_answers, &median_weighted, &slices_active, &slices_elapsed,   &gaps,
        &gap_mean,        &gap_m2,          &end_users,     &min_temperature,  &max_temperature,
        &lengths.n,       &lengths.sx,      &lengths.sy,    &lengths.sxx,      &lengths.syy,
        &lengths.sxy}) {
    double x = r.f64();
    bool ok = v == &min_temperature || v == &max_temperature
                  ? (x >= 0 && x <= 10) || x == 1e9 || x == -1
                  : x >= 0 && x <= (v == &gap_m2 ? 1e30 : 1e15);
    if (!ok) throw StateError("a pooled evidence's count is out of range");
    *v = x;
  }
}

void DecayedEvidence::add(const WindowEvidence& e, int64_t window_ns, int64_t half_life_ns) {
  if (pool.windows > 0 && e.start_ns > pool.last_start_ns) {
    // A corrupt state may hold any time: the difference of two int64 may not be one.
    int64_t diff = 0;
    double elapsed = __builtin_sub_overflow(e.start_ns, pool.last_start_ns, &diff)
                         ? static_cast<double>(e.start_ns) - static_cast<double>(pool.last_start_ns)
                         : static_cast<double>(diff);
    double f = std::exp2(-elapsed / static_cast<double>(half_life_ns));
    pool.scale(f);
    active *= f;
    // The windows between the last one and this: spanned, each a little less decayed; counted
    // as if all at the last one's weight (a window's worth of error in the weights).
    spanned = spanned * f + elapsed / static_cast<double>(window_ns);
  } else {
    spanned += 1;
  }
  pool.add(e);
  active += 1;
  spanned = std::max(spanned, active);
}

void DecayedEvidence::save(StateWriter& w) const {
  pool.save(w);
  w.f64(active);
  w.f64(spanned);
}

void DecayedEvidence::load(StateReader& r) {
  pool.load(r);
  active = r.f64();
  spanned = r.f64();
  if (!(active >= 0 && active <= 1e15 && spanned >= active && spanned <= 1e15))
    throw StateError("a decayed history's windows are out of range");
}

double PooledEvidence::gap_variation(double min_gaps) const {
  if (gaps < min_gaps || gap_mean <= 0) return -1;
  return std::sqrt(std::max(0.0, gap_m2) / gaps) / gap_mean;
}

void WindowEvidence::save(StateWriter& w) const {
  w.i64(start_ns);
  w.i64(last_ns);
  for (float v : {requests,         text_requests,   instruction,
                  chain_of_thought, single_turn,     turns_known,
                  sampling,         with_system,     distinct_prompts,
                  completion_known, product_answers, median_completion,
                  slices_active,    slices_elapsed,  gaps,
                  gap_mean,         gap_m2,          end_users,
                  min_temperature,  max_temperature})
    w.f64(v);
  lengths.save(w);
}

void WindowEvidence::load(StateReader& r) {
  start_ns = r.time();
  last_ns = r.time();
  for (float* v : {&requests,         &text_requests,   &instruction,
                   &chain_of_thought, &single_turn,     &turns_known,
                   &sampling,         &with_system,     &distinct_prompts,
                   &completion_known, &product_answers, &median_completion,
                   &slices_active,    &slices_elapsed,  &gaps,
                   &gap_mean,         &gap_m2,          &end_users,
                   &min_temperature,  &max_temperature}) {
    double x = r.f64();
    bool temperature = v == &min_temperature || v == &max_temperature;
    // Gaps within a window of up to a day: M2 up to n * 86400^2 seconds squared.
    double most = v == &gap_m2 ? 1e30 : 1e12;
    bool ok = temperature ? (x >= 0 && x <= 10) || x == 1e9 || x == -1 : x >= 0 && x <= most;
    if (!ok) throw StateError("a window's evidence is out of range");
    *v = static_cast<float>(x);
  }
  lengths.load(r);
}

}  // namespace exfilscan::detail
