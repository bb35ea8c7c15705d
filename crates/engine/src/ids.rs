//! Identifiers the platform mints: request ids, revision ids, trace headers, log stream names.
//!
//! Every synchronous invoke mints a request id and a trace header, so these write their hex
//! digits straight into the string rather than through `fmt` one digit at a time.

use bytes::Bytes;
use bytestring::ByteString;
use rand::Rng;

/// A lower-case UUID v4, the form of request ids and revision ids.
pub fn uuid() -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Uuid::new_v4()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

/// A new UUID as shared text: its clones, and a header value made of it, copy nothing.
pub fn shared_uuid() -> ByteString {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    // A UUID is ASCII: the conversion cannot fail.
    ByteString::try_from(Bytes::from_owner(buf)).unwrap_or_default()
}

/// `s` as shared text whose clones copy nothing, from the first one on (a string converted
/// directly allocates its shared header at its first clone).
pub fn shared(s: String) -> ByteString {
    ByteString::try_from(Bytes::from_owner(s.into_bytes())).unwrap_or_default()
}

/// Milliseconds since the Unix epoch (wall clock: what headers and records carry).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends the low `digits` (at most 16) hex digits of `value`, most significant first.
fn push_hex(s: &mut String, value: u64, digits: u32) {
    // Into a buffer, then one append: `String::push` per digit checks capacity and encodes a
    // char sixteen times over.
    let mut buf = [0u8; 16];
    let digits = digits.min(16) as usize;
    for (i, b) in buf[..digits].iter_mut().rev().enumerate() {
        *b = HEX_DIGITS[((value >> (4 * i)) & 0xf) as usize];
    }
    s.push_str(std::str::from_utf8(&buf[..digits]).expect("hex digits are ASCII"));
}

/// Appends `n` random hex digits.
fn push_random_hex(s: &mut String, mut n: u32) {
    let mut rng = rand::rng();
    while n > 0 {
        let digits = n.min(16);
        push_hex(s, rng.random::<u64>(), digits);
        n -= digits;
    }
}

fn hex(n: u32) -> String {
    let mut s = String::with_capacity(n as usize);
    push_random_hex(&mut s, n);
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
    let root = field("Root=");
    let sampled = field("Sampled=").unwrap_or("0");
    let (hash, count) = match field("Lineage=").and_then(parse_lineage) {
        Some((hash, n)) => (Some(hash), n.saturating_add(1)),
        None => (None, 0),
    };
    let mut s = String::with_capacity(120);
    s.push_str("Root=");
    match root {
        Some(root) => s.push_str(root),
        None => {
            s.push_str("1-");
            push_hex(&mut s, (now_ms() / 1000) as u64, 8);
            s.push('-');
            push_random_hex(&mut s, 24);
        }
    }
    s.push_str(";Parent=");
    push_random_hex(&mut s, 16);
    s.push_str(";Sampled=");
    s.push_str(sampled);
    s.push_str(";Lineage=1:");
    match hash {
        Some(hash) => s.push_str(hash),
        None => push_random_hex(&mut s, 8),
    }
    s.push(':');
    s.push_str(itoa::Buffer::new().format(count));
    (s, count)
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
    fn a_shared_uuid_is_a_new_v4_uuid_whose_clones_share_its_bytes() {
        let id = super::shared_uuid();
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(
            &*id,
            parsed.hyphenated().to_string(),
            "lower-case, hyphenated"
        );
        assert_ne!(id, super::shared_uuid());
        let copy = id.clone();
        assert_eq!(copy.as_bytes().as_ptr(), id.as_bytes().as_ptr());
    }

    #[test]
    fn hex_digits_are_the_low_ones_most_significant_first() {
        let hex = |value, digits| {
            let mut s = String::from(">");
            super::push_hex(&mut s, value, digits);
            s
        };
        assert_eq!(hex(0x1234_abcd, 8), ">1234abcd");
        assert_eq!(hex(0xabc, 4), ">0abc");
        assert_eq!(hex(0xff12, 2), ">12");
        assert_eq!(hex(u64::MAX, 16), ">ffffffffffffffff");
        assert_eq!(hex(0x0123_4567_89ab_cdef, 16), ">0123456789abcdef");
    }

    #[test]
    fn trace_headers() {
        let (h, n) = super::trace_header(None);
        assert!(h.starts_with("Root=1-"), "{h}");
        assert!(h.contains(";Sampled=0;Lineage=1:"), "{h}");
        assert_eq!(n, 0);
        // Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0;Lineage=1:<8 hex>:0
        let parts: Vec<&str> = h.split(';').collect();
        let is_hex = |s: &str, n: usize| {
            s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let root: Vec<&str> = parts[0].strip_prefix("Root=").unwrap().split('-').collect();
        assert_eq!(root[0], "1");
        assert!(is_hex(root[1], 8) && is_hex(root[2], 24), "{h}");
        let epoch = u64::from_str_radix(root[1], 16).unwrap() as i64;
        assert!((epoch - super::now_ms() / 1000).abs() < 5, "{h}");
        assert!(is_hex(parts[1].strip_prefix("Parent=").unwrap(), 16), "{h}");
        assert_eq!(parts[2], "Sampled=0");
        let lineage: Vec<&str> = parts[3]
            .strip_prefix("Lineage=")
            .unwrap()
            .split(':')
            .collect();
        assert_eq!((lineage[0], lineage[2]), ("1", "0"));
        assert!(is_hex(lineage[1], 8), "{h}");
        assert_ne!(super::trace_header(None).0, h, "fresh ids each time");
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

    #[test]
    fn request_ids_are_lower_case_uuids() {
        let id = super::uuid();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(id, parsed.hyphenated().to_string());
    }
}
