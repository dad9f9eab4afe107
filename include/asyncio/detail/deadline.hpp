// Deadline arithmetic that saturates: every deadline of the library (call_later, sleep,
// timeout, wait_for, wait, as_completed, ConcurrentFuture::result) is computed here, so that a
// duration too long for the clock, such as `hours::max()` or `nanoseconds::max()`, means
// "never" instead of overflowing into the past.
#pragma once

#include <chrono>
#include <ratio>
#include <type_traits>
#include <utility>

namespace asyncio::detail {

/// `d` in the units of `Duration`, clamped to what Duration can hold: too long becomes
/// Duration::max(), too negative Duration::min(); NaN becomes zero.
template <class Duration, class Rep, class Period>
constexpr Duration saturating_cast(std::chrono::duration<Rep, Period> d) noexcept {
  using Ticks =
      std::ratio_divide<Period, typename Duration::period>;  // one tick of d, in Duration's
  if constexpr (std::is_integral_v<Rep> && Ticks::den == 1) {
    // Whole ticks (seconds, milliseconds, ... to nanoseconds): the bounds are integers in d's
    // own units, so the common case costs two comparisons.
    constexpr auto max_count = Duration::max().count() / Ticks::num;
    constexpr auto min_count = Duration::min().count() / Ticks::num;
    if (std::cmp_greater(d.count(), max_count)) return Duration::max();
    if (std::cmp_less(d.count(), min_count)) return Duration::min();
    return std::chrono::duration_cast<Duration>(d);
  } else {
    // Floating-point counts, or finer units: compared in long double, which cannot overflow
    // whatever the units on either side.
    using Exact = std::chrono::duration<long double, typename Duration::period>;
    const long double count = std::chrono::duration_cast<Exact>(d).count();
    if (count != count) return Duration::zero();  // NaN
    if (count >= static_cast<long double>(Duration::max().count())) return Duration::max();
    if (count <= static_cast<long double>(Duration::min().count())) return Duration::min();
    return Duration(static_cast<typename Duration::rep>(count));
  }
}

/// `now + d`, saturated at the clock's ends: a deadline past the end of time is
/// TimePoint::max(), which never comes.
template <class TimePoint, class Rep, class Period>
constexpr TimePoint deadline_after(TimePoint now, std::chrono::duration<Rep, Period> d) noexcept {
  using Duration = typename TimePoint::duration;
  const Duration delta = saturating_cast<Duration>(d);
  const Duration since = now.time_since_epoch();
  if (delta > Duration::zero() && since > Duration::max() - delta) return TimePoint::max();
  if (delta < Duration::zero() && since < Duration::min() - delta) return TimePoint::min();
  return now + delta;
}

}  // namespace asyncio::detail
