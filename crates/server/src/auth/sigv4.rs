//! AWS Signature Version 4, verified: what a request claims ([`Claim`]) and whether its
//! signature holds ([`verify`]).
//!
//! invokd never computes a SigV4 signature by hand: [`verify`] rebuilds the request the client
//! signed (the headers it listed, the raw still-encoded path, the query without the signature's
//! own parameters, the payload hash) and has the official `aws-sigv4` signer sign it again with
//! the secret of the claimed key, then compares the two signatures in constant time. The
//! signer's settings are those every AWS SDK uses for Lambda: the already percent-encoded path
//! is encoded once more (botocore's `quote(normalize(path))`, spec §7.3), paths are normalised,
//! and the payload hash is `x-amz-content-sha256` when the client sent it, else the SHA-256 of
//! the body.
//!
//! Checking the claim (credential scope, clock skew) is separate from checking the signature so
//! that the server can refuse a stale or misdirected request before reading its body.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};

use super::AuthError;

/// The only algorithm invokd verifies.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service every credential scope must name (the model's `signingName`).
pub const SERVICE: &str = "lambda";
/// How far a header-signed request's `X-Amz-Date` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest a presigned URL may be valid (a week, as everywhere in AWS).
const MAX_EXPIRES: u64 = 604_800;

/// Query parameters that carry a presigned URL's signature rather than the operation's input.
const AUTH_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// What a request says about its signature, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    scope_date: String,
    pub region: String,
    service: String,
    /// `X-Amz-Date` as sent (`YYYYMMDDTHHMMSSZ`).
    amz_date: String,
    time: SystemTime,
    /// Lower-case names, as listed in `SignedHeaders`.
    signed_headers: Vec<String>,
    signature: String,
    /// `X-Amz-Expires` of a presigned URL; `None` for a signed `Authorization` header.
    expires: Option<u64>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The raw query as `(decoded key, raw pair)` pairs.
fn raw_query(uri: &Uri) -> Vec<(String, &str)> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .into_owned();
            (key, pair)
        })
        .collect()
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    raw_query(uri)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, pair)| {
            let value = pair.split_once('=').map(|(_, v)| v).unwrap_or_default();
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
}

impl Claim {
    /// Reads the signature a request carries: an `Authorization` header or a presigned query.
    pub fn parse(uri: &Uri, headers: &HeaderMap) -> Result<Claim, AuthError> {
        let authorization = headers.get(http::header::AUTHORIZATION);
        let presigned = query_param(uri, "X-Amz-Algorithm").is_some();
        if headers.contains_key("x-amz-security-token")
            || query_param(uri, "X-Amz-Security-Token").is_some()
        {
            // invokd issues long-term keys only; a session token cannot belong to one of them.
            return Err(AuthError::UnknownKey);
        }
        match (authorization, presigned) {
            (None, false) => Err(AuthError::MissingToken),
            (Some(_), true) => Err(AuthError::Incomplete(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".into(),
            )),
            (Some(value), false) => {
                let value = value.to_str().map_err(|_| {
                    AuthError::Incomplete("The Authorization header is not valid text.".into())
                })?;
                Self::from_header(value, header(headers, "x-amz-date"))
            }
            (None, true) => Self::from_query(uri),
        }
    }

    fn from_header(value: &str, amz_date: Option<&str>) -> Result<Claim, AuthError> {
        let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for (name, present) in [
            ("Credential", credential.is_some()),
            ("Signature", signature.is_some()),
            ("SignedHeaders", signed_headers.is_some()),
        ] {
            if !present {
                missing.push(format!("Authorization header requires '{name}' parameter."));
            }
        }
        if amz_date.is_none() {
            missing.push(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            );
        }
        if !missing.is_empty() {
            return Err(AuthError::Incomplete(format!(
                "{} Authorization={value}",
                missing.join(" ")
            )));
        }
        if algorithm != ALGORITHM {
            return Err(AuthError::Incomplete(format!(
                "Unsupported authorization algorithm {algorithm}: invokd verifies {ALGORITHM} signatures."
            )));
        }
        Self::build(
            credential.unwrap_or_default(),
            amz_date.unwrap_or_default(),
            signed_headers.unwrap_or_default(),
            signature.unwrap_or_default(),
            None,
        )
    }

