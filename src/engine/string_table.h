#pragma once
/// Internal: a hash table from strings to values for the engine's per-key state (accounts,
/// threshold keys). Open addressing over a compact array of (hash tag, index) slots, values in
/// their own allocations: a lookup touches the slot array and then only the value it returns,
/// where a node-based map chased a bucket, a node and a key. Values never move while they are
/// in the table. Iteration order is insertion order, changed by erasures; callers that need an
/// order sort.

#include <exfilscan/hash.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exfilscan::detail {

template <typename V>
class StringTable {
  struct Node {
    std::pair<std::string, V> entry;
    uint64_t hash;
  };

 public:
  class iterator {
   public:
    using Inner = typename std::vector<std::unique_ptr<Node>>::const_iterator;
    explicit iterator(Inner at) : at_(at) {}
    std::pair<std::string, V>& operator*() const { return (*at_)->entry; }
    std::pair<std::string, V>* operator->() const { return &(*at_)->entry; }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator==(const iterator& o) const { return at_ == o.at_; }

   private:
    Inner at_;
  };

  iterator begin() const { return iterator(nodes_.begin()); }
  iterator end() const { return iterator(nodes_.end()); }
  size_t size() const { return nodes_.size(); }
  bool empty() const { return nodes_.empty(); }
  void clear() {
    nodes_.clear();
    slots_.clear();
  }

  V* find(std::string_view key) const {
    size_t slot = locate(key, hash_bytes(key));
    return slot == npos ? nullptr : &nodes_[index_of(slots_[slot])]->entry.second;
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  /// The value under `key`, default-constructed if it was absent; true when it was added.
  std::pair<V*, bool> try_emplace(std::string_view key) {
    uint64_t h = hash_bytes(key);
    size_t slot = locate(key, h);
    if (slot != npos) return {&nodes_[index_of(slots_[slot])]->entry.second, false};
    if (2 * (nodes_.size() + 1) > slots_.size()) grow();
    nodes_.push_back(std::unique_ptr<Node>(new Node{{std::string(key), V{}}, h}));
    place(h, nodes_.size() - 1);
    return {&nodes_.back()->entry.second, true};
  }
  V& operator[](std::string_view key) { return *try_emplace(key).first; }

  void erase(std::string_view key) {
    size_t slot = locate(key, hash_bytes(key));
    if (slot != npos) erase_slot(slot);
  }
  /// Erases every entry for which pred(key, value) holds.
  template <typename Pred>
  void erase_if(Pred&& pred) {
    for (size_t i = 0; i < nodes_.size();) {
      Node& n = *nodes_[i];
      if (pred(n.entry.first, n.entry.second))
        erase_slot(locate(n.entry.first, n.hash));  // the last entry moves into i: look again
      else
        ++i;
    }
  }

 private:
  static constexpr size_t npos = SIZE_MAX;
  // A slot: the hash's upper 32 bits, then the entry's index + 1 (0: empty).
  static uint64_t tag(uint64_t hash) { return hash & 0xffffffff00000000ULL; }
  static size_t index_of(uint64_t slot) { return static_cast<size_t>(slot & 0xffffffffu) - 1; }
  size_t mask() const { return slots_.size() - 1; }

  size_t locate(std::string_view key, uint64_t h) const {
    if (slots_.empty()) return npos;
    for (size_t i = h & mask();; i = (i + 1) & mask()) {
      uint64_t s = slots_[i];
      if (s == 0) return npos;
      if ((s & 0xffffffff00000000ULL) == tag(h) && nodes_[index_of(s)]->entry.first == key)
        return i;
    }
  }
  void place(uint64_t h, size_t index) {
    size_t i = h & mask();
    while (slots_[i]) i = (i + 1) & mask();
    slots_[i] = tag(h) | (index + 1);
  }
  void grow() {
    slots_.assign(std::max<size_t>(16, slots_.size() * 2), 0);
    for (size_t i = 0; i < nodes_.size(); ++i) place(nodes_[i]->hash, i);
  }
  void erase_slot(size_t slot) {
    size_t index = index_of(slots_[slot]);
    // Backward-shift deletion: later entries of the probe run move up, so no tombstones.
    size_t i = slot;
    for (size_t j = (i + 1) & mask(); slots_[j]; j = (j + 1) & mask()) {
      size_t home = nodes_[index_of(slots_[j])]->hash & mask();
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (stays) continue;
      slots_[i] = slots_[j];
      i = j;
    }
    slots_[i] = 0;
    // The last entry takes the erased one's place in the array.
    size_t last = nodes_.size() - 1;
    if (index != last) {
      uint64_t h = nodes_[last]->hash;
      size_t k = h & mask();
      while (index_of(slots_[k]) != last) k = (k + 1) & mask();
      slots_[k] = tag(h) | (index + 1);
      nodes_[index] = std::move(nodes_[last]);
    }
    nodes_.pop_back();
  }

  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<uint64_t> slots_;
};

}  // namespace exfilscan::detail
