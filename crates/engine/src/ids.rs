//! Identifiers the platform mints: request ids, revision ids, trace headers, log stream names.

use std::fmt::Write as _;

use rand::Rng;

/// A lower-case UUID v4, the form of request ids and revision ids.
pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Milliseconds since the Unix epoch (wall clock: what headers and records carry).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn hex(n: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(n);
    for _ in 0..n {
        let _ = write!(s, "{:x}", rng.random_range(0..16u8));
    }
    s
}

/// The trace header of a new invocation, continuing the caller's if it sent one:
/// `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0;Lineage=1:<8 hex>:<n>`.
///
/// `Lineage` counts how many invocations this chain of requests has made so far: functions that
/// call other functions with an AWS SDK send the header on (the SDKs copy `_X_AMZN_TRACE_ID`,
/// which runtimes set from `Lambda-Runtime-Trace-Id`), so each hop adds one. Returns the header
/// and this invocation's count (0 for a request from outside).
pub fn trace_header(caller: Option<&str>) -> (String, u32) {
    let field =
        |name: &str| caller.and_then(|h| h.split(';').find_map(|p| p.trim().strip_prefix(name)));
    let root = field("Root=")
        .map(str::to_owned)
        .unwrap_or_else(|| format!("1-{:08x}-{}", now_ms() / 1000, hex(24)));
    let sampled = field("Sampled=").unwrap_or("0");
    let (hash, count) = match field("Lineage=").and_then(parse_lineage) {
        Some((hash, n)) => (hash.to_owned(), n.saturating_add(1)),
        None => (hex(8), 0),
    };
    (
        format!(
            "Root={root};Parent={};Sampled={sampled};Lineage=1:{hash}:{count}",
            hex(16)
        ),
        count,
    )
}

/// `1:<hash>:<count>` -> (hash, count).
fn parse_lineage(l: &str) -> Option<(&str, u32)> {
    let mut parts = l.split(':');
    let (_version, hash, count) = (parts.next()?, parts.next()?, parts.next()?);
    Some((hash, count.parse().ok()?))
}

/// This invocation's lineage count, from a header [`trace_header`] made.
pub fn lineage_count(header: &str) -> u32 {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("Lineage="))
        .and_then(parse_lineage)
        .map_or(0, |(_, n)| n)
}
/// A log stream name as AWS forms it: `YYYY/MM/DD/[<version>]<32 hex>`.
pub fn log_stream_name(version: &str) -> String {
    let today = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        hex(32)
    )
}

/// Now as ISO-8601 with milliseconds, as Lambda's older log lines print it.
pub fn iso_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn trace_headers() {
        let (h, n) = super::trace_header(None);
        assert!(h.starts_with("Root=1-"), "{h}");
        assert!(h.contains(";Sampled=0;Lineage=1:"), "{h}");
        assert_eq!(n, 0);
        let (continued, n) = super::trace_header(Some(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1;Lineage=1:38a5ab94:4",
        ));
        assert!(continued.starts_with("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent="));
        assert!(
            continued.ends_with(";Sampled=1;Lineage=1:38a5ab94:5"),
            "{continued}"
        );
        assert_eq!((n, super::lineage_count(&continued)), (5, 5));
    }

    #[test]
    fn stream_names() {
        let s = super::log_stream_name("$LATEST");
        assert_eq!(s.len(), "2024/12/17/[$LATEST]".len() + 32, "{s}");
    }
}
