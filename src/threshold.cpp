#include "threshold.h"

#include <exfilscan/hash.h>

#include <algorithm>
#include <vector>

namespace exfilscan::detail {

size_t ThresholdTracker::KeyHash::operator()(std::string_view k) const {
  return hash_bytes(k);
}

ThresholdTracker::ThresholdTracker(const ThresholdRule& rule)
    : rule_(rule),
      slice_ns_(std::max<int64_t>(1, rule.window_ns / static_cast<int64_t>(slice_count))) {}

namespace {

double sum_value(const Event& ev, std::string_view field) {
  auto v = [](const std::optional<int64_t>& x) { return static_cast<double>(x.value_or(0)); };
  if (field == "prompt_tokens") return v(ev.prompt_tokens);
  if (field == "completion_tokens") return v(ev.completion_tokens);
  if (field == "reasoning_tokens") return v(ev.reasoning_tokens);
  if (field == "total_tokens") return v(ev.prompt_tokens) + v(ev.completion_tokens);
  if (field == "latency_ms") return ev.latency_ms.value_or(0);
  return 0;
}

/// Hash of the field's value; 0 when the event has none (not counted).
uint64_t distinct_value(const Event& ev, std::string_view field) {
  std::string_view s;
  if (field == "api_key")
    s = ev.api_key;
  else if (field == "org")
    s = ev.org;
  else if (field == "project")
    s = ev.project;
  else if (field == "user")
    s = ev.end_user;
  else if (field == "ip")
    s = ev.ip;
  else if (field == "model")
    s = ev.model;
  else if (field == "user_agent")
    s = ev.user_agent;
  else if (field == "logit_bias")
    return ev.params.logit_bias_hash;
  else if (field == "prompt") {
    uint64_t h = 0;
    for (const PromptPart& p : ev.prompt) h = mix64(h ^ hash_bytes(p.text));
    return h;
  }
  return s.empty() ? 0 : hash_bytes(s);
}

}  // namespace

std::optional<double> ThresholdTracker::add(const Event& ev, std::string_view key) {
  auto it = states_.find(key);
  if (it == states_.end()) it = states_.emplace(std::string(key), State{}).first;
  State& st = it->second;
  int64_t ts = ev.timestamp_ns;
  st.last_ns = std::max(st.last_ns, ts);
  int64_t index = ts / slice_ns_;
  int64_t oldest = st.last_ns / slice_ns_ - static_cast<int64_t>(slice_count) + 1;
  if (index < oldest) return std::nullopt;  // older than the window: nothing to add
  double value = 0;
  if (rule_.aggregate == Aggregate::distinct) {
    uint64_t h = distinct_value(ev, rule_.field);
    if (h) {
      if (st.distinct.size() < max_distinct || st.distinct.count(h)) {
        int64_t& seen = st.distinct[h];
        seen = std::max(seen, ts);
      }
    }
    // The map may hold values that have left the window: it is pruned when it grows, and
    // always before the condition is allowed to hold, so the count that fires is exact.
    auto prune = [&] {
      std::erase_if(st.distinct,
                    [&](const auto& kv) { return kv.second <= st.last_ns - rule_.window_ns; });
      st.prune_at = std::max<size_t>(1024, st.distinct.size() * 2);
    };
    if (st.distinct.size() >= st.prune_at) prune();
    value = static_cast<double>(st.distinct.size());
    if (rule_.inclusive ? value >= rule_.limit : value > rule_.limit) {
      prune();
      value = static_cast<double>(st.distinct.size());
    }
  } else {
    Slice& slice = st.slices[static_cast<size_t>(index) % slice_count];
    if (slice.index != index) slice = Slice{index, 0};
    slice.value += rule_.aggregate == Aggregate::count ? 1 : sum_value(ev, rule_.field);
    for (const Slice& s : st.slices)
      if (s.index >= oldest) value += s.value;
  }
  if (!watched_.empty() && key == watched_) watched_peak_ = std::max(watched_peak_, value);
  bool holds = rule_.inclusive ? value >= rule_.limit : value > rule_.limit;
  if (holds) return value;
  return std::nullopt;
}

void ThresholdTracker::save(StateWriter& w) const {
  std::vector<const std::string*> keys;
  for (const auto& [k, st] : states_) keys.push_back(&k);
  std::sort(keys.begin(), keys.end(), [](auto* a, auto* b) { return *a < *b; });
  w.u64(keys.size());
  for (const std::string* k : keys) {
    const State& st = states_.find(*k)->second;
    w.str(*k);
    for (const Slice& slice : st.slices) w.i64(slice.index), w.f64(slice.value);
    std::vector<std::pair<uint64_t, int64_t>> distinct(st.distinct.begin(), st.distinct.end());
    std::sort(distinct.begin(), distinct.end());
    w.u64(distinct.size());
    for (auto [h, seen] : distinct) w.u64(h), w.i64(seen);
    w.u64(st.prune_at);
    w.i64(st.last_ns);
  }
}

void ThresholdTracker::load(StateReader& r) {
  states_.clear();
  size_t n = r.count(100'000'000);
  for (size_t i = 0; i < n; ++i) {
    State& st = states_[r.str()];
    for (Slice& slice : st.slices) slice.index = r.i64(), slice.value = r.f64();
    size_t d = r.count(max_distinct);
    for (size_t j = 0; j < d; ++j) {
      uint64_t h = r.u64();
      st.distinct[h] = r.i64();
    }
    st.prune_at = r.u64();
    st.last_ns = r.i64();
  }
}

void ThresholdTracker::expire(int64_t now_ns) {
  std::erase_if(states_,
                [&](const auto& kv) { return kv.second.last_ns < now_ns - rule_.window_ns; });
}

}  // namespace exfilscan::detail
