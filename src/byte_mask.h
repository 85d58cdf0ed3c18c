#pragma once
/// Internal: 32 bytes compared at once and the results as a bit mask. GCC's vector extensions
/// make this AVX2 where the build targets it, and portable code (which the sanitizer pass
/// builds and tests) elsewhere.

#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace exfilscan::detail {

using Bytes32 = unsigned char __attribute__((vector_size(32)));

/// The 32 bytes at p (which must be readable: callers rely on their input's padding).
inline Bytes32 load32(const char* p) {
  Bytes32 v;
  std::memcpy(&v, p, 32);
  return v;
}

/// Bit i set when byte i of the vector is 0xff (each byte is 0x00 or 0xff).
inline uint32_t bits_of(Bytes32 v) {
#if defined(__AVX2__)
  return static_cast<uint32_t>(_mm256_movemask_epi8(reinterpret_cast<__m256i>(v)));
#else
  uint32_t out = 0;
  for (int w = 0; w < 4; ++w) {
    uint64_t x;
    std::memcpy(&x, reinterpret_cast<const char*>(&v) + 8 * w, 8);
    out |= static_cast<uint32_t>(((x & 0x8080808080808080ULL) * 0x0002040810204081ULL) >> 56)
           << (8 * w);
  }
  return out;
#endif
}

/// Bit i set when byte i of the 32 at p is c.
inline uint32_t equal_bits(const char* p, unsigned char c) {
  return bits_of(reinterpret_cast<Bytes32>(load32(p) == c));
}

}  // namespace exfilscan::detail
