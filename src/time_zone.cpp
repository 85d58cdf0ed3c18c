// TZif files (RFC 8536) read by hand: Debian 12's libstdc++ (GCC 12) has no std::chrono::tzdb,
// and localtime_r would mean setting TZ for the whole process.
#include <exfilscan/time_zone.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

namespace exfilscan {

namespace {

constexpr int64_t day_s = 86400;
constexpr int64_t ns_per_s = 1'000'000'000;

/// Big-endian integers out of the file, failing past its end.
class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  bool skip(size_t n) {
    if (n > b_.size() - at_) return false;
    at_ += n;
    return true;
  }
  bool be(size_t n, int64_t& out) {
    if (n > b_.size() - at_) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(b_[at_ + i]);
    at_ += n;
    // The 4- and 8-byte values are two's complement.
    out = n == 4 ? static_cast<int32_t>(static_cast<uint32_t>(v)) : static_cast<int64_t>(v);
    return true;
  }
  std::string_view rest() const { return b_.substr(at_); }

 private:
  std::string_view b_;
  size_t at_ = 0;
};

struct Header {
  char version = 0;
  int64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

bool read_header(Bytes& in, Header& h) {
  std::string_view r = in.rest();
  if (r.size() < 44 || r.substr(0, 4) != "TZif") return false;
  h.version = r[4];
  in.skip(20);
  for (int64_t* v : {&h.isutcnt, &h.isstdcnt, &h.leapcnt, &h.timecnt, &h.typecnt, &h.charcnt})
    if (!in.be(4, *v) || *v < 0 || *v > 100'000) return false;
  return h.typecnt > 0 && (h.isutcnt == 0 || h.isutcnt == h.typecnt) &&
         (h.isstdcnt == 0 || h.isstdcnt == h.typecnt);
}

/// Weekday of a day since the epoch, 0 Sunday (1970-01-01 was a Thursday).
int weekday(int64_t days) {
  return static_cast<int>(((days % 7) + 11) % 7);
}

bool leap_year(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int64_t y, int m) {
  static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : dim[m - 1];
}

/// The day (since the epoch) a rule's change falls on in year `y`.
int64_t change_day(const TimeZone::Rule::Change& c, int64_t y) {
  int64_t jan1 = days_from_civil(y, 1, 1);
  if (c.kind == 1) return jan1 + c.day - 1 + (leap_year(y) && c.day >= 60 ? 1 : 0);
  if (c.kind == 2) return jan1 + c.day;
  int64_t first = days_from_civil(y, static_cast<unsigned>(c.month), 1);
  int day = 1 + (c.weekday - weekday(first) + 7) % 7 + (c.week - 1) * 7;
  while (day > days_in_month(y, c.month)) day -= 7;
  return first + day - 1;
}

/// The year a UTC second falls in at a local offset.
int64_t year_of(int64_t local_s) {
  int64_t days = local_s >= 0 ? local_s / day_s : (local_s - day_s + 1) / day_s;
  // civil_from_days, the year only (H. Hinnant).
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  auto doe = static_cast<unsigned>(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  return static_cast<int64_t>(yoe) + era * 400 + (mp >= 10 ? 1 : 0);
}

int rule_offset(const TimeZone::Rule& r, int64_t utc_s) {
  if (!r.has_dst) return r.std_offset;
  int64_t y = year_of(utc_s + r.std_offset);
  // The start is given in standard time, the end in daylight time.
  int64_t start = change_day(r.start, y) * day_s + r.start.time - r.std_offset;
  int64_t end = change_day(r.end, y) * day_s + r.end.time - r.dst_offset;
  bool dst = start < end ? (utc_s >= start && utc_s < end) : !(utc_s >= end && utc_s < start);
  return dst ? r.dst_offset : r.std_offset;
}

/// POSIX TZ pieces: a name (`CET` or `<+0330>`), an offset or time (`-1`, `+05:30:00`).
bool rule_name(std::string_view& t) {
  size_t n = 0;
  if (!t.empty() && t[0] == '<') {
    n = t.find('>');
    if (n == std::string_view::npos || n < 2) return false;
    t.remove_prefix(n + 1);
    return true;
  }
  while (n < t.size() && ((t[n] >= 'A' && t[n] <= 'Z') || (t[n] >= 'a' && t[n] <= 'z'))) ++n;
  if (n < 3) return false;
  t.remove_prefix(n);
  return true;
}

bool rule_time(std::string_view& t, int& out, int max_hours) {
  int sign = 1;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) sign = t[0] == '-' ? -1 : 1, t.remove_prefix(1);
  int parts[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    if (p > 0) {
      if (t.empty() || t[0] != ':') break;
      t.remove_prefix(1);
    }
    size_t n = 0;
    int v = 0;
    while (n < t.size() && n < 3 && t[n] >= '0' && t[n] <= '9') v = v * 10 + (t[n++] - '0');
    if (n == 0 || (p > 0 && (n != 2 || v > 59))) return false;
    parts[p] = v;
    t.remove_prefix(n);
  }
  if (parts[0] > max_hours) return false;
  out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
  return true;
}

bool rule_number(std::string_view& t, int& out, int lo, int hi) {
  size_t n = 0;
  int v = 0;
  while (n < t.size() && n < 3 && t[n] >= '0' && t[n] <= '9') v = v * 10 + (t[n++] - '0');
  if (n == 0 || v < lo || v > hi) return false;
  t.remove_prefix(n);
  out = v;
  return true;
}

bool rule_change(std::string_view& t, TimeZone::Rule::Change& c) {
  if (t.empty()) return false;
  if (t[0] == 'M') {
    t.remove_prefix(1);
    c.kind = 0;
    if (!rule_number(t, c.month, 1, 12) || t.empty() || t[0] != '.') return false;
    t.remove_prefix(1);
    if (!rule_number(t, c.week, 1, 5) || t.empty() || t[0] != '.') return false;
    t.remove_prefix(1);
    if (!rule_number(t, c.weekday, 0, 6)) return false;
  } else if (t[0] == 'J') {
    t.remove_prefix(1);
    c.kind = 1;
    if (!rule_number(t, c.day, 1, 365)) return false;
  } else {
    c.kind = 2;
    if (!rule_number(t, c.day, 0, 365)) return false;
  }
  c.time = 7200;
  if (!t.empty() && t[0] == '/') {
    t.remove_prefix(1);
    return rule_time(t, c.time, 167);
  }
  return true;
}

/// A name that can only be a file under the zoneinfo directory.
bool plain_zone_name(std::string_view n) {
  if (n.empty() || n.size() > 255 || n[0] == '/' || n.back() == '/') return false;
  size_t from = 0;
  while (from <= n.size()) {
    size_t to = std::min(n.find('/', from), n.size());
    std::string_view part = n.substr(from, to - from);
    if (part.empty() || part == "." || part == "..") return false;
    from = to + 1;
  }
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '-' || c == '+' || c == '.';
  });
}

}  // namespace

