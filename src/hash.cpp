#include <exfilscan/hash.h>

#include <cstring>

namespace exfilscan::hash_detail {

namespace {

inline uint64_t read64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

uint64_t hash_long(const char* p, size_t n, uint64_t seed) {
  size_t i = n;
  if (i > 48) {
    uint64_t s1 = seed, s2 = seed;
    do {
      seed = fold(read64(p) ^ k1, read64(p + 8) ^ seed);
      s1 = fold(read64(p + 16) ^ k2, read64(p + 24) ^ s1);
      s2 = fold(read64(p + 32) ^ k3, read64(p + 40) ^ s2);
      p += 48;
      i -= 48;
    } while (i > 48);
    seed ^= s1 ^ s2;
  }
  while (i > 16) {
    seed = fold(read64(p) ^ k1, read64(p + 8) ^ seed);
    p += 16;
    i -= 16;
  }
  return finish(read64(p + i - 16), read64(p + i - 8), seed, n);
}

}  // namespace exfilscan::hash_detail
