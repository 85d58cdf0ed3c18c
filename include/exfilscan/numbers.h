#pragma once
/// Numbers as people read them, for every stage that writes one (the reports, the closing line,
/// the rules calibrate writes).

#include <cstdint>
#include <string>

namespace exfilscan {

/// Counts for people: 1234567 -> "1,234,567".
inline std::string with_commas(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace exfilscan
