//! Function names, the forms a caller may address a function by, and qualifiers.
//!
//! AWS accepts a function as a bare name (`my-fn`), a name with a qualifier (`my-fn:live`), a full
//! ARN (`arn:aws:lambda:us-east-1:123456789012:function:my-fn[:q]`) or a partial ARN
//! (`123456789012:function:my-fn[:q]`). Which patterns and lengths apply depends on the operation
//! (the service model's `FunctionName`, `NamespacedFunctionName` and `UnqualifiedFunctionName`
//! shapes); [`NameShape`] names them and [`FunctionRef::parse`] checks a value against one, in the
//! order AWS reports violations.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::validation::{Constraint, length_in};

/// Pattern of the `FunctionName` shape, as AWS prints it in errors.
pub const FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?";
/// Pattern of the `NamespacedFunctionName` shape (Invoke, GetFunction, DeleteFunction, ...).
pub const NAMESPACED_FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?";
/// Pattern of the `UnqualifiedFunctionName` shape.
pub const UNQUALIFIED_FUNCTION_NAME_PATTERN: &str = r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)";
/// Pattern of the `NumericLatestPublishedOrAliasQualifier` shape.
pub const QUALIFIER_PATTERN: &str = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+";
/// Pattern of an alias name.
pub const ALIAS_PATTERN: &str = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)";

fn anchored(p: &str) -> Regex {
    Regex::new(&format!("^(?:{p})$")).expect("static pattern compiles")
}

static FUNCTION_NAME_RE: LazyLock<Regex> = LazyLock::new(|| anchored(FUNCTION_NAME_PATTERN));
static NAMESPACED_RE: LazyLock<Regex> =
    LazyLock::new(|| anchored(NAMESPACED_FUNCTION_NAME_PATTERN));
static UNQUALIFIED_RE: LazyLock<Regex> =
    LazyLock::new(|| anchored(UNQUALIFIED_FUNCTION_NAME_PATTERN));
static QUALIFIER_RE: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIER_PATTERN));

/// Which service-model shape a function-name parameter has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameShape {
    /// `FunctionName`: max 140, no `.` in the name, qualifier `$LATEST` or alias/version.
    Plain,
    /// `NamespacedFunctionName`: max 256, `.` allowed, `$LATEST.PUBLISHED` allowed.
    Namespaced,
    /// `UnqualifiedFunctionName`: max 140, no qualifier at all.
    Unqualified,
}

impl NameShape {
    fn max_len(self) -> usize {
        match self {
            NameShape::Plain | NameShape::Unqualified => 140,
            NameShape::Namespaced => 256,
        }
    }

    fn pattern(self) -> &'static str {
        match self {
            NameShape::Plain => FUNCTION_NAME_PATTERN,
            NameShape::Namespaced => NAMESPACED_FUNCTION_NAME_PATTERN,
            NameShape::Unqualified => UNQUALIFIED_FUNCTION_NAME_PATTERN,
        }
    }

    fn regex(self) -> &'static Regex {
        match self {
            NameShape::Plain => &FUNCTION_NAME_RE,
            NameShape::Namespaced => &NAMESPACED_RE,
            NameShape::Unqualified => &UNQUALIFIED_RE,
        }
    }
}

/// A function name as stored: 1-64 characters of `[a-zA-Z0-9-_]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FunctionName(String);

impl FunctionName {
    pub const MAX_LEN: usize = 64;

