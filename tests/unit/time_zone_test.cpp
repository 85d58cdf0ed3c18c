// Time zones read from TZif files, their POSIX rules, and --since/--until values (issue 19).
#include <exfilscan/time_zone.h>
#include <exfilscan/timestamp.h>

#include <catch2/catch.hpp>

#include <time.h>
#include <unistd.h>
#include <cstdlib>
#include <string>

using namespace exfilscan;

namespace {

constexpr int64_t s_ns = 1'000'000'000;

int64_t at(const char* rfc3339) {
  TimestampResult r = parse_timestamp(rfc3339);
  REQUIRE(r.error == TimestampError::ok);
  return r.ns;
}

bool have_tzdata() {
  return ::access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0;
}

/// glibc's offset for the same zone and instant, to check ours against.
long libc_offset(const char* zone, int64_t s) {
  const char* old = std::getenv("TZ");
  std::string saved = old ? old : "";
  setenv("TZ", (std::string(":") + zone).c_str(), 1);
  tzset();
  time_t t = static_cast<time_t>(s);
  struct tm tm {};
  localtime_r(&t, &tm);
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
  return tm.tm_gmtoff;
}

}  // namespace

TEST_CASE("IANA zones give the offset in force at each instant", "[time_zone]") {
  if (!have_tzdata()) {
    WARN("no tzdata in /usr/share/zoneinfo: skipped");
    return;
  }
  TimeZone berlin = TimeZone::load("Europe/Berlin");
  CHECK(berlin.name() == "Europe/Berlin");
  CHECK_FALSE(berlin.is_utc());
  CHECK(berlin.offset_at(at("2026-01-15T12:00:00Z")) == 3600);
  CHECK(berlin.offset_at(at("2026-07-15T12:00:00Z")) == 7200);
  // Clocks go forward at 01:00 UTC on the last Sunday of March 2026.
  CHECK(berlin.offset_at(at("2026-03-29T00:59:59Z")) == 3600);
  CHECK(berlin.offset_at(at("2026-03-29T01:00:00Z")) == 7200);
  // Past the file's table, the POSIX rule in its footer.
  CHECK(berlin.offset_at(at("2100-07-01T00:00:00Z")) == 7200);
  CHECK(berlin.offset_at(at("2100-12-01T00:00:00Z")) == 3600);
  CHECK(format_time(at("2026-11-02T22:05:00Z"), berlin) == "2026-11-02T23:05:00.000+01:00");

  TimeZone sydney = TimeZone::load("Australia/Sydney");  // daylight time across the new year
  CHECK(sydney.offset_at(at("2026-01-15T00:00:00Z")) == 11 * 3600);
  CHECK(sydney.offset_at(at("2026-07-15T00:00:00Z")) == 10 * 3600);
  CHECK(sydney.offset_at(at("2150-01-15T00:00:00Z")) == 11 * 3600);
  CHECK(TimeZone::load("Asia/Kolkata").offset_at(at("2026-07-15T00:00:00Z")) == 5 * 3600 + 1800);
  CHECK(TimeZone::load("Etc/UTC").offset_at(at("2026-07-15T00:00:00Z")) == 0);
}

