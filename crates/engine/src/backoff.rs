//! Retry timing of asynchronous invocations, as pure functions of the attempt number.
//!
//! AWS retries a function error after about one minute, then after about two; throttles and
//! platform failures are retried with exponential backoff from one second up to five minutes
//! until the event's maximum age. Every duration is multiplied by the operator's scale
//! (`--async-retry-scale`), so that tests and impatient users can turn minutes into milliseconds.
//! Randomness comes in as a parameter, which keeps these functions deterministic and testable.

use std::time::Duration;

/// Shortest and longest backoff after a throttle or platform failure.
pub const SYSTEM_MIN: Duration = Duration::from_secs(1);
pub const SYSTEM_MAX: Duration = Duration::from_secs(300);

/// Delay before retry `retry` (1 = first retry) after a function error: 1 min, then 2 min.
pub fn function_error_delay(retry: u32) -> Duration {
    Duration::from_secs(60 * u64::from(retry.max(1)))
}

/// Delay after the `n`-th consecutive throttle or platform failure (1-based): 1 s doubling to
/// 5 min, spread by `jitter` in `[0, 1)` over the upper fifth so that retries do not align.
pub fn system_retry_delay(n: u32, jitter: f64) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    let base = SYSTEM_MIN.saturating_mul(1 << doublings).min(SYSTEM_MAX);
    let factor = 0.8 + 0.2 * jitter.clamp(0.0, 1.0);
    base.mul_f64(factor).clamp(SYSTEM_MIN, SYSTEM_MAX)
}

/// Applies the operator's scale to a delay or an age.
pub fn scale(d: Duration, factor: f64) -> Duration {
    if factor.is_finite() && factor > 0.0 {
        d.mul_f64(factor)
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn function_errors_wait_one_then_two_minutes() {
        assert_eq!(function_error_delay(1), Duration::from_secs(60));
        assert_eq!(function_error_delay(2), Duration::from_secs(120));
    }

    #[test]
    fn system_backoff_starts_at_one_second_and_caps_at_five_minutes() {
        assert_eq!(system_retry_delay(1, 0.0), SYSTEM_MIN);
        assert!(system_retry_delay(100, 0.999) >= SYSTEM_MAX.mul_f64(0.99));
        assert_eq!(system_retry_delay(100, 1.0), SYSTEM_MAX);
    }

    #[test]
    fn scaling_turns_a_minute_into_six_hundred_milliseconds() {
        assert_eq!(
            scale(Duration::from_secs(60), 0.01),
            Duration::from_millis(600)
        );
        assert_eq!(
            scale(Duration::from_secs(60), f64::NAN),
            Duration::from_secs(60)
        );
    }

    proptest! {
        #[test]
        fn system_backoff_stays_within_bounds(n in 0u32..1000, jitter in 0.0f64..1.0) {
            let d = system_retry_delay(n, jitter);
            prop_assert!(d >= SYSTEM_MIN && d <= SYSTEM_MAX);
        }

        #[test]
        fn system_backoff_never_shrinks_as_failures_accumulate(n in 1u32..1000, jitter in 0.0f64..1.0) {
            prop_assert!(system_retry_delay(n + 1, jitter) >= system_retry_delay(n, jitter));
        }

        #[test]
        fn jitter_moves_a_delay_by_at_most_a_fifth(n in 1u32..30, a in 0.0f64..1.0, b in 0.0f64..1.0) {
            let (x, y) = (system_retry_delay(n, a), system_retry_delay(n, b));
            let (lo, hi) = if x < y { (x, y) } else { (y, x) };
            prop_assert!(hi.as_secs_f64() <= lo.as_secs_f64() * 1.25 + 1e-9);
        }

        #[test]
        fn scaling_is_linear(secs in 0u64..100_000, factor in 0.001f64..10.0) {
            let d = Duration::from_secs(secs);
            let scaled = scale(d, factor).as_secs_f64();
            prop_assert!((scaled - secs as f64 * factor).abs() < 1e-6 * (1.0 + secs as f64));
        }
    }
}
