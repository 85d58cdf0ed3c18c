#pragma once
/// Time zones for showing times (--tz): a fixed UTC offset, or an IANA zone read from the
/// system's tz database (TZif files, as tzdata installs them). Immutable once made, so one may be
/// read from any number of threads.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

class TimeZoneError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TimeZone {
 public:
  /// UTC.
  TimeZone() = default;
  /// A fixed offset east of UTC, in seconds.
  static TimeZone fixed(int offset_s);
  /// "UTC", an offset ("+05:30", "-0800") or an IANA name ("Europe/Berlin"), read from $TZDIR
  /// or else /usr/share/zoneinfo. Throws TimeZoneError saying why not.
  static TimeZone load(std::string_view name);
  /// A zone from the bytes of a TZif file (versions 1 to 4), named `name`. Throws TimeZoneError.
  static TimeZone from_tzif(std::string_view bytes, std::string name);

  /// Seconds east of UTC at an instant.
  int offset_at(int64_t utc_ns) const;
  /// The instant at which the zone's clocks show `local_s` (seconds since 1970-01-01T00:00 of
  /// local time). A time shown twice (clocks set back) is its first; one skipped (clocks set
  /// forward) is read with the offset before the change, so it lands after the gap.
  int64_t to_utc_ns(int64_t local_s) const;
  /// "UTC", "+05:30" or the IANA name.
  const std::string& name() const { return name_; }
  bool is_utc() const { return name_ == "UTC"; }

  /// After the last transition a TZif file lists, its POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3").
  struct Rule {
    int std_offset = 0;  // seconds east
    int dst_offset = 0;
    bool has_dst = false;
    // Each change: month (1-12), week (1-5, 5 the last), weekday (0 Sunday), or `julian` days
    // (kind 1: 1-365 without Feb 29; kind 2: 0-365 with it); at `time` seconds of local time.
    struct Change {
      int kind = 0;  // 0 Mm.w.d, 1 Jn, 2 n
      int month = 0, week = 0, weekday = 0, day = 0;
      int time = 7200;
    } start, end;
  };
  /// Parses a POSIX TZ rule; false when malformed.
  static bool parse_rule(std::string_view text, Rule& out);

 private:
  int offset_at_s(int64_t utc_s) const;
  std::string name_ = "UTC";
  int fixed_ = 0;
  std::vector<int64_t> transitions_;  // UTC seconds, ascending
  std::vector<int> offsets_;          // in force from transitions_[i]
  int before_ = 0;                    // before the first transition
  bool has_rule_ = false;
  Rule rule_;
};

/// RFC 3339 at the zone's offset at that instant: "2026-11-02T23:40:00.000+01:00" (Z in UTC).
std::string format_time(int64_t ns, const TimeZone& zone);

/// A --since or --until value: an RFC 3339 time with its offset or Z; a date-time without one
/// ("2026-11-02T10:00", "2026-11-02 10:00:00.5"), read in `zone`; a date ("2026-11-02"), its
/// start in `zone`, or for an `end` the start of the next day (the day is included); epoch
/// seconds or milliseconds (10 digits or more: "24" is a span without its unit); or a span back
/// from `now_ns`, the time of the run ("90m", "24h", "7d", "2w"). Events stream, so the newest is
/// not known until the end: spans count from now. nullopt when it is none of these.
std::optional<int64_t> parse_time_bound(std::string_view text, const TimeZone& zone, int64_t now_ns,
                                        bool end);

}  // namespace exfilscan
