//! AWS's control-plane timestamp format: `2019-09-24T18:49:47.000+0000`.

use time::OffsetDateTime;
use time::macros::format_description;

/// Formats milliseconds since the Unix epoch as AWS prints `LastModified`.
pub fn format_millis(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    t.format(fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_aws() {
        assert_eq!(
            super::format_millis(1_569_350_987_000),
            "2019-09-24T18:49:47.000+0000"
        );
        assert_eq!(
            super::format_millis(1_569_350_987_042),
            "2019-09-24T18:49:47.042+0000"
        );
    }
}
