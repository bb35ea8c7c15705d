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

/// An X-Ray trace header for a new invocation, or the caller's root continued.
/// `Root=1-<8 hex epoch seconds>-<24 hex>;Parent=<16 hex>;Sampled=0`
pub fn trace_header(caller: Option<&str>) -> String {
    let root = caller
        .and_then(|h| h.split(';').find_map(|p| p.trim().strip_prefix("Root=")))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("1-{:08x}-{}", now_ms() / 1000, hex(24)));
    let sampled = caller
        .and_then(|h| h.split(';').find_map(|p| p.trim().strip_prefix("Sampled=")))
        .unwrap_or("0");
    format!("Root={root};Parent={};Sampled={sampled}", hex(16))
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
        let h = super::trace_header(None);
        assert!(h.starts_with("Root=1-"), "{h}");
        assert!(h.ends_with(";Sampled=0"));
        let continued =
            super::trace_header(Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1"));
        assert!(continued.starts_with("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent="));
        assert!(continued.ends_with(";Sampled=1"));
    }

    #[test]
    fn stream_names() {
        let s = super::log_stream_name("$LATEST");
        assert_eq!(s.len(), "2024/12/17/[$LATEST]".len() + 32, "{s}");
    }
}
