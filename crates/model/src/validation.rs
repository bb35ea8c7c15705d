//! AWS-style ("Coral") field validation.
//!
//! AWS validates request members against the service model before an operation runs and reports
//! every broken constraint in one message:
//! `2 validation errors detected: Value 'x' at 'timeout' failed to satisfy constraint: ...; ...`.
//! Types in this crate report *which* constraint a value broke ([`Constraint`]); the caller that
//! knows the wire field name wraps it into a [`FieldViolation`]. [`Violations`] renders the
//! message exactly as AWS words it.

use std::fmt;

/// One model constraint, worded as AWS words it after "failed to satisfy constraint: ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `Member must satisfy regular expression pattern: <pattern>`
    Pattern(&'static str),
    /// `Member must have length less than or equal to <n>`
    MaxLength(usize),
    /// `Member must have length greater than or equal to <n>`
    MinLength(usize),
    /// `Member must have value less than or equal to <n>`
    MaxValue(i64),
    /// `Member must have value greater than or equal to <n>`
    MinValue(i64),
    /// `Member must satisfy enum value set: [a, b]`
    Enum(&'static [&'static str]),
    /// `Member must not be null`
    NotNull,
    /// A composite phrase such as `Member must satisfy constraint: [..]`, verbatim.
    Phrase(String),
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::Pattern(p) => {
                write!(f, "Member must satisfy regular expression pattern: {p}")
            }
            Constraint::MaxLength(n) => {
                write!(f, "Member must have length less than or equal to {n}")
            }
            Constraint::MinLength(n) => {
                write!(f, "Member must have length greater than or equal to {n}")
            }
            Constraint::MaxValue(n) => {
                write!(f, "Member must have value less than or equal to {n}")
            }
            Constraint::MinValue(n) => {
                write!(f, "Member must have value greater than or equal to {n}")
            }
            Constraint::Enum(values) => {
                write!(
                    f,
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                )
            }
            Constraint::NotNull => f.write_str("Member must not be null"),
            Constraint::Phrase(p) => f.write_str(p),
        }
    }
}

/// A constraint broken by the value of one request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The member path as AWS prints it: `functionName`, `ephemeralStorage.size`.
    pub field: String,
    pub value: Shown,
    pub constraint: Constraint,
}

/// How the offending value appears in the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// `Value 'x' at ...`
    Text(String),
    /// `Value null at ...`
    Null,
    /// `Value at ...`: AWS hides values of sensitive members (environment variables).
    Hidden,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, value: impl Into<String>, constraint: Constraint) -> Self {
        FieldViolation {
            field: field.into(),
            value: Shown::Text(value.into()),
            constraint,
        }
    }

    pub fn null(field: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            value: Shown::Null,
            constraint: Constraint::NotNull,
        }
    }

    pub fn hidden(field: impl Into<String>, constraint: Constraint) -> Self {
        FieldViolation {
            field: field.into(),
            value: Shown::Hidden,
            constraint,
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Shown::Text(v) => write!(f, "Value '{v}' at ")?,
            Shown::Null => f.write_str("Value null at ")?,
            Shown::Hidden => f.write_str("Value at ")?,
        }
        write!(
            f,
            "'{}' failed to satisfy constraint: {}",
            self.field, self.constraint
        )
    }
}

/// Every constraint a request broke, in the order AWS reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Violations(Vec::new())
    }

    pub fn push(&mut self, v: FieldViolation) {
        self.0.push(v);
    }

    /// Records the outcome of a check; returns the value when it passed.
    pub fn check<T>(&mut self, field: &str, value: &str, r: Result<T, Constraint>) -> Option<T> {
        match r {
            Ok(t) => Some(t),
            Err(c) => {
                self.push(FieldViolation::new(field, value, c));
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was broken, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<FieldViolation> for Violations {
    fn from(v: FieldViolation) -> Self {
        Violations(vec![v])
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        if n == 1 {
            write!(f, "1 validation error detected: ")?;
        } else {
            write!(f, "{n} validation errors detected: ")?;
        }
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Checks an inclusive integer range, reporting the bound that was crossed.
pub fn in_range(value: i64, min: i64, max: i64) -> Result<i64, Constraint> {
    if value < min {
        Err(Constraint::MinValue(min))
    } else if value > max {
        Err(Constraint::MaxValue(max))
    } else {
        Ok(value)
    }
}

/// Checks a length in characters (AWS counts characters, not bytes).
pub fn length_in(value: &str, min: usize, max: usize) -> Result<(), Constraint> {
    let n = value.chars().count();
    if n < min {
        Err(Constraint::MinLength(min))
    } else if n > max {
        Err(Constraint::MaxLength(max))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_violation_reads_like_aws() {
        let v: Violations = FieldViolation::new("timeout", "0", Constraint::MinValue(1)).into();
        assert_eq!(
            v.to_string(),
            "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
    }

    #[test]
    fn several_violations_are_joined_with_semicolons() {
        let mut v = Violations::new();
        v.push(FieldViolation::new(
            "qualifier",
            "a",
            Constraint::MaxLength(128),
        ));
        v.push(FieldViolation::null("tagKeys"));
        assert_eq!(
            v.to_string(),
            "2 validation errors detected: Value 'a' at 'qualifier' failed to satisfy constraint: \
             Member must have length less than or equal to 128; Value null at 'tagKeys' failed to \
             satisfy constraint: Member must not be null"
        );
    }
}
