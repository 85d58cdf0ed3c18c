#include "detectors/segments.h"

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

uint64_t system_id(const Event& ev) {
  for (const PromptPart& part : ev.prompt)
    if (part.role == PromptRole::system)
      return mix64(hash_bytes(part.text.substr(0, 256)) ^ part.text.size()) | 1;
  return 0;
}

uint64_t traffic_shape(const Event& ev, uint64_t system) {
  return mix64(system ^ (hash_bytes(ev.user_agent) * 0x9E3779B97F4A7C15ULL) ^
               (ev.end_user.empty() ? 0 : 0x5bd1e995ULL)) &
         ~uint64_t{1};
}

namespace {

/// The slot of part `id` (its low bit says which way it splits: each way has `max` slots, so
/// that a thousand end users churning through theirs never push out the application's shapes).
Segment& slot_for(std::vector<Segment>& segments, size_t max, uint64_t id, int64_t ts,
                  DetectorCounts* counts) {
  size_t same_way = 0;
  auto quietest = segments.end();
  for (auto s = segments.begin(); s != segments.end(); ++s) {
    if (s->id == id) return *s;
    if ((s->id & 1) != (id & 1)) continue;
    ++same_way;
    if (quietest == segments.end() || s->weight < quietest->weight) quietest = s;
  }
  if (same_way < max) {
    segments.emplace_back();
  } else {
    // Space-saving: the newcomer takes the quietest slot and its weight, so that a part that
    // keeps coming climbs above the ones that stopped.
    if (counts) ++counts->parts_replaced;
    double weight = quietest->weight;
    *quietest = Segment{};
    quietest->weight = weight;
    std::rotate(quietest, quietest + 1, segments.end());  // newest last: a stable order
  }
  Segment& s = segments.back();
  s.id = id;
  s.first_ns = ts;
  return s;
}

void add(Segment& s, const SegmentOptions& o, const Account& a, const Observation& obs) {
  const Event& ev = obs.event;
  const WindowStats& w = a.window;
  int64_t ts = ev.timestamp_ns;
  WindowEvidence& n = s.now;
  s.weight += 1;
  n.requests += 1;
  n.last_ns = std::max(n.last_ns, ts);
  if (ev.turns) {
    n.turns_known += 1;
    if (*ev.turns <= 1) n.single_turn += 1;
  }
  const RequestParams& p = ev.params;
  if (p.logprobs.value_or(false) || p.n.value_or(1) > 1 || p.best_of.value_or(1) > 1)
    n.sampling += 1;
  if (obs.analysed) {
    n.text_requests += 1;
    if (obs.style.instruction || obs.style.benchmark) n.instruction += 1;
    if (obs.style.chain_of_thought) n.chain_of_thought += 1;
    if (obs.with_system) n.with_system += 1;
    s.prompts.add(obs.analysed_hash);
  }
  if (ev.completion_tokens) {
    double completion = static_cast<double>(std::max<int64_t>(0, *ev.completion_tokens));
    n.completion_known += 1;
    s.log_completion += std::log1p(completion);
    double asked = !obs.prompt.empty() ? static_cast<double>(obs.prompt.size()) / 4
                                       : static_cast<double>(ev.prompt_tokens.value_or(0));
    if (asked > 0) s.lengths.add(asked, completion);
    if (completion >= static_cast<double>(o.min_answer_tokens) &&
        completion >= o.answer_input_ratio * asked)
      n.product_answers += 1;
  }
  int64_t slice = (ts - w.start_ns) / w.slice_ns;
  if (slice >= 0 && slice < 60) s.slices.set(static_cast<size_t>(slice));
  if (n.requests > 1 && ts >= s.last_gap_ns) {
    double gap = static_cast<double>(ts - s.last_gap_ns) / 1e9;
    n.gaps += 1;
    double delta = gap - s.gap_mean;  // in doubles: float rounding can make M2 negative
    s.gap_mean += delta / n.gaps;
    s.gap_m2 += delta * (gap - s.gap_mean);
  }
  s.last_gap_ns = std::max(s.last_gap_ns, ts);
}

}  // namespace

WindowEvidence Segment::window_evidence(int64_t window_start_ns, int64_t slice_ns) const {
  WindowEvidence e = now;
  e.start_ns = window_start_ns;
  e.last_ns = std::max(now.last_ns, window_start_ns);
  e.distinct_prompts = static_cast<float>(prompts.estimate());
  e.median_completion = now.completion_known > 0
                            ? static_cast<float>(std::expm1(log_completion / now.completion_known))
                            : 0;
  e.slices_active = static_cast<float>(slices.count());
  e.slices_elapsed = static_cast<float>(
      std::min<int64_t>(60, (e.last_ns - window_start_ns) / std::max<int64_t>(1, slice_ns) + 1));
  e.end_users = by_end_user ? 1 : 0;
  e.lengths = lengths;
  e.gap_mean = static_cast<float>(gap_mean);
  e.gap_m2 = static_cast<float>(std::max(0.0, gap_m2));
  return e;
}