    /// Validates a bare name. The error is the constraint AWS reports at `functionName`.
    pub fn try_new(s: impl Into<String>) -> Result<Self, Constraint> {
        let s = s.into();
        if s.is_empty() {
            return Err(Constraint::MinLength(1));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Constraint::Pattern(FUNCTION_NAME_PATTERN));
        }
        if s.len() > Self::MAX_LEN {
            return Err(Constraint::MaxLength(Self::MAX_LEN));
        }
        Ok(FunctionName(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FunctionName {
    type Error = Constraint;
    fn try_from(s: String) -> Result<Self, Constraint> {
        FunctionName::try_new(s)
    }
}

impl From<FunctionName> for String {
    fn from(n: FunctionName) -> String {
        n.0
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A function as the caller addressed it, parsed but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// Region from a full ARN.
    pub region: Option<String>,
    /// Account from a full or partial ARN.
    pub account: Option<String>,
    /// The name part (may contain `.` or exceed 64 characters: such names simply never exist).
    pub name: String,
    /// Qualifier carried by the name itself (`my-fn:live`).
    pub qualifier: Option<String>,
}

impl FunctionRef {
    /// Parses a function-name parameter of the given shape. On failure returns every constraint
    /// broken, length first, as AWS lists them.
    pub fn parse(input: &str, shape: NameShape) -> Result<FunctionRef, Vec<Constraint>> {
        let mut broken = Vec::new();
        if let Err(c) = length_in(input, 1, shape.max_len()) {
            broken.push(c);
        }
        // Fast path for the common case, a bare name: no regex needed.
        let bare = !input.is_empty()
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if bare {
            return if broken.is_empty() {
                Ok(FunctionRef {
                    region: None,
                    account: None,
                    name: input.to_owned(),
                    qualifier: None,
                })
            } else {
                Err(broken)
            };
        }
        let Some(caps) = shape.regex().captures(input) else {
            broken.push(Constraint::Pattern(shape.pattern()));
            return Err(broken);
        };
        if !broken.is_empty() {
            return Err(broken);
        }
        // Capture groups are numbered alike in the three patterns up to the name:
        // 3 = region with ':', 9 = account with ':', 11 = name, 13 = qualifier.
        let strip = |i: usize| {
            caps.get(i)
                .map(|m| m.as_str().trim_end_matches(':').to_owned())
        };
        Ok(FunctionRef {
            region: strip(3),
            account: strip(9),
            name: caps
                .get(11)
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            qualifier: caps.get(13).map(|m| m.as_str().to_owned()),
        })
    }

    /// A reference to a bare, known-valid name.
    pub fn from_name(name: &FunctionName) -> FunctionRef {
        FunctionRef {
            region: None,
            account: None,
            name: name.as_str().to_owned(),
            qualifier: None,
        }
    }
}

/// Checks a `Qualifier` query parameter (1-128, the qualifier pattern).
pub fn check_qualifier(q: &str) -> Result<(), Constraint> {
    length_in(q, 1, 128)?;
    if QUALIFIER_RE.is_match(q) {
        Ok(())
    } else {
        Err(Constraint::Pattern(QUALIFIER_PATTERN))
    }
}

/// What a qualifier designates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Qualifier {
    Latest,
    Version(u64),
    Alias(String),
}

impl Qualifier {
    /// Interprets a syntactically valid qualifier: `$LATEST`, digits (a version) or an alias.
    pub fn interpret(q: &str) -> Qualifier {
        if q == "$LATEST" {
            Qualifier::Latest
        } else if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) {
            match q.parse() {
                Ok(n) => Qualifier::Version(n),
                // Too many digits to be any version that exists: keep the text for messages.
                Err(_) => Qualifier::Alias(q.to_owned()),
            }
        } else {
            Qualifier::Alias(q.to_owned())
        }
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Latest => f.write_str("$LATEST"),
            Qualifier::Version(n) => write!(f, "{n}"),
            Qualifier::Alias(a) => f.write_str(a),
        }
    }
}

/// A concrete version of a function: `$LATEST` or a published number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VersionId {
    Latest,
    Published(u64),
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionId::Latest => f.write_str("$LATEST"),
            VersionId::Published(n) => write!(f, "{n}"),
        }
    }
}

