#include "detectors/threshold.h"

#include <exfilscan/hash.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace exfilscan::detail {

ThresholdTracker::ThresholdTracker(const ThresholdRule& rule)
    : rule_(rule),
      field_(field_of(rule.field)),
      slice_ns_(std::max<int64_t>(1, rule.window_ns / static_cast<int64_t>(slice_count))),
      scale_(rule.aggregate == Aggregate::sum && field_ == Field::latency_ms ? 1000 : 1) {}

ThresholdTracker::Field ThresholdTracker::field_of(std::string_view name) {
  static constexpr std::pair<std::string_view, Field> names[] = {
      {"prompt_tokens", Field::prompt_tokens},
      {"completion_tokens", Field::completion_tokens},
      {"reasoning_tokens", Field::reasoning_tokens},
      {"total_tokens", Field::total_tokens},
      {"latency_ms", Field::latency_ms},
      {"api_key", Field::api_key},
      {"org", Field::org},
      {"project", Field::project},
      {"user", Field::user},
      {"ip", Field::ip},
      {"model", Field::model},
      {"user_agent", Field::user_agent},
      {"logit_bias", Field::logit_bias},
      {"prompt", Field::prompt}};
  for (const auto& [n, f] : names)
    if (n == name) return f;
  return Field::none;
}

namespace {

/// Saturating: a log with absurd values must not overflow a sum.
int64_t add_units(int64_t a, int64_t b) {
  int64_t out;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  return b > 0 ? INT64_MAX : INT64_MIN;
}

int64_t sub_units(int64_t a, int64_t b) {
  int64_t out;
  if (!__builtin_sub_overflow(a, b, &out)) return out;
  return b < 0 ? INT64_MAX : INT64_MIN;
}

int64_t clamp_units(double v) {
  constexpr double limit = 1e15;  // far beyond any real value, well inside int64
  if (!(v > -limit)) return v != v ? 0 : static_cast<int64_t>(-limit);  // NaN adds nothing
  if (v > limit) return static_cast<int64_t>(limit);
  return std::llround(v);
}

}  // namespace

int64_t ThresholdTracker::units_of(const Event& ev) const {
  if (rule_.aggregate == Aggregate::count) return 1;
  auto v = [](const std::optional<int64_t>& x) { return x.value_or(0); };
  switch (field_) {
    case Field::prompt_tokens:
      return v(ev.prompt_tokens);
    case Field::completion_tokens:
      return v(ev.completion_tokens);
    case Field::reasoning_tokens:
      return v(ev.reasoning_tokens);
    case Field::total_tokens:
      return add_units(v(ev.prompt_tokens), v(ev.completion_tokens));
    case Field::latency_ms:
      return clamp_units(ev.latency_ms.value_or(0) * scale_);
    default:
      return 0;
  }
}

void ThresholdTracker::State::recount(int64_t newest) {
  head = newest;
  total = 0;
  for (const Slice& s : slices)
    if (s.index > head - static_cast<int64_t>(slice_count) && s.index <= head)
      total = add_units(total, s.units);
}

void ThresholdTracker::State::advance(int64_t to) {
  if (head == INT64_MIN || to - head >= static_cast<int64_t>(slice_count)) {
    total = 0;  // every slice held has left the window
  } else {
    for (int64_t leaving = head - static_cast<int64_t>(slice_count) + 1;
         leaving <= to - static_cast<int64_t>(slice_count); ++leaving) {
      const Slice& s = slices[static_cast<size_t>(leaving) % slice_count];
      if (s.index == leaving) total = sub_units(total, s.units);
    }
  }
  head = to;
}

/// Hash of the field's value; 0 when the event has none (not counted).
uint64_t ThresholdTracker::distinct_value(const Event& ev) const {
  std::string_view s;
  switch (field_) {
    case Field::api_key:
      s = ev.api_key;
      break;
    case Field::org:
      s = ev.org;
      break;
    case Field::project:
      s = ev.project;
      break;
    case Field::user:
      s = ev.end_user;
      break;
    case Field::ip:
      s = ev.ip;
      break;
    case Field::model:
      s = ev.model;
      break;
    case Field::user_agent:
      s = ev.user_agent;
      break;
    case Field::logit_bias:
      return ev.params.logit_bias_hash;
    case Field::prompt: {
      uint64_t h = 0;
      for (const PromptPart& p : ev.prompt) h = mix64(h ^ hash_bytes(p.text));
      return h;
    }
    default:
      break;
  }
  return s.empty() ? 0 : hash_bytes(s);
}

int64_t* ThresholdTracker::LastSeen::find_or_add(uint64_t h, size_t cap) {
  if (cells_.empty()) cells_.resize(16);
  for (;;) {
    size_t mask = cells_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& [key, seen] = cells_[i];
      if (key == h) return &seen;
      if (key != 0) continue;
      if (size_ >= cap) return nullptr;
      if (2 * (size_ + 1) > cells_.size()) break;  // at most half full: short probes
      key = h;
      seen = 0;
      ++size_;
      return &seen;
    }
    grow();
  }
}

void ThresholdTracker::LastSeen::grow() {
  std::vector<std::pair<uint64_t, int64_t>> old(cells_.size() * 2);
  old.swap(cells_);
  size_t mask = cells_.size() - 1;
  for (const auto& cell : old) {
    if (!cell.first) continue;
    size_t i = cell.first & mask;
    while (cells_[i].first) i = (i + 1) & mask;
    cells_[i] = cell;
  }
}

