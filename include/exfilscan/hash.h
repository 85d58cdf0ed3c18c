#pragma once
/// Fast non-cryptographic hashing for keys, prompts and parameter maps.

#include <cstddef>
#include <cstdint>
#include <cstring>
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

namespace hash_detail {

// A multiply-fold hash in the manner of wyhash: each 16 bytes cost one 64x64->128 multiply,
// several times faster than a byte loop, and the output passes the avalanche tests we need
// (distinct keys, prompts and slot values land on distinct hashes).
inline constexpr uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
                          k2 = 0x8ebc6af09c88c6e3ULL, k3 = 0x589965cc75374cc3ULL;

inline uint64_t fold(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t read32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint64_t finish(uint64_t a, uint64_t b, uint64_t seed, size_t n) {
  a ^= k1;
  b ^= seed;
  a = fold(a, b);
  return fold(a ^ k0 ^ n, b ^ k1);
}

/// More than 16 bytes, `seed` already mixed (src/hash.cpp).
uint64_t hash_long(const char* p, size_t n, uint64_t seed);

}  // namespace hash_detail

/// Stable across runs and machines (results are written to state files and reports). The
/// short case is inline: tokens and keys are a few bytes, where a call costs what the hash does.
inline uint64_t hash_bytes(std::string_view s, uint64_t seed = 0) {
  using namespace hash_detail;
  const char* p = s.data();
  size_t n = s.size();
  seed ^= k0 ^ fold(seed ^ k0, k1);
  if (n > 16) return hash_long(p, n, seed);
  uint64_t a, b;
  if (n >= 4) {
    a = (read32(p) << 32) | read32(p + ((n >> 3) << 2));
    b = (read32(p + n - 4) << 32) | read32(p + n - 4 - ((n >> 3) << 2));
  } else if (n > 0) {
    a = (static_cast<uint64_t>(static_cast<unsigned char>(p[0])) << 16) |
        (static_cast<uint64_t>(static_cast<unsigned char>(p[n >> 1])) << 8) |
        static_cast<unsigned char>(p[n - 1]);
    b = 0;
  } else {
    a = b = 0;
  }
  return finish(a, b, seed, n);
}

}  // namespace exfilscan