TEST_CASE("zone offsets agree with the C library's over two centuries", "[time_zone]") {
  if (!have_tzdata()) {
    WARN("no tzdata in /usr/share/zoneinfo: skipped");
    return;
  }
  for (const char* name :
       {"Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Nuuk", "Asia/Tehran",
        "Pacific/Chatham", "Africa/Casablanca", "Europe/Dublin", "America/Sao_Paulo"}) {
    INFO(name);
    TimeZone z = TimeZone::load(name);
    int wrong = 0;
    // Every 5 days and 7 hours from 1970 to 2150; and around each instant's next hour.
    for (int64_t s = 0; s < 5'680'000'000; s += 5 * 86400 + 7 * 3600)
      if (z.offset_at(s * s_ns) != libc_offset(name, s) && ++wrong <= 3)
        FAIL_CHECK(format_rfc3339(s * s_ns)
                   << ": " << z.offset_at(s * s_ns) << " vs " << libc_offset(name, s));
    CHECK(wrong == 0);
  }
}

TEST_CASE("local times in a zone: skipped ones land after the gap, doubled ones first",
          "[time_zone]") {
  if (!have_tzdata()) return;
  TimeZone berlin = TimeZone::load("Europe/Berlin");
  auto local = [](const char* t) { return at(t) / s_ns; };  // the clock's reading, as if UTC
  CHECK(berlin.to_utc_ns(local("2026-11-02T10:00:00Z")) == at("2026-11-02T09:00:00Z"));
  CHECK(berlin.to_utc_ns(local("2026-07-02T10:00:00Z")) == at("2026-07-02T08:00:00Z"));
  // 02:30 on 2026-03-29 never happens: read at +01:00, it is 03:30 CEST.
  CHECK(berlin.to_utc_ns(local("2026-03-29T02:30:00Z")) == at("2026-03-29T01:30:00Z"));
  // 02:30 on 2026-10-25 happens twice: the first, at +02:00.
  CHECK(berlin.to_utc_ns(local("2026-10-25T02:30:00Z")) == at("2026-10-25T00:30:00Z"));
}

TEST_CASE("tz names that are not zones are refused, saying why", "[time_zone]") {
  CHECK(TimeZone::load("UTC").is_utc());
  CHECK(TimeZone::load("+05:30").offset_at(0) == 5 * 3600 + 1800);
  CHECK(TimeZone::load("+05:30").name() == "+05:30");
  CHECK(TimeZone::load("-0800").offset_at(0) == -8 * 3600);
  CHECK_THROWS_WITH(TimeZone::load("Mars/Olympus"), Catch::Contains("no time zone 'Mars/Olympus'"));
  for (const char* bad : {"../etc/passwd", "/etc/passwd", "Europe/../../etc/passwd", "", "a b"})
    CHECK_THROWS_WITH(TimeZone::load(bad), Catch::Contains("neither an offset"));
  CHECK_THROWS_AS(TimeZone::from_tzif("not a zone", "x"), TimeZoneError);
  CHECK_THROWS_AS(TimeZone::from_tzif(std::string("TZif2") + std::string(100, '\0'), "x"),
                  TimeZoneError);
}

TEST_CASE("a TZif file without transitions follows its footer's rule", "[time_zone]") {
  // Version 2: an empty 32-bit block, then one type (UTC+1) and the footer.
  auto header = [](char version) {
    std::string h = "TZif";
    h += version;
    h += std::string(15, '\0');
    for (int count : {0, 0, 0, 0, 1, 4}) h += std::string("\0\0\0", 3) + static_cast<char>(count);
    return h;
  };
  std::string type = std::string("\0\0\x0e\x10\0\0", 6) + std::string("CET\0", 4);
  std::string file = header('2') + type + header('2') + type + "\nCET-1CEST,M3.5.0,M10.5.0/3\n";
  TimeZone z = TimeZone::from_tzif(file, "Test/Rule");
  CHECK(z.offset_at(at("2030-01-10T00:00:00Z")) == 3600);
  CHECK(z.offset_at(at("2030-07-10T00:00:00Z")) == 7200);
  CHECK(z.offset_at(at("2030-03-31T00:59:59Z")) == 3600);  // the last Sunday of March 2030
  CHECK(z.offset_at(at("2030-03-31T01:00:00Z")) == 7200);
  CHECK(z.offset_at(at("2030-10-27T00:59:59Z")) == 7200);
  CHECK(z.offset_at(at("2030-10-27T01:00:00Z")) == 3600);
  // Version 1 has no footer: type 0 throughout.
  CHECK(TimeZone::from_tzif(header('\0') + type, "Test/V1").offset_at(at("2030-07-10T00:00:00Z")) ==
        3600);
}

TEST_CASE("POSIX TZ rules", "[time_zone]") {
  TimeZone::Rule r;
  REQUIRE(TimeZone::parse_rule("CET-1CEST,M3.5.0,M10.5.0/3", r));
  CHECK(r.std_offset == 3600);
  CHECK(r.dst_offset == 7200);
  CHECK(r.start.month == 3);
  CHECK(r.end.time == 3 * 3600);
  REQUIRE(TimeZone::parse_rule("<+0330>-3:30", r));
  CHECK(r.std_offset == 3 * 3600 + 1800);
  CHECK_FALSE(r.has_dst);
  REQUIRE(TimeZone::parse_rule("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", r));
  CHECK(r.std_offset == -3 * 3600);
  CHECK(r.start.time == -2 * 3600);
  REQUIRE(TimeZone::parse_rule("IST-2IDT,M3.4.4/26,M10.5.0", r));
  CHECK(r.start.time == 26 * 3600);
  REQUIRE(TimeZone::parse_rule("EST5EDT", r));  // no dates: the US rules
  CHECK(r.start.month == 3);
  CHECK(r.end.month == 11);
  REQUIRE(TimeZone::parse_rule("XXX3YYY,J60/2,300", r));
  CHECK(r.start.kind == 1);
  CHECK(r.end.kind == 2);
  for (const char* bad : {"", "C-1", "CET", "CET-1CEST,M13.1.0,M10.5.0", "CET-1CEST,M3.5.0",
                          "CET-1CEST,M3.5.0,M10.5.0/3x", "<+03-3"})
    CHECK_FALSE(TimeZone::parse_rule(bad, r));
}

TEST_CASE("since and until bounds take dates, local date-times, RFC 3339 and spans",
          "[time_zone][time_bound]") {
  int64_t now = at("2026-12-01T12:00:00Z");
  auto bound = [&](const char* t, bool end = false, const TimeZone& z = TimeZone()) {
    return parse_time_bound(t, z, now, end);
  };
  CHECK(bound("2026-11-02") == at("2026-11-02T00:00:00Z"));
  CHECK(bound("2026-11-02", true) == at("2026-11-03T00:00:00Z"));  // the day is included
  CHECK(bound("2026-11-02T10:00") == at("2026-11-02T10:00:00Z"));
  CHECK(bound("2026-11-02 10:00:30.5") == at("2026-11-02T10:00:30.5Z"));
  CHECK(bound("2026-11-02T10:00:00+01:00") == at("2026-11-02T09:00:00Z"));
  CHECK(bound("2026-11-02 10:00:00 UTC") == at("2026-11-02T10:00:00Z"));
  CHECK(bound("1793577600") == at("2026-11-02T00:00:00Z"));
  CHECK(bound("24h") == at("2026-11-30T12:00:00Z"));
  CHECK(bound("7d", true) == at("2026-11-24T12:00:00Z"));
  CHECK(bound("90m") == at("2026-12-01T10:30:00Z"));
  CHECK(bound("2w") == at("2026-11-17T12:00:00Z"));
  CHECK(bound("30s") == at("2026-12-01T11:59:30Z"));
  TimeZone plus5 = TimeZone::fixed(5 * 3600 + 1800);
  CHECK(bound("2026-11-02", false, plus5) == at("2026-11-01T18:30:00Z"));
  CHECK(bound("2026-11-02T10:00", false, plus5) == at("2026-11-02T04:30:00Z"));
  CHECK(bound("2026-11-02T10:00:00Z", false, plus5) == at("2026-11-02T10:00:00Z"));
  if (have_tzdata()) {
    TimeZone berlin = TimeZone::load("Europe/Berlin");
    CHECK(bound("2026-07-02", false, berlin) == at("2026-07-01T22:00:00Z"));
    CHECK(bound("2026-11-02", true, berlin) == at("2026-11-02T23:00:00Z"));
  }
  for (const char* bad : {"", "yesterday", "24", "24x", "-24h", "2026-13-01", "2026-11-31",
                          "2026-11-02T25:00", "2026-11-02T", "99999999999d"}) {
    INFO(bad);
    CHECK_FALSE(bound(bad).has_value());
  }
}
