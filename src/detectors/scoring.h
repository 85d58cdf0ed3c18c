#pragma once
/// Internal: small arithmetic and wording the detectors share.

#include "engine/account_state.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace exfilscan::detail {

inline double clamp01(double x) {
  return std::clamp(x, 0.0, 1.0);
}

inline double share(uint64_t part, uint64_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

/// The window's width, as the reasons say it: "1h", "10min".
inline std::string window_text(const WindowStats& w) {
  int64_t minutes = w.slice_ns * 60 / 60'000'000'000LL;
  return minutes % 60 == 0 ? fmt::format("{}h", minutes / 60) : fmt::format("{}min", minutes);
}

}  // namespace exfilscan::detail
