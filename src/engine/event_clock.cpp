/// The event-time clock and its quarantine of outlier times, and the byte form of a held event.

#include "engine/event_clock.h"

#include <algorithm>
#include <tuple>

namespace exfilscan::detail {

void EventClock::offer(const Event& ev, std::vector<ClockStep>& out) {
  int64_t ts = ev.timestamp_ns;
  bool in_step = watermark_ != 0 && ts <= watermark_ + tolerance_;
  // Each later event votes on every held time: at it (within the tolerance before it, and not
  // so far past it that it is an outlier of its own), or keeping to the clock's time.
  for (Held& h : held_) {
    if (ts >= h.ts - tolerance_ && ts - h.ts <= max_jump)
      ++h.agree;
    else if (in_step)
      ++h.disagree;
  }
  release_due(out);
  if (watermark_ != 0 && ts <= watermark_ + tolerance_) {
    judge(ev, out);
    release_due(out);  // the clock caught up with a held time
    return;
  }
  if (held_.size() == max_held) {
    held_.erase(held_.begin());
    ++quarantined_;
  }
  StateWriter w;
  encode(ev, w);
  held_.push_back({ts, w.data()});
}

void EventClock::finish(std::vector<ClockStep>& out) {
  while (!held_.empty()) {
    const Held& h = held_.front();
    if (h.disagree == 0 && (watermark_ == 0 || h.ts - watermark_ <= max_jump))
      release(0, out);
    else
      held_.erase(held_.begin()), ++quarantined_;
  }
}

void EventClock::judge(const Event& ev, std::vector<ClockStep>& out) {
  watermark_ = std::max(watermark_, ev.timestamp_ns);
  bool tick = watermark_ >= next_tick_;
  if (tick) next_tick_ = (watermark_ / ns_per_hour + 1) * ns_per_hour;
  out.push_back({&ev, tick, watermark_});
}

void EventClock::release_due(std::vector<ClockStep>& out) {
  // In input order; a release moves the clock, which may bring earlier held times within the
  // tolerance: look again from the start.
  for (size_t i = 0; i < held_.size();) {
    const Held& h = held_[i];
    bool confirmed = h.agree > h.disagree;
    bool caught_up = watermark_ != 0 && h.ts <= watermark_ + tolerance_;
    if (confirmed || caught_up) {
      release(i, out);
      i = 0;
    } else {
      ++i;
    }
  }
}

void EventClock::release(size_t i, std::vector<ClockStep>& out) {
  released_.push_back(decode(held_[i].bytes));
  held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
  judge(released_.back()->event, out);
}

void EventClock::save_clock(StateWriter& w) const {
  w.i64(watermark_);
  w.i64(next_tick_);
}

void EventClock::load_clock(StateReader& r) {
  watermark_ = r.time();
  next_tick_ = r.time();
  held_.clear();
  released_.clear();
}

void EventClock::save_held(StateWriter& w, const HeldFilter* keep) const {
  std::vector<const Held*> kept;
  for (const Held& h : held_)
    if (!keep || (*keep)(decode(h.bytes)->event)) kept.push_back(&h);
  w.u64(kept.size());
  for (const Held* h : kept) {
    w.str(h->bytes);
    w.u64(h->agree);
    w.u64(h->disagree);
  }
}

void EventClock::drop_held(const HeldFilter& drop) {
  std::erase_if(held_, [&](const Held& h) { return drop(decode(h.bytes)->event); });
}

void EventClock::take_held(EventClock& other) {
  std::vector<Held> theirs;
  for (Held& h : other.held_)
    if (std::none_of(held_.begin(), held_.end(), [&](const Held& x) { return x.bytes == h.bytes; }))
      theirs.push_back(std::move(h));
  other.held_.clear();
  if (theirs.empty()) return;
  // Neither list is in time order (each is in its input's): the earlier of the two fronts
  // first, by time and then by bytes, which does not depend on which list is which.
  std::vector<Held> merged;
  merged.reserve(held_.size() + theirs.size());
  size_t i = 0, j = 0;
  while (i < held_.size() || j < theirs.size()) {
    bool mine = j == theirs.size() ||
                (i < held_.size() &&
                 std::tie(held_[i].ts, held_[i].bytes) < std::tie(theirs[j].ts, theirs[j].bytes));
    merged.push_back(std::move(mine ? held_[i++] : theirs[j++]));
  }
  if (merged.size() > max_held) {
    auto over = static_cast<std::ptrdiff_t>(merged.size() - max_held);
    merged.erase(merged.begin(), merged.begin() + over);
    quarantined_ += static_cast<uint64_t>(over);
  }
  held_ = std::move(merged);
}

void EventClock::load_held(StateReader& r) {
  held_.resize(r.count(max_held));
  for (Held& h : held_) {
    h.bytes = r.str();
    h.ts = decode(h.bytes)->event.timestamp_ns;  // and every field checked
    h.agree = r.u64();
    h.disagree = r.u64();
  }
}

namespace {

void opt(StateWriter& w, const std::optional<int64_t>& v) {
  w.u8(v.has_value());
  if (v) w.i64(*v);
}
void opt(StateWriter& w, const std::optional<double>& v) {
  w.u8(v.has_value());
  if (v) w.f64(*v);
}
void opt(StateWriter& w, const std::optional<bool>& v) {
  w.u8(v ? (*v ? 2 : 1) : 0);
}
void opt(StateReader& r, std::optional<int64_t>& v) {
  if (r.u8()) v = r.i64();
}
void opt(StateReader& r, std::optional<double>& v) {
  if (r.u8()) v = r.f64();
}
void opt(StateReader& r, std::optional<bool>& v) {
  uint8_t b = r.u8();
  if (b > 2) throw StateError("a held event is corrupt");
  if (b) v = b == 2;
}

}  // namespace

void EventClock::encode(const Event& e, StateWriter& w) {
  w.i64(e.timestamp_ns);
  for (std::string_view s : {e.request_id, e.org, e.project, e.api_key, e.end_user, e.ip,
                             e.user_agent, e.endpoint, e.model})
    w.str(s);
  w.u8(static_cast<uint8_t>(e.endpoint_kind));
  for (const auto* v : {&e.status, &e.prompt_tokens, &e.completion_tokens, &e.reasoning_tokens})
    opt(w, *v);
  opt(w, e.latency_ms);
  const RequestParams& p = e.params;
  opt(w, p.n);
  opt(w, p.temperature);
  opt(w, p.top_p);
  opt(w, p.max_tokens);
  opt(w, p.logprobs);
  opt(w, p.top_logprobs);
  opt(w, p.logit_bias_entries);
  w.u64(p.logit_bias_hash);
  w.str(p.logit_bias_json);
  opt(w, p.echo);
  opt(w, p.best_of);
  opt(w, p.seed);
  opt(w, p.stream);
  opt(w, e.turns);
  w.u64(e.prompt.size());
  for (const PromptPart& part : e.prompt) {
    w.u8(static_cast<uint8_t>(part.role));
    w.str(part.text);
  }
  w.i64(e.token_array_prompts);
}

std::unique_ptr<EventClock::Owned> EventClock::decode(std::string_view bytes) {
  auto o = std::make_unique<Owned>();
  StateReader r(bytes);
  Event& e = o->event;
  e.timestamp_ns = r.time();
  for (std::string& s : o->text) s = r.str();
  e.request_id = o->text[0], e.org = o->text[1], e.project = o->text[2], e.api_key = o->text[3];
  e.end_user = o->text[4], e.ip = o->text[5], e.user_agent = o->text[6], e.endpoint = o->text[7];
  e.model = o->text[8];
  uint8_t kind = r.u8();
  if (kind > static_cast<uint8_t>(EndpointKind::other)) throw StateError("a held event is corrupt");
  e.endpoint_kind = static_cast<EndpointKind>(kind);
  for (auto* v : {&e.status, &e.prompt_tokens, &e.completion_tokens, &e.reasoning_tokens})
    opt(r, *v);
  opt(r, e.latency_ms);
  RequestParams& p = e.params;
  opt(r, p.n);
  opt(r, p.temperature);
  opt(r, p.top_p);
  opt(r, p.max_tokens);
  opt(r, p.logprobs);
  opt(r, p.top_logprobs);
  opt(r, p.logit_bias_entries);
  p.logit_bias_hash = r.u64();
  p.logit_bias_json = r.str();
  opt(r, p.echo);
  opt(r, p.best_of);
  opt(r, p.seed);
  opt(r, p.stream);
  opt(r, e.turns);
  size_t n = r.count(bytes.size());
  o->part_text.resize(n);
  o->parts.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t role = r.u8();
    if (role > static_cast<uint8_t>(PromptRole::user)) throw StateError("a held event is corrupt");
    o->parts[i].role = static_cast<PromptRole>(role);
    o->part_text[i] = r.str();
    o->parts[i].text = o->part_text[i];
  }
  e.prompt = o->parts;
  e.token_array_prompts = r.i64();
  if (!r.at_end()) throw StateError("a held event is corrupt");
  return o;
}

}  // namespace exfilscan::detail