/// Checks an alias name (1-128, not all digits, `[a-zA-Z0-9-_]+`).
pub fn check_alias_name(name: &str) -> Result<(), Constraint> {
    length_in(name, 1, 128)?;
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let all_digits = name.bytes().all(|b| b.is_ascii_digit());
    if chars_ok && !all_digits {
        Ok(())
    } else {
        Err(Constraint::Pattern(ALIAS_PATTERN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Result<FunctionRef, Vec<Constraint>> {
        FunctionRef::parse(s, NameShape::Namespaced)
    }

    #[test]
    fn bare_name() {
        let r = ns("my-fn").unwrap();
        assert_eq!(r.name, "my-fn");
        assert_eq!(r.qualifier, None);
    }

    #[test]
    fn name_with_qualifier() {
        let r = ns("my-fn:live").unwrap();
        assert_eq!(
            (r.name.as_str(), r.qualifier.as_deref()),
            ("my-fn", Some("live"))
        );
    }

    #[test]
    fn full_arn() {
        let r = ns("arn:aws:lambda:eu-west-1:123456789012:function:my-fn:$LATEST").unwrap();
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.account.as_deref(), Some("123456789012"));
        assert_eq!(r.name, "my-fn");
        assert_eq!(r.qualifier.as_deref(), Some("$LATEST"));
    }

    #[test]
    fn partial_arn() {
        let r = ns("123456789012:function:my-fn").unwrap();
        assert_eq!(r.account.as_deref(), Some("123456789012"));
        assert_eq!(r.region, None);
        assert_eq!(r.name, "my-fn");
    }

    #[test]
    fn arn_without_name_means_a_function_called_function() {
        let r = ns("arn:aws:lambda:us-east-1:123456789012:function").unwrap();
        assert_eq!(r.name, "function");
        assert_eq!(r.qualifier, None);
    }

    #[test]
    fn rejected_forms_break_the_pattern() {
        for bad in [
            "my-function!",
            "*",
            "invalid-account:function:my-function",
            "arn:aws:lambda:invalid-region:123456789012:function:my-function",
            "arn:aws:ec2:us-east-1:123456789012:instance:i-1",
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:1:2",
            "function:my-function:$LATEST:extra",
            "arn:aws:lambda::123456789012:function:my-function",
            "arn:aws:lambda:us-east-1::function:my-function",
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATES",
        ] {
            assert_eq!(
                ns(bad),
                Err(vec![Constraint::Pattern(NAMESPACED_FUNCTION_NAME_PATTERN)]),
                "{bad}"
            );
        }
    }

    #[test]
    fn create_shape_reports_length_then_pattern() {
        let long = format!(
            "arn:aws:lambda:invalid-region:123456789012:function:{}",
            "a".repeat(170)
        );
        assert_eq!(
            FunctionRef::parse(&long, NameShape::Plain),
            Err(vec![
                Constraint::MaxLength(140),
                Constraint::Pattern(FUNCTION_NAME_PATTERN)
            ])
        );
    }

    #[test]
    fn qualifiers() {
        assert!(check_qualifier("$LATEST").is_ok());
        assert!(check_qualifier("$latest").is_ok());
        assert!(check_qualifier("live").is_ok());
        assert_eq!(
            check_qualifier("invalid!"),
            Err(Constraint::Pattern(QUALIFIER_PATTERN))
        );
        assert_eq!(
            check_qualifier(&"a".repeat(129)),
            Err(Constraint::MaxLength(128))
        );
        assert_eq!(Qualifier::interpret("12"), Qualifier::Version(12));
        assert_eq!(Qualifier::interpret("$LATEST"), Qualifier::Latest);
        assert_eq!(
            Qualifier::interpret("$latest"),
            Qualifier::Alias("$latest".into())
        );
    }

    #[test]
    fn alias_names() {
        assert!(check_alias_name("live").is_ok());
        assert_eq!(
            check_alias_name("2024"),
            Err(Constraint::Pattern(ALIAS_PATTERN))
        );
    }
}
