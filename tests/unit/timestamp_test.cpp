#include <exfilscan/timestamp.h>

#include <catch2/catch.hpp>

using namespace exfilscan;

namespace {
constexpr int64_t s = 1'000'000'000;
// 2026-11-02T14:03:11Z
constexpr int64_t base = 1793628191LL * s;

int64_t ts(std::string_view text) {
  TimestampResult r = parse_timestamp(text);
  REQUIRE(r.error == TimestampError::ok);
  return r.ns;
}
}  // namespace

TEST_CASE("RFC 3339 with Z and 0 to 9 fractional digits", "[timestamp]") {
  CHECK(ts("2026-11-02T14:03:11Z") == base);
  CHECK(ts("2026-11-02T14:03:11.4Z") == base + 400'000'000);
  CHECK(ts("2026-11-02T14:03:11.482Z") == base + 482'000'000);
  CHECK(ts("2026-11-02T14:03:11.482123Z") == base + 482'123'000);
  CHECK(ts("2026-11-02T14:03:11.482123456Z") == base + 482'123'456);
  CHECK(ts("2026-11-02t14:03:11z") == base);
}

TEST_CASE("Azure's seven digits and longer fractions are cut to nanoseconds", "[timestamp]") {
  CHECK(ts("2026-11-02T14:03:11.7310000Z") == base + 731'000'000);
  CHECK(ts("2026-11-02T14:03:11.1234567891Z") == base + 123'456'789);
}

TEST_CASE("offsets are applied and held as UTC", "[timestamp]") {
  CHECK(ts("2026-11-02T15:03:11+01:00") == base);
  CHECK(ts("2026-11-02T09:33:11-04:30") == base);
  CHECK(ts("2026-11-02T15:03:11+0100") == base);
  CHECK(ts("2026-11-02T14:03:11+00:00") == base);
}

TEST_CASE("space-separated times are UTC, with or without a UTC suffix", "[timestamp]") {
  CHECK(ts("2026-11-02 14:03:11") == base);
  CHECK(ts("2026-11-02 14:03:11.482000") == base + 482'000'000);
  CHECK(ts("2026-11-02 14:03:11.731000 UTC") == base + 731'000'000);
}

TEST_CASE("epoch numbers are told apart by magnitude", "[timestamp]") {
  CHECK(*epoch_to_ns(int64_t{1793628191}) == base);
  CHECK(*epoch_to_ns(int64_t{1793628191482}) == base + 482'000'000);
  CHECK(*epoch_to_ns(int64_t{1793628191482123}) == base + 482'123'000);
  CHECK(*epoch_to_ns(int64_t{1793628191482123456}) == base + 482'123'456);
  CHECK(*epoch_to_ns(1793628191.482) == base + 482'000'000);
  CHECK(*epoch_to_ns(1793628191482.5) == base + 482'500'000);
  CHECK_FALSE(epoch_to_ns(-1.0));
  CHECK_FALSE(epoch_to_ns(int64_t{-5}));
  CHECK(ts("1793628191") == base);
  CHECK(ts("1793628191.5") == base + 500'000'000);
}

TEST_CASE("every form has the same range, checked before scaling (issue 17)", "[timestamp]") {
  // The last second before 2262 in each unit is taken; one more is refused, never wrapped.
  constexpr int64_t last = timestamp_end_s - 1;
  CHECK(*epoch_to_ns(last) == last * 1'000'000'000);
  CHECK(*epoch_to_ns(last * 1000) == last * 1'000'000'000);
  CHECK(*epoch_to_ns(last * 1'000'000) == last * 1'000'000'000);
  CHECK(*epoch_to_ns(last * 1'000'000'000) == last * 1'000'000'000);
  CHECK_FALSE(epoch_to_ns(timestamp_end_s * 1000));
  CHECK_FALSE(epoch_to_ns(timestamp_end_s * 1'000'000));
  CHECK_FALSE(epoch_to_ns(timestamp_end_s * 1'000'000'000));
  CHECK_FALSE(epoch_to_ns(int64_t{33353333333333}));  // milliseconds in 3026: was 1857
  CHECK_FALSE(epoch_to_ns(INT64_MAX));                // was accepted as 2262
  CHECK_FALSE(epoch_to_ns(static_cast<double>(timestamp_end_s)));
  CHECK(parse_timestamp("2261-12-31T23:59:59Z").error == TimestampError::ok);
  CHECK(parse_timestamp("2261-12-31T23:59:59-01:00").error == TimestampError::out_of_range);
  CHECK(parse_timestamp("33353333333333").error == TimestampError::out_of_range);
}

TEST_CASE("invalid timestamps are refused with a reason", "[timestamp]") {
  CHECK(parse_timestamp("").error == TimestampError::empty);
  CHECK(parse_timestamp("yesterday").error == TimestampError::bad_syntax);
  CHECK(parse_timestamp("2026-11-02T14:03").error == TimestampError::bad_syntax);
  CHECK(parse_timestamp("2026-11-02T14:03:11.Z").error == TimestampError::bad_syntax);
  CHECK(parse_timestamp("2026-11-02T14:03:11 PST").error == TimestampError::bad_syntax);
  CHECK(parse_timestamp("2026-13-02T14:03:11Z").error == TimestampError::out_of_range);
  CHECK(parse_timestamp("2025-02-29T00:00:00Z").error == TimestampError::out_of_range);
  CHECK(parse_timestamp("2024-02-29T00:00:00Z").error == TimestampError::ok);
  CHECK(parse_timestamp("2026-11-02T24:00:00Z").error == TimestampError::out_of_range);
  CHECK(parse_timestamp("1969-12-31T23:59:59Z").error == TimestampError::out_of_range);
  CHECK(parse_timestamp("12a4").error == TimestampError::bad_syntax);
}

TEST_CASE("formatting uses the fewest exact fractional digits and reads back", "[timestamp]") {
  CHECK(format_rfc3339(base) == "2026-11-02T14:03:11.000Z");
  CHECK(format_rfc3339(base + 482'000'000) == "2026-11-02T14:03:11.482Z");
  CHECK(format_rfc3339(base + 482'123'000) == "2026-11-02T14:03:11.482123Z");
  CHECK(format_rfc3339(base + 482'123'456) == "2026-11-02T14:03:11.482123456Z");
  CHECK(format_rfc3339(0) == "1970-01-01T00:00:00.000Z");
  for (int64_t v : {base, base + 1, int64_t{951782400} * s /* 2000-02-29 */}) {
    CHECK(ts(format_rfc3339(v)) == v);
  }
}
