#pragma once
/// Fast non-cryptographic hashing for keys, prompts and parameter maps.

#include <cstdint>
#include <string_view>

namespace exfilscan {

/// A 64-bit finaliser (MurmurHash3 fmix64): spreads every input bit over the output.
inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/// Stable across runs and machines (results are written to state files and reports).
uint64_t hash_bytes(std::string_view bytes, uint64_t seed = 0);

}  // namespace exfilscan