bool TimeZone::parse_rule(std::string_view t, Rule& r) {
  r = Rule{};
  int west = 0;
  if (!rule_name(t) || !rule_time(t, west, 24)) return false;
  r.std_offset = -west;
  if (t.empty()) return true;
  if (!rule_name(t)) return false;
  r.has_dst = true;
  r.dst_offset = r.std_offset + 3600;
  if (!t.empty() && t[0] != ',') {
    if (!rule_time(t, west, 24)) return false;
    r.dst_offset = -west;
  }
  if (t.empty()) {  // POSIX leaves the dates to the system; glibc takes the US rules
    std::string_view start = "M3.2.0", end = "M11.1.0";
    return rule_change(start, r.start) && rule_change(end, r.end);
  }
  if (t[0] != ',') return false;
  t.remove_prefix(1);
  if (!rule_change(t, r.start) || t.empty() || t[0] != ',') return false;
  t.remove_prefix(1);
  return rule_change(t, r.end) && t.empty();
}

TimeZone TimeZone::fixed(int offset_s) {
  TimeZone z;
  z.fixed_ = offset_s;
  if (offset_s != 0) {
    int a = std::abs(offset_s);
    z.name_ = fmt::format("{}{:02d}:{:02d}", offset_s < 0 ? '-' : '+', a / 3600, a / 60 % 60);
  }
  return z;
}

