#pragma once
/// Internal: the keys the engine forgot (idle expiry, the account cap), each as a hash and the
/// time it was last seen, so that one that comes back is judged as the dormant account it is and
/// not as a new one. 16 bytes a key, at most a cap of them.

#include <exfilscan/state.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace exfilscan::detail {

class ForgottenKeys {
 public:
  struct Entry {
    uint64_t hash;  // hash_bytes of the key
    int64_t last_seen_ns;
  };

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }
  /// When the key was last seen before it was forgotten; 0 when it was not forgotten.
  int64_t last_seen(uint64_t hash) const;
  /// The keys that came back leave, then the newly forgotten join (for a key in both, it was
  /// forgotten again); over `cap`, those forgotten longest ago go. Returns how many went. The
  /// result depends only on the sets given, not on their order. Between two updates the entries
  /// do not change, so the engine's shards may look keys up at once.
  uint64_t update(std::vector<uint64_t>& returned, std::vector<Entry>& forgotten, size_t cap);
  /// Without the keys in `returned` (sorted): they came back since the last update.
  void save(StateWriter& w, const std::vector<uint64_t>& returned) const;
  void load(StateReader& r, size_t cap);

 private:
  std::vector<Entry> entries_;  // by hash, one entry a hash
};

}  // namespace exfilscan::detail
