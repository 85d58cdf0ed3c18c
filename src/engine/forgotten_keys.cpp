#include "engine/forgotten_keys.h"

#include <algorithm>
#include <tuple>

namespace exfilscan::detail {

namespace {

bool by_hash(const ForgottenKeys::Entry& a, const ForgottenKeys::Entry& b) {
  return a.hash < b.hash;
}

/// Forgotten longest ago first; the hash decides between equal times (a total order, so the
/// same keys are dropped whatever order they came in).
bool by_age(const ForgottenKeys::Entry& a, const ForgottenKeys::Entry& b) {
  return std::tie(a.last_seen_ns, a.hash) < std::tie(b.last_seen_ns, b.hash);
}

}  // namespace

int64_t ForgottenKeys::last_seen(uint64_t hash) const {
  auto at = std::lower_bound(entries_.begin(), entries_.end(), Entry{hash, 0}, by_hash);
  return at != entries_.end() && at->hash == hash ? at->last_seen_ns : 0;
}

uint64_t ForgottenKeys::update(std::vector<uint64_t>& returned, std::vector<Entry>& forgotten,
                               size_t cap) {
  if (!returned.empty()) {
    std::sort(returned.begin(), returned.end());
    std::erase_if(entries_, [&](const Entry& e) {
      return std::binary_search(returned.begin(), returned.end(), e.hash);
    });
    returned.clear();
  }
  if (!forgotten.empty()) {
    std::sort(forgotten.begin(), forgotten.end(), by_hash);
    auto old = static_cast<std::ptrdiff_t>(entries_.size());
    entries_.insert(entries_.end(), forgotten.begin(), forgotten.end());
    std::inplace_merge(entries_.begin(), entries_.begin() + old, entries_.end(), by_hash);
    // One entry a hash, with the latest time: a key forgotten, back and forgotten again.
    auto out = entries_.begin();
    for (const Entry& e : entries_) {
      if (out != entries_.begin() && (out - 1)->hash == e.hash)
        (out - 1)->last_seen_ns = std::max((out - 1)->last_seen_ns, e.last_seen_ns);
      else
        *out++ = e;
    }
    entries_.erase(out, entries_.end());
    forgotten.clear();
  }
  if (entries_.size() <= cap) return 0;
  size_t excess = entries_.size() - cap;
  std::vector<Entry> oldest = entries_;
  std::nth_element(oldest.begin(), oldest.begin() + static_cast<std::ptrdiff_t>(excess),
                   oldest.end(), by_age);
  Entry keep_from = oldest[excess];
  std::erase_if(entries_, [&](const Entry& e) { return by_age(e, keep_from); });
  return excess;
}

void ForgottenKeys::save(StateWriter& w, const std::vector<uint64_t>& returned) const {
  auto gone = [&](const Entry& e) {
    return std::binary_search(returned.begin(), returned.end(), e.hash);
  };
  w.u64(static_cast<uint64_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return !gone(e); })));
  for (const Entry& e : entries_)
    if (!gone(e)) w.u64(e.hash), w.i64(e.last_seen_ns);
}

void ForgottenKeys::load(StateReader& r, size_t cap) {
  entries_.resize(r.count(cap));
  for (Entry& e : entries_) e.hash = r.u64(), e.last_seen_ns = r.time();
  bool sorted = std::adjacent_find(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
                  return a.hash >= b.hash;
                }) == entries_.end();
  if (!sorted) throw StateError("the state's forgotten keys are out of order");
}

}  // namespace exfilscan::detail