TimeZone TimeZone::from_tzif(std::string_view bytes, std::string name) {
  auto bad = [&name](std::string_view why) {
    return TimeZoneError(fmt::format("time zone {}: not a usable TZif file ({})", name, why));
  };
  Bytes in(bytes);
  Header h;
  if (!read_header(in, h)) throw bad("no TZif header");
  size_t time_size = 4;
  auto data_size = [](const Header& x, size_t ts) {
    return static_cast<size_t>(x.timecnt) * (ts + 1) + static_cast<size_t>(x.typecnt) * 6 +
           static_cast<size_t>(x.charcnt) + static_cast<size_t>(x.leapcnt) * (ts + 4) +
           static_cast<size_t>(x.isstdcnt + x.isutcnt);
  };
  if (h.version >= '2') {  // skip the 32-bit block for the 64-bit one
    if (!in.skip(data_size(h, 4)) || !read_header(in, h)) throw bad("truncated");
    time_size = 8;
  }
  TimeZone z;
  z.name_ = std::move(name);
  std::vector<int64_t> times(static_cast<size_t>(h.timecnt));
  for (int64_t& t : times)
    if (!in.be(time_size, t)) throw bad("truncated");
  std::vector<int64_t> index(times.size());
  for (int64_t& i : index)
    if (!in.be(1, i) || i >= h.typecnt) throw bad("bad transition");
  std::vector<int> types(static_cast<size_t>(h.typecnt));
  for (int& off : types) {
    int64_t utoff = 0, unused = 0;
    if (!in.be(4, utoff) || !in.be(1, unused) || !in.be(1, unused)) throw bad("truncated");
    if (utoff < -25 * 3600 || utoff > 26 * 3600) throw bad("offset out of range");
    off = static_cast<int>(utoff);
  }
  size_t rest = static_cast<size_t>(h.charcnt) + static_cast<size_t>(h.leapcnt) * (time_size + 4) +
                static_cast<size_t>(h.isstdcnt + h.isutcnt);
  if (!in.skip(rest)) throw bad("truncated");
  for (size_t i = 1; i < times.size(); ++i)
    if (times[i] <= times[i - 1]) throw bad("transitions out of order");
  z.transitions_ = std::move(times);
  for (int64_t i : index) z.offsets_.push_back(types[static_cast<size_t>(i)]);
  z.before_ = types[0];
  z.fixed_ = z.before_;
  if (time_size == 8) {
    std::string_view footer = in.rest();
    if (footer.size() >= 2 && footer[0] == '\n') {
      size_t end = footer.find('\n', 1);
      std::string_view text = footer.substr(1, end == std::string_view::npos ? 0 : end - 1);
      if (!text.empty()) {
        if (!parse_rule(text, z.rule_)) throw bad("bad TZ rule in its footer");
        z.has_rule_ = true;
      }
    }
  }
  return z;
}

TimeZone TimeZone::load(std::string_view name) {
  if (auto offset = parse_utc_offset(name)) return fixed(*offset);
  if (!plain_zone_name(name))
    throw TimeZoneError(
        fmt::format("--tz: '{}' is neither an offset (+05:30, -08:00, UTC) nor a time zone name "
                    "(Europe/Berlin)",
                    name));
  const char* env = std::getenv("TZDIR");
  std::string dir = env && *env ? env : "/usr/share/zoneinfo";
  std::string path = dir + "/" + std::string(name);
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw TimeZoneError(fmt::format(
        "--tz: no time zone '{}' in {} (a name such as Europe/Berlin; Debian's tzdata package "
        "installs them), nor an offset such as +05:30",
        name, dir));
  std::string bytes;
  char buf[4096];
  while (file.read(buf, sizeof buf) || file.gcount() > 0) {
    bytes.append(buf, static_cast<size_t>(file.gcount()));
    if (bytes.size() > (1u << 20)) throw TimeZoneError(fmt::format("--tz: {} is too big", path));
  }
  return from_tzif(bytes, std::string(name));
}