    fn from_query(uri: &Uri) -> Result<Claim, AuthError> {
        let p = |name| query_param(uri, name);
        let (Some(algorithm), Some(credential), Some(date), Some(expires), Some(signed), Some(sig)) = (
            p("X-Amz-Algorithm"),
            p("X-Amz-Credential"),
            p("X-Amz-Date"),
            p("X-Amz-Expires"),
            p("X-Amz-SignedHeaders"),
            p("X-Amz-Signature"),
        ) else {
            return Err(AuthError::Incomplete(
                "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the query-string parameters.".into(),
            ));
        };
        if algorithm != ALGORITHM {
            return Err(AuthError::Incomplete(format!(
                "Unsupported authorization algorithm {algorithm}: invokd verifies {ALGORITHM} signatures."
            )));
        }
        let expires = expires.parse::<u64>().map_err(|_| {
            AuthError::Incomplete(format!(
                "X-Amz-Expires should be a number of seconds, not '{expires}'."
            ))
        })?;
        if expires > MAX_EXPIRES {
            return Err(AuthError::Incomplete(format!(
                "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
            )));
        }
        Self::build(&credential, &date, &signed, &sig, Some(expires))
    }

    fn build(
        credential: &str,
        amz_date: &str,
        signed_headers: &str,
        signature: &str,
        expires: Option<u64>,
    ) -> Result<Claim, AuthError> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, scope_date, region, service, terminator] = parts.as_slice() else {
            return Err(AuthError::Incomplete(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
                parts.last().copied().unwrap_or_default()
            )));
        };
        if *terminator != "aws4_request" {
            return Err(AuthError::Incomplete(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )));
        }
        let time = parse_amz_date(amz_date).ok_or_else(|| {
            AuthError::Incomplete(format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '{amz_date}'."
            ))
        })?;
        let signed_headers: Vec<String> = signed_headers
            .split(';')
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if !signed_headers.iter().any(|h| h == "host") {
            return Err(AuthError::Incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        Ok(Claim {
            access_key_id: (*access_key_id).to_owned(),
            scope_date: (*scope_date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
            amz_date: amz_date.to_owned(),
            time,
            signed_headers,
            signature: signature.to_owned(),
            expires,
        })
    }

    /// The credential scope must be today's (the request's date), this server's region and
    /// Lambda.
    pub fn check_scope(&self, region: &str) -> Result<(), AuthError> {
        if self.service != SERVICE {
            return Err(AuthError::Invalid(format!(
                "Credential should be scoped to correct service: '{SERVICE}'."
            )));
        }
        if self.region != region {
            return Err(AuthError::Invalid(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                self.region
            )));
        }
        if self.amz_date.get(..8) != Some(self.scope_date.as_str()) {
            return Err(AuthError::Invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                self.scope_date,
                self.amz_date.get(..8).unwrap_or_default(),
                self.amz_date
            )));
        }
        Ok(())
    }

    /// A signed header is valid within [`MAX_SKEW`] of `now`; a presigned URL from its date
    /// (give or take the skew) until `X-Amz-Expires` seconds later.
    pub fn check_time(&self, now: SystemTime) -> Result<(), AuthError> {
        let later = now + MAX_SKEW;
        if self.time > later {
            return Err(AuthError::Invalid(format!(
                "Signature not yet current: {} is still later than {} ({} + 15 min.)",
                self.amz_date,
                format_amz_date(later),
                format_amz_date(now)
            )));
        }
        let (validity, shown) = match self.expires {
            None => (MAX_SKEW, "15 min.".to_owned()),
            Some(s) => (Duration::from_secs(s), format!("{s} sec.")),
        };
        let earliest = now.checked_sub(validity).unwrap_or(UNIX_EPOCH);
        if self.time < earliest {
            return Err(AuthError::Invalid(format!(
                "Signature expired: {} is now earlier than {} ({} - {shown})",
                self.amz_date,
                format_amz_date(earliest),
                format_amz_date(now)
            )));
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality that takes as long whatever the first differing byte (signatures are secrets
/// until they verify).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The signing settings of every AWS SDK's Lambda client, for headers or a presigned query.
fn settings(expires: Option<u64>) -> SigningSettings {
    let mut s = SigningSettings::default();
    s.percent_encoding_mode = PercentEncodingMode::Double;
    s.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    // Exactly the headers the client listed are passed in, so none may be dropped.
    s.excluded_headers = Some(Vec::new());
    if let Some(secs) = expires {
        s.signature_location = SignatureLocation::QueryParams;
        s.expires_in = Some(Duration::from_secs(secs));
    }
    s
}

/// Verifies `claim` against the request with `secret`, the secret of the claimed key.
pub fn verify(
    claim: &Claim,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), AuthError> {
    let payload = match header(headers, "x-amz-content-sha256") {
        None => SignableBody::Bytes(body),
        Some(declared) => {
            let is_digest = declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit());
            if !is_digest {
                return Err(AuthError::Invalid(format!(
                    "invokd needs a signed payload: x-amz-content-sha256 must be the SHA-256 of the body, not '{declared}'."
                )));
            }
            if !declared.eq_ignore_ascii_case(&hex(&Sha256::digest(body))) {
                return Err(AuthError::Invalid(
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
            SignableBody::Precomputed(declared.to_ascii_lowercase())
        }
    };
    let host = header(headers, "host").unwrap_or("localhost");
    let query: Cow<'_, str> = match claim.expires {
        None => Cow::Borrowed(uri.query().unwrap_or_default()),
        Some(_) => Cow::Owned(
            raw_query(uri)
                .into_iter()
                .filter(|(k, _)| !AUTH_PARAMS.contains(&k.as_str()))
                .map(|(_, pair)| pair)
                .collect::<Vec<_>>()
                .join("&"),
        ),
    };
    let url = if query.is_empty() {
        format!("http://{host}{}", uri.path())
    } else {
        format!("http://{host}{}?{query}", uri.path())
    };
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &claim.signed_headers {
        // The signer writes `x-amz-date` itself, from the time it is given.
        if claim.expires.is_none() && name == "x-amz-date" {
            continue;
        }
        for value in headers.get_all(name.as_str()) {
            let value = value.to_str().map_err(|_| AuthError::Mismatch)?;
            signed.push((name.as_str(), value));
        }
    }
    let identity = Credentials::new(&claim.access_key_id, secret, None, None, "invokd").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&claim.region)
        .name(SERVICE)
        .time(claim.time)
        .settings(settings(claim.expires))
        .build()
        .map_err(|_| AuthError::Mismatch)?
        .into();
    let request = SignableRequest::new(method.as_str(), url, signed.into_iter(), payload)
        .map_err(|_| AuthError::Mismatch)?;
    let expected = sign(request, &params).map_err(|_| AuthError::Mismatch)?;
    if same(expected.signature(), &claim.signature) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

/// A presigned `GET` URL for `path` on `host`, valid for `expires` from `now`.
pub fn presign_get(
    access_key_id: &str,
    secret: &str,
    region: &str,
    host: &str,
    path: &str,
    now: SystemTime,
    expires: Duration,
) -> Option<String> {
    let identity = Credentials::new(access_key_id, secret, None, None, "invokd").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(settings(Some(expires.as_secs())))
        .build()
        .ok()?
        .into();
    let url = format!("http://{host}{path}");
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("host", host)),
        SignableBody::Bytes(&[]),
    )
    .ok()?;
    let (instructions, _) = sign(request, &params).ok()?.into_parts();
    let mut req = http::Request::get(url.as_str()).body(()).ok()?;
    instructions.apply_to_request_http1x(&mut req);
    Some(req.uri().to_string())
}

/// `YYYYMMDDTHHMMSSZ` as a time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(digits(0..4)?).ok()?,
        month,
        u8::try_from(digits(6..8)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(digits(9..11)?).ok()?,
        u8::try_from(digits(11..13)?).ok()?,
        u8::try_from(digits(13..15)?).ok()?,
    )
    .ok()?;
    let secs = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// A time as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let dt = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::SigningInstructions;

    const KEY: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn at(s: &str) -> SystemTime {
        parse_amz_date(s).unwrap()
    }

    /// Signs like an SDK: the official signer, default (SDK) settings for Lambda.
    fn sign_like_an_sdk(
        method: &str,
        url: &str,
        body: &[u8],
        when: SystemTime,
        region: &str,
    ) -> http::Request<Vec<u8>> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("host", "127.0.0.1:9001")
            .header("content-type", "application/json")
            .body(body.to_vec())
            .unwrap();
        let identity = Credentials::new(KEY, SECRET, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("lambda")
            .time(when)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let signable =
            SignableRequest::new(method, url, headers.into_iter(), SignableBody::Bytes(body))
                .unwrap();
        let (instructions, _): (SigningInstructions, _) =
            sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut req);
        req
    }

    fn check(req: &http::Request<Vec<u8>>, secret: &str, now: SystemTime) -> Result<(), AuthError> {
        let claim = Claim::parse(req.uri(), req.headers())?;
        claim.check_scope("us-east-1")?;
        claim.check_time(now)?;
        verify(
            &claim,
            secret,
            req.method(),
            req.uri(),
            req.headers(),
            req.body(),
        )
    }

    const INVOKE_ARN_URL: &str = "http://127.0.0.1:9001/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af/invocations?Qualifier=%24LATEST";

    #[test]
    fn an_sdk_signature_verifies_on_the_raw_encoded_path() {
        let t = at("20240102T030405Z");
        let req = sign_like_an_sdk("POST", INVOKE_ARN_URL, b"{\"a\":1}", t, "us-east-1");
        assert_eq!(check(&req, SECRET, t), Ok(()));
    }

    #[test]
    fn a_wrong_secret_or_a_changed_body_does_not() {
        let t = at("20240102T030405Z");
        let req = sign_like_an_sdk("POST", INVOKE_ARN_URL, b"{\"a\":1}", t, "us-east-1");
        assert_eq!(check(&req, "other", t), Err(AuthError::Mismatch));
        let (parts, _) = req.into_parts();
        let tampered = http::Request::from_parts(parts, b"{\"a\":2}".to_vec());
        assert_eq!(check(&tampered, SECRET, t), Err(AuthError::Mismatch));
    }

    #[test]
    fn a_declared_payload_hash_must_be_the_bodys() {
        let t = at("20240102T030405Z");
        let mut req = sign_like_an_sdk("POST", INVOKE_ARN_URL, b"{}", t, "us-east-1");
        req.headers_mut().insert(
            "x-amz-content-sha256",
            hex(&Sha256::digest(b"{\"other\":1}")).parse().unwrap(),
        );
        match check(&req, SECRET, t) {
            Err(AuthError::Invalid(m)) => assert!(m.contains("x-amz-content-sha256"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dates_outside_fifteen_minutes_are_refused() {
        let t = at("20240102T030405Z");
        let req = sign_like_an_sdk(
            "GET",
            "http://127.0.0.1:9001/2015-03-31/functions/",
            b"",
            t,
            "us-east-1",
        );
        assert_eq!(
            check(&req, SECRET, t + Duration::from_secs(14 * 60)),
            Ok(())
        );
        assert_eq!(
            check(&req, SECRET, t + Duration::from_secs(16 * 60)),
            Err(AuthError::Invalid(
                "Signature expired: 20240102T030405Z is now earlier than 20240102T030505Z (20240102T032005Z - 15 min.)".into()
            ))
        );
        assert_eq!(
            check(&req, SECRET, t - Duration::from_secs(16 * 60)),
            Err(AuthError::Invalid(
                "Signature not yet current: 20240102T030405Z is still later than 20240102T030305Z (20240102T024805Z + 15 min.)".into()
            ))
        );
    }

    #[test]
    fn scopes_name_lambda_and_this_region() {
        let t = at("20240102T030405Z");
        let req = sign_like_an_sdk(
            "GET",
            "http://127.0.0.1:9001/2015-03-31/functions/",
            b"",
            t,
            "eu-west-1",
        );
        let claim = Claim::parse(req.uri(), req.headers()).unwrap();
        assert_eq!(
            claim.check_scope("us-east-1"),
            Err(AuthError::Invalid(
                "Credential should be scoped to a valid region, not 'eu-west-1'.".into()
            ))
        );
    }

    #[test]
    fn presigned_urls_verify_until_they_expire() {
        let t = at("20240102T030405Z");
        let url = presign_get(
            KEY,
            SECRET,
            "us-east-1",
            "127.0.0.1:9001",
            "/2015-03-31/functions/f",
            t,
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(url.contains("X-Amz-Signature="), "{url}");
        let req = http::Request::get(url.as_str())
            .header("host", "127.0.0.1:9001")
            .body(Vec::new())
            .unwrap();
        assert_eq!(check(&req, SECRET, t + Duration::from_secs(30)), Ok(()));
        assert!(matches!(
            check(&req, SECRET, t + Duration::from_secs(61)),
            Err(AuthError::Invalid(m)) if m.starts_with("Signature expired")
        ));
        assert_eq!(check(&req, "other", t), Err(AuthError::Mismatch));
    }

    #[test]
    fn incomplete_and_missing_signatures() {
        let uri: Uri = "/2015-03-31/functions/".parse().unwrap();
        assert_eq!(
            Claim::parse(&uri, &HeaderMap::new()),
            Err(AuthError::MissingToken)
        );
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/lambda/aws4_request"
                .parse()
                .unwrap(),
        );
        match Claim::parse(&uri, &h) {
            Err(AuthError::Incomplete(m)) => assert_eq!(
                m,
                "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/lambda/aws4_request"
            ),
            other => panic!("{other:?}"),
        }
        h.insert("x-amz-security-token", "token".parse().unwrap());
        assert_eq!(Claim::parse(&uri, &h), Err(AuthError::UnknownKey));
    }

    #[test]
    fn amz_dates_round_trip() {
        for s in ["20240102T030405Z", "19991231T235959Z", "20240229T000000Z"] {
            assert_eq!(format_amz_date(at(s)), s);
        }
        for bad in [
            "2024-01-02T03:04:05Z",
            "20240230T000000Z",
            "20240102T030405",
            "2024010xT030405Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
