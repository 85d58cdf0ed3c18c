#include <exfilscan/hash.h>

#include <cstring>

namespace exfilscan {

uint64_t hash_bytes(std::string_view s, uint64_t seed) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ seed ^ (s.size() * 0xff51afd7ed558ccdULL);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix64(h ^ w) + 0x9E3779B97F4A7C15ULL;
  }
  uint64_t w = 0;
  std::memcpy(&w, s.data() + i, s.size() - i);
  return mix64(h ^ w);
}

}  // namespace exfilscan