void ThresholdTracker::LastSeen::keep_after(int64_t cutoff) {
  std::vector<std::pair<uint64_t, int64_t>> old;
  old.swap(cells_);
  size_t kept = 0;
  for (const auto& cell : old) kept += cell.first && cell.second > cutoff;
  size_t n = 16;
  while (n < 2 * kept + 2) n *= 2;
  cells_.assign(n, {0, 0});
  size_ = 0;
  size_t mask = n - 1;
  for (const auto& cell : old) {
    if (!cell.first || cell.second <= cutoff) continue;
    size_t i = cell.first & mask;
    while (cells_[i].first) i = (i + 1) & mask;
    cells_[i] = cell;
    ++size_;
  }
}

std::optional<double> ThresholdTracker::add(const Event& ev, std::string_view key) {
  State& st = states_[key];
  int64_t ts = ev.timestamp_ns;
  st.last_ns = std::max(st.last_ns, ts);
  int64_t index = ts / slice_ns_;
  int64_t head = st.last_ns / slice_ns_;  // the newest slice
  if (index <= head - static_cast<int64_t>(slice_count))
    return std::nullopt;  // older than the window: nothing to add
  double value = 0;
  if (rule_.aggregate == Aggregate::distinct) {
    uint64_t h = distinct_value(ev);
    if (h) {
      if (int64_t* seen = st.distinct.find_or_add(h, max_distinct)) *seen = std::max(*seen, ts);
    }
    // The map may hold values that have left the window: it is pruned when it grows, and
    // always before the condition is allowed to hold, so the count that fires is exact.
    auto prune = [&] {
      st.distinct.keep_after(st.last_ns - rule_.window_ns);
      st.prune_at = std::max<size_t>(1024, st.distinct.size() * 2);
    };
    if (st.distinct.size() >= st.prune_at) prune();
    value = static_cast<double>(st.distinct.size());
    if (rule_.inclusive ? value >= rule_.limit : value > rule_.limit) {
      prune();
      value = static_cast<double>(st.distinct.size());
    }
  } else {
    if (head != st.head) st.advance(head);
    // A slot holding an older slice: that slice has left the window (and the total) already.
    Slice& slice = st.slices[static_cast<size_t>(index) % slice_count];
    if (slice.index != index) slice = Slice{index, 0};
    int64_t units = units_of(ev);
    slice.units = add_units(slice.units, units);
    st.total = add_units(st.total, units);
    value = value_of(st.total);
  }
  if (!watched_.empty() && key == watched_) watched_peak_ = std::max(watched_peak_, value);
  bool holds = rule_.inclusive ? value >= rule_.limit : value > rule_.limit;
  if (holds) return value;
  return std::nullopt;
}

void ThresholdTracker::save(StateWriter& w, const std::vector<const ThresholdTracker*>& parts,
                            const std::function<bool(std::string_view)>* keep) {
  std::vector<std::pair<const std::string*, const State*>> keys;
  for (const ThresholdTracker* t : parts)
    for (const auto& [k, st] : t->states_)
      if (!keep || (*keep)(k)) keys.emplace_back(&k, &st);
  std::sort(keys.begin(), keys.end(), [](auto& a, auto& b) { return *a.first < *b.first; });
  w.u64(keys.size());
  for (const auto& [k, st] : keys) {
    w.str(*k);
    for (const Slice& slice : st->slices)
      w.i64(slice.index), w.f64(parts.front()->value_of(slice.units));
    std::vector<std::pair<uint64_t, int64_t>> distinct;
    st->distinct.for_each([&](uint64_t h, int64_t seen) { distinct.emplace_back(h, seen); });
    std::sort(distinct.begin(), distinct.end());
    w.u64(distinct.size());
    for (auto [h, seen] : distinct) w.u64(h), w.i64(seen);
    w.u64(st->prune_at);
    w.i64(st->last_ns);
  }
}

void ThresholdTracker::load(StateReader& r, const std::vector<ThresholdTracker*>& parts,
                            const std::function<size_t(std::string_view)>& owner) {
  for (ThresholdTracker* t : parts) t->states_.clear();
  size_t n = r.count(100'000'000);
  for (size_t i = 0; i < n; ++i) {
    std::string key = r.str();
    ThresholdTracker& t = *parts[owner(key) % parts.size()];
    State& st = t.states_[key];
    for (Slice& slice : st.slices)
      slice.index = r.i64(), slice.units = clamp_units(r.f64() * t.scale_);
    size_t d = r.count(max_distinct);
    for (size_t j = 0; j < d; ++j) {
      uint64_t h = r.u64();
      int64_t seen = r.i64();
      if (int64_t* cell = h ? st.distinct.find_or_add(h, max_distinct) : nullptr) *cell = seen;
    }
    st.prune_at = r.u64();
    st.last_ns = r.i64();
    st.recount(st.last_ns / t.slice_ns_);
  }
}

void ThresholdTracker::absorb(ThresholdTracker& other) {
  for (auto& [k, st] : other.states_) *states_.try_emplace(k).first = std::move(st);
  other.states_.clear();
}

void ThresholdTracker::drop_keys(const std::function<bool(std::string_view)>& drop) {
  states_.erase_if([&](const std::string& k, const State&) { return drop(k); });
}

void ThresholdTracker::expire(int64_t now_ns) {
  states_.erase_if(
      [&](const std::string&, const State& st) { return st.last_ns < now_ns - rule_.window_ns; });
}

}  // namespace exfilscan::detail
