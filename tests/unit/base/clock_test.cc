#include "base/clock.h"
#include "base/utc_time.h"

#include <gtest/gtest.h>

namespace kecs {
namespace {

TEST(Iso8601, FormatsTheEpoch) { EXPECT_EQ(Iso8601(0), "1970-01-01T00:00:00.000Z"); }

TEST(Iso8601, FormatsWholeSecondsWithZeroMillis) {
  EXPECT_EQ(Iso8601(1767225600), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(Iso8601(2147483648.0), "2038-01-19T03:14:08.000Z");  // past 32-bit time_t
}

TEST(Iso8601, FormatsMilliseconds) {
  EXPECT_EQ(Iso8601(1767225600.123), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(Iso8601(1767225600.5), "2026-01-01T00:00:00.500Z");
  EXPECT_EQ(Iso8601(1767225600.007), "2026-01-01T00:00:00.007Z");
}

TEST(Iso8601, HandlesLeapDay) {
  EXPECT_EQ(Iso8601(1709210096.789), "2024-02-29T12:34:56.789Z");
}

TEST(Iso8601, RoundsToTheNearestMillisecond) {
  EXPECT_EQ(Iso8601(1767225600.1234), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(Iso8601(1767225600.1236), "2026-01-01T00:00:00.124Z");
  EXPECT_EQ(Iso8601(1767225599.9994), "2025-12-31T23:59:59.999Z");
}

TEST(Iso8601, RoundingUpToAWholeSecondCarriesIntoTheSeconds) {
  // .9996 rounds to 1000 ms: the next second, never ".1000Z".
  EXPECT_EQ(Iso8601(1767225599.9996), "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(Iso8601(0.9996), "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(Iso8601(59.9999), "1970-01-01T00:01:00.000Z");
}

TEST(EpochMillis, RoundsToMilliseconds) {
  EXPECT_DOUBLE_EQ(EpochMillis(1.23456), 1.235);
  EXPECT_DOUBLE_EQ(EpochMillis(1.2344), 1.234);
  EXPECT_DOUBLE_EQ(EpochMillis(1767225600.1234), 1767225600.123);
  EXPECT_DOUBLE_EQ(EpochMillis(1767225600.9996), 1767225601.0);
  EXPECT_DOUBLE_EQ(EpochMillis(42), 42.0);
}

TEST(FakeClock, ReturnsItsTimeAndAdvances) {
  FakeClock c(1000.5);
  EXPECT_DOUBLE_EQ(c.Now(), 1000.5);
  c.Advance(2.25);
  EXPECT_DOUBLE_EQ(c.Now(), 1002.75);
  Clock& base = c;
  EXPECT_DOUBLE_EQ(base.Now(), 1002.75);
}

TEST(RealClock, IsAfter2020AndMonotonicEnough) {
  double a = Clock::Real().Now();
  double b = Clock::Real().Now();
  EXPECT_GT(a, 1577836800.0);  // 2020-01-01
  EXPECT_GE(b, a - 1.0);
  EXPECT_EQ(&Clock::Real(), &Clock::Real());
}

}  // namespace
}  // namespace kecs

namespace kecs {
namespace {

TEST(ParseIso8601, UtcFractionsAndOffsets) {
  double t = 0;
  ASSERT_TRUE(ParseIso8601("2026-12-06T09:00:00Z", &t));
  EXPECT_DOUBLE_EQ(t, 1796547600.0);
  ASSERT_TRUE(ParseIso8601("2026-12-06T09:00:00", &t));
  EXPECT_DOUBLE_EQ(t, 1796547600.0);
  ASSERT_TRUE(ParseIso8601("2026-12-06T09:00:00.250Z", &t));
  EXPECT_DOUBLE_EQ(t, 1796547600.25);
  ASSERT_TRUE(ParseIso8601("2026-12-06T10:30:00+01:30", &t));
  EXPECT_DOUBLE_EQ(t, 1796547600.0);
  ASSERT_TRUE(ParseIso8601("2026-12-06T04:00:00-05:00", &t));
  EXPECT_DOUBLE_EQ(t, 1796547600.0);
  EXPECT_FALSE(ParseIso8601("2026-12-06", &t));
  EXPECT_FALSE(ParseIso8601("2026-12-06T09:00:00Zjunk", &t));
  EXPECT_FALSE(ParseIso8601("2026-12-06T09:00:00+01", &t));
  EXPECT_FALSE(ParseIso8601("2026-12-06T09:00:00+01:00x", &t));
}

}  // namespace
}  // namespace kecs
