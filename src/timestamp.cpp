#include <exfilscan/timestamp.h>

#include <cmath>
#include <cstdio>

namespace exfilscan {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

constexpr int64_t ns_per_s = 1'000'000'000;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, size_t& pos, int n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int y, int m) {
  static const unsigned days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

TimestampResult parse_epoch_digits(std::string_view s) {
  // Digits with an optional fraction: epoch numbers written as strings.
  double v = 0;
  size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) v = v * 10 + (s[i] - '0');
  if (i == 0 || i > 19) return {0, TimestampError::bad_syntax};
  if (i < s.size()) {
    if (s[i] != '.' || i + 1 == s.size()) return {0, TimestampError::bad_syntax};
    double scale = 0.1;
    for (++i; i < s.size(); ++i, scale /= 10) {
      if (!is_digit(s[i])) return {0, TimestampError::bad_syntax};
      v += (s[i] - '0') * scale;
    }
  }
  auto ns = epoch_to_ns(v);
  if (!ns) return {0, TimestampError::out_of_range};
  return {*ns, TimestampError::ok};
}

}  // namespace

TimestampResult parse_timestamp(std::string_view s) {
  if (s.empty()) return {0, TimestampError::empty};
  if (s.size() < 19 || s[4] != '-') return parse_epoch_digits(s);

  size_t p = 0;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, p, 4, year) || s[p++] != '-' || !digits(s, p, 2, month) || s[p++] != '-' ||
      !digits(s, p, 2, day))
    return {0, TimestampError::bad_syntax};
  char sep = s[p++];
  if (sep != 'T' && sep != 't' && sep != ' ') return {0, TimestampError::bad_syntax};
  if (!digits(s, p, 2, hour) || p >= s.size() || s[p++] != ':' || !digits(s, p, 2, minute) ||
      p >= s.size() || s[p++] != ':' || !digits(s, p, 2, second))
    return {0, TimestampError::bad_syntax};

  int64_t frac_ns = 0;
  if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
    ++p;
    int n = 0;
    int64_t scale = 100'000'000;
    for (; p < s.size() && is_digit(s[p]); ++p, ++n) {
      // Digits past the ninth are below a nanosecond: accepted and dropped.
      if (n < 9) frac_ns += (s[p] - '0') * scale, scale /= 10;
    }
    if (n == 0) return {0, TimestampError::bad_syntax};
  }

  int64_t offset_s = 0;
  std::string_view zone = s.substr(p);
  if (zone == "Z" || zone == "z" || zone.empty() || zone == " UTC" || zone == "UTC" ||
      zone == " Z") {
    // A missing zone means UTC: the ClickHouse, Langfuse and BigQuery exports write it so.
  } else if (zone[0] == '+' || zone[0] == '-') {
    size_t q = 1;
    int oh, om = 0;
    if (!digits(zone, q, 2, oh)) return {0, TimestampError::bad_syntax};
    if (q < zone.size() && zone[q] == ':') ++q;
    if (q < zone.size() && !digits(zone, q, 2, om)) return {0, TimestampError::bad_syntax};
    if (q != zone.size()) return {0, TimestampError::bad_syntax};
    if (oh > 23 || om > 59) return {0, TimestampError::out_of_range};
    offset_s = (oh * 3600 + om * 60) * (zone[0] == '-' ? -1 : 1);
  } else {
    return {0, TimestampError::bad_syntax};
  }

  if (month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60)
    return {0, TimestampError::out_of_range};
  if (year < 1970 || year > 2261) return {0, TimestampError::out_of_range};
  if (second == 60) second = 59;  // a leap second: held as the last second of the minute

  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  if (secs < 0 || secs >= timestamp_end_s) return {0, TimestampError::out_of_range};
  return {secs * ns_per_s + frac_ns, TimestampError::ok};
}

std::optional<int64_t> epoch_to_ns(double v) {
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  double ns;
  if (v < 1e11)
    ns = v * 1e9;
  else if (v < 1e14)
    ns = v * 1e6;
  else if (v < 1e17)
    ns = v * 1e3;
  else
    ns = v;
  if (ns >= static_cast<double>(timestamp_end_s) * 1e9) return std::nullopt;
  // Round to the microsecond: a float epoch carries no more, and 1741083321.904 must not come
  // back as ...903999999.
  double us = std::nearbyint(ns / 1e3);
  return static_cast<int64_t>(us) * 1000;
}

std::optional<int64_t> epoch_to_ns(int64_t v) {
  // The unit follows from the size, and the range is checked in that unit before scaling: a
  // millisecond count past 2262 would overflow int64 nanoseconds and wrap into the past.
  if (v < 0) return std::nullopt;
  int64_t per_unit = v < 100'000'000'000LL           ? ns_per_s
                     : v < 100'000'000'000'000LL     ? 1'000'000
                     : v < 100'000'000'000'000'000LL ? 1'000
                                                     : 1;
  if (v >= timestamp_end_s * (ns_per_s / per_unit)) return std::nullopt;
  return v * per_unit;
}

std::string format_rfc3339(int64_t ns) {
  int64_t secs = ns / ns_per_s;
  int64_t frac = ns % ns_per_s;
  if (frac < 0) frac += ns_per_s, secs -= 1;
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) rem += 86400, days -= 1;
  // civil_from_days (H. Hinnant)
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;

  char buf[48];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d",
                        static_cast<long long>(y), m, d, static_cast<int>(rem / 3600),
                        static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  if (frac % 1'000'000 == 0)
    n += std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(frac / 1'000'000));
  else if (frac % 1000 == 0)
    n += std::snprintf(buf + n, sizeof buf - n, ".%06dZ", static_cast<int>(frac / 1000));
  else
    n += std::snprintf(buf + n, sizeof buf - n, ".%09dZ", static_cast<int>(frac));
  return std::string(buf, static_cast<size_t>(n));
}

std::string format_rfc3339_at(int64_t ns, int offset_s) {
  if (offset_s == 0) return format_rfc3339(ns);
  std::string text = format_rfc3339(ns + static_cast<int64_t>(offset_s) * ns_per_s);
  text.pop_back();  // the Z
  int a = offset_s < 0 ? -offset_s : offset_s;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%c%02d:%02d", offset_s < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  return text + buf;
}

std::optional<int> parse_utc_offset(std::string_view t) {
  if (t == "UTC" || t == "utc" || t == "Z" || t == "z" || t == "+00:00") return 0;
  if (t.size() < 2 || (t[0] != '+' && t[0] != '-')) return std::nullopt;
  int sign = t[0] == '-' ? -1 : 1;
  std::string_view rest = t.substr(1);
  int h = 0, m = 0;
  size_t i = 0;
  auto digit = [&](size_t k) { return k < rest.size() && rest[k] >= '0' && rest[k] <= '9'; };
  while (digit(i) && i < 2) h = h * 10 + (rest[i++] - '0');
  if (i == 0) return std::nullopt;
  if (i < rest.size() && rest[i] == ':') ++i;
  size_t mstart = i;
  while (digit(i) && i - mstart < 2) m = m * 10 + (rest[i++] - '0');
  if (i != rest.size() || (i > mstart && i - mstart != 2) || h > 14 || m > 59) return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

}  // namespace exfilscan