int TimeZone::offset_at_s(int64_t s) const {
  if (transitions_.empty()) return has_rule_ ? rule_offset(rule_, s) : fixed_;
  if (s < transitions_.front()) return before_;
  if (has_rule_ && s >= transitions_.back()) return rule_offset(rule_, s);
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), s);
  return offsets_[static_cast<size_t>(it - transitions_.begin()) - 1];
}

int TimeZone::offset_at(int64_t utc_ns) const {
  int64_t s = utc_ns / ns_per_s - (utc_ns % ns_per_s < 0 ? 1 : 0);
  return offset_at_s(s);
}

int64_t TimeZone::to_utc_ns(int64_t local_s) const {
  // Any change is more than a day from the next: the offsets a day either side are the two
  // a local time can have.
  int a = offset_at_s(local_s - day_s), b = offset_at_s(local_s + day_s);
  int64_t ua = local_s - a, ub = local_s - b;
  bool a_ok = offset_at_s(ua) == a, b_ok = offset_at_s(ub) == b;
  int64_t s = a_ok && b_ok ? std::min(ua, ub) : b_ok ? ub : ua;
  return s * ns_per_s;
}

std::string format_time(int64_t ns, const TimeZone& zone) {
  return format_rfc3339_at(ns, zone.offset_at(ns));
}

std::optional<int64_t> parse_time_bound(std::string_view t, const TimeZone& zone, int64_t now_ns,
                                        bool end) {
  auto digits = [](std::string_view x) {
    return !x.empty() &&
           std::all_of(x.begin(), x.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  // A span back from now: 90m, 24h, 7d, 2w.
  if (t.size() >= 2 && digits(t.substr(0, t.size() - 1)) && t.size() <= 9) {
    int64_t unit = 0;
    switch (t.back()) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = day_s;
        break;
      case 'w':
        unit = 7 * day_s;
        break;
      default:
        break;
    }
    if (unit) {
      int64_t n = std::strtoll(std::string(t.substr(0, t.size() - 1)).c_str(), nullptr, 10);
      int64_t back = n * unit;
      if (back > now_ns / ns_per_s) return std::nullopt;  // before 1970
      return now_ns - back * ns_per_s;
    }
  }
  bool dated = t.size() >= 10 && digits(t.substr(0, 4)) && t[4] == '-' && digits(t.substr(5, 2)) &&
               t[7] == '-' && digits(t.substr(8, 2));
  if (dated && t.size() == 10) {  // a day in the zone
    TimestampResult r = parse_timestamp(std::string(t) + "T00:00:00Z");
    if (r.error != TimestampError::ok) return std::nullopt;
    int64_t day = r.ns / ns_per_s + (end ? day_s : 0);
    return zone.to_utc_ns(day);
  }
  if (dated && t.size() > 11 && (t[10] == 'T' || t[10] == 't' || t[10] == ' ')) {
    std::string_view time = t.substr(11);
    bool has_offset = time.find_first_of("Zz+-") != std::string_view::npos ||
                      (time.size() > 4 && time.substr(time.size() - 4) == " UTC");
    if (!has_offset) {  // local time in the zone; "10:00" is "10:00:00"
      std::string text(t);
      if (time.size() == 5) text += ":00";
      TimestampResult r = parse_timestamp(text + "Z");
      if (r.error != TimestampError::ok) return std::nullopt;
      int64_t s = r.ns / ns_per_s, frac = r.ns % ns_per_s;
      return zone.to_utc_ns(s) + frac;
    }
  }
  // Epoch numbers of fewer than 10 digits (before 2001) are more likely a span without its unit.
  if (digits(t) && t.size() < 10) return std::nullopt;
  TimestampResult r = parse_timestamp(t);
  if (r.error != TimestampError::ok) return std::nullopt;
  return r.ns;
}

}  // namespace exfilscan