PooledEvidence Segment::day(int64_t window_start_ns, int64_t slice_ns, int64_t day_ns) const {
  // Its windows were pruned when the last one closed; the day has moved on since.
  PooledEvidence pool;
  if (recent.empty() || recent.front().start_ns > window_start_ns - day_ns) {
    pool = recent_pool;
  } else {
    for (const WindowEvidence& e : recent)
      if (e.start_ns > window_start_ns - day_ns) pool.add(e);
  }
  if (now.requests > 0) pool.add(window_evidence(window_start_ns, slice_ns));
  return pool;
}

void SegmentTracker::observe(Segments& set, const SegmentOptions& options, const Account& account,
                             const Observation& event) {
  if (options.max_segments == 0) return;
  const Event& ev = event.event;
  int64_t ts = ev.timestamp_ns;
  uint64_t system = system_id(ev);
  bool users = !ev.end_user.empty();
  uint64_t shape = traffic_shape(ev, system);
  if (set.parts.empty() && !users && (set.first_shape == 0 || set.first_shape == shape)) {
    set.first_shape = shape;  // one shape so far: the key is its only part
    return;
  }
  std::vector<Segment>& segments = set.parts;
  Segment& s = slot_for(segments, options.max_segments, shape, ts, event.counts);
  s.with_system = system != 0;
  s.with_end_users = users;
  add(s, options, account, event);
  if (users) {  // and by end user: one user behind a tenth of an application's traffic
    Segment& u =
        slot_for(segments, options.max_segments, hash_bytes(ev.end_user) | 1, ts, event.counts);
    u.by_end_user = true;
    u.with_system = system != 0;
    u.with_end_users = true;
    add(u, options, account, event);
  }
}

void SegmentTracker::close_window(Segments& set, const SegmentOptions& options,
                                  const Account& account) {
  std::vector<Segment>& segments = set.parts;
  const WindowStats& w = account.window;
  int64_t since = w.start_ns + options.window_ns - options.day_ns;
  for (Segment& s : segments) {
    if (s.now.requests > 0) {
      s.recent.push_back(s.window_evidence(w.start_ns, w.slice_ns));
      s.recent_pool.add(s.recent.back());
    }
    s.now = WindowEvidence{};
    s.prompts.clear();
    s.slices.reset();
    s.log_completion = 0;
    s.gap_mean = s.gap_m2 = 0;
    s.lengths = LengthPairs{};
    auto kept = std::find_if(s.recent.begin(), s.recent.end(),
                             [&](const WindowEvidence& e) { return e.start_ns > since; });
    if (kept != s.recent.begin()) {
      s.recent.erase(s.recent.begin(), kept);
      s.recent_pool = PooledEvidence{};
      for (const WindowEvidence& e : s.recent) s.recent_pool.add(e);
    }
    s.weight /= 2;
  }
  std::erase_if(segments, [](const Segment& s) { return s.recent.empty() && s.weight < 1; });
}

void Segments::save(StateWriter& w) const {
  w.u64(first_shape);
  w.u64(parts.size());
  for (const Segment& s : parts) s.save(w);
}

void Segments::load(StateReader& r) {
  first_shape = r.u64();
  parts.resize(r.count(256));
  for (Segment& s : parts) s.load(r);
}

void Segment::save(StateWriter& w) const {
  w.u64(id);
  w.u8(static_cast<uint8_t>(by_end_user | with_system << 1 | with_end_users << 2));
  w.f64(weight);
  w.i64(first_ns);
  now.save(w);
  prompts.save(w);
  w.u64(slices.to_ullong());
  w.i64(last_gap_ns);
  w.f64(log_completion);
  w.f64(gap_mean);
  w.f64(gap_m2);
  lengths.save(w);
  w.u64(recent.size());
  for (const WindowEvidence& e : recent) e.save(w);
}

void Segment::load(StateReader& r) {
  id = r.u64();
  uint8_t flags = r.u8();
  by_end_user = flags & 1;
  with_system = flags & 2;
  with_end_users = flags & 4;
  weight = r.f64();
  if (!(weight >= 0 && weight < 1e15)) throw StateError("a segment's weight is out of range");
  first_ns = r.time();
  now.load(r);
  prompts.load(r);
  slices = std::bitset<60>(r.u64());
  last_gap_ns = r.time();
  log_completion = r.f64();
  if (!(log_completion >= 0 && log_completion < 1e15))
    throw StateError("a segment's answer lengths are out of range");
  gap_mean = r.f64();
  gap_m2 = r.f64();
  if (!(gap_mean >= 0 && gap_mean <= 1e12 && gap_m2 >= 0 && gap_m2 <= 1e30))
    throw StateError("a segment's gaps are out of range");
  lengths.load(r);
  recent.resize(r.count(10000));
  recent_pool = PooledEvidence{};
  for (WindowEvidence& e : recent) {
    e.load(r);
    recent_pool.add(e);
  }
}

}  // namespace exfilscan::detail
