// libFuzzer target: bytes as a TZif file, as the POSIX TZ rule of one's footer, and as a
// --since/--until value. Whatever is accepted gives offsets within a day either side of UTC.
#include <exfilscan/time_zone.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace exfilscan;

namespace {

/// Offsets over two centuries, and local times back to instants, never past a day's offset.
void exercise(const TimeZone& z) {
  for (int64_t s = -86'400; s < 7'000'000'000; s += 86'400LL * 97 + 3'607) {
    int offset = z.offset_at(s * 1'000'000'000);
    if (offset < -26 * 3600 || offset > 26 * 3600) std::abort();
    (void)z.to_utc_ns(s);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    exercise(TimeZone::from_tzif(bytes, "fuzz"));
  } catch (const TimeZoneError&) {
  }
  // The bytes as the footer of a version 2 file with one type (UTC+1) and no transitions.
  std::string header = "TZif2" + std::string(15, '\0');
  for (int count : {0, 0, 0, 0, 1, 4})
    header += std::string("\0\0\0", 3) + static_cast<char>(count);
  std::string type = std::string("\0\0\x0e\x10\0\0", 6) + std::string("CET\0", 4);
  std::string line(bytes.substr(0, bytes.find('\n')));
  try {
    exercise(TimeZone::from_tzif(header + type + header + type + "\n" + line + "\n", "fuzz"));
  } catch (const TimeZoneError&) {
  }
  for (bool end : {false, true}) {
    auto t = parse_time_bound(line, TimeZone::fixed(19'800), 1'796'000'000'000'000'000, end);
    if (t && (*t < -86'400'000'000'000 || *t > 9'300'000'000'000'000'000)) std::abort();
  }
  return 0;
}
