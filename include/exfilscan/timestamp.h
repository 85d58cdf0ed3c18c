#pragma once
/// Timestamps in every form LLM API logs use, held as UTC nanoseconds since the Unix epoch.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace exfilscan {

/// Why a timestamp string was refused; `ok` when it parsed.
enum class TimestampError : uint8_t { ok, empty, bad_syntax, out_of_range };

struct TimestampResult {
  int64_t ns = 0;
  TimestampError error = TimestampError::ok;
};

/// Accepts RFC 3339 (`T` or space, `Z`/`z` or ±hh:mm / ±hhmm, 0–9 fractional digits),
/// `YYYY-MM-DD HH:MM:SS[.f]` as UTC with an optional ` UTC` suffix, and strings of digits
/// (epoch, see epoch_to_ns).
TimestampResult parse_timestamp(std::string_view text);

/// Every form accepts times from 1970 up to, not including, 2262-01-01T00:00:00Z (this many
/// seconds since the epoch): later ones do not fit int64 nanoseconds for long.
inline constexpr int64_t timestamp_end_s = 9'214'646'400;

/// Epoch numbers told apart by magnitude: below 1e11 seconds, below 1e14 milliseconds, below
/// 1e17 microseconds, else nanoseconds. Negative, non-finite and out-of-range values (checked
/// before scaling) are refused.
std::optional<int64_t> epoch_to_ns(double value);
std::optional<int64_t> epoch_to_ns(int64_t value);

/// RFC 3339 UTC with 3, 6 or 9 fractional digits, the fewest that keep the value exact.
std::string format_rfc3339(int64_t ns);

/// An RFC 3339 time shown at a UTC offset (seconds east): "2026-11-02T19:33:11.482+05:30".
/// Offset 0 gives the same text as format_rfc3339.
std::string format_rfc3339_at(int64_t ns, int offset_s);

/// "UTC", "Z", "+05:30", "-0800", "+5" to seconds east of UTC; nullopt when malformed.
std::optional<int> parse_utc_offset(std::string_view text);

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace exfilscan
