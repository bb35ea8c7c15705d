//! ARNs of the resources invokd serves.
//!
//! Every ARN is built from a [`Scope`], the region and account the service answers for
//! (`invokd serve --region --account-id`), so the same function shows the same ARN in every
//! response, log line and runtime header.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::name::{FunctionName, VersionId};

/// The partition, region and account invokd serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub partition: String,
    pub region: String,
    pub account_id: String,
}

impl Scope {
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> Self {
        Scope {
            partition: "aws".into(),
            region: region.into(),
            account_id: account_id.into(),
        }
    }

    /// `arn:aws:lambda:<region>:<account>:function:<name>`
    pub fn function_arn(&self, name: &str) -> String {
        // Built by hand rather than with format!: every invocation names its function's ARN.
        let parts = [
            "arn:",
            &self.partition,
            ":lambda:",
            &self.region,
            ":",
            &self.account_id,
            ":function:",
            name,
        ];
        let mut arn = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 16);
        parts.iter().for_each(|p| arn.push_str(p));
        arn
    }

    /// The function ARN with `:<qualifier>` appended.
    pub fn qualified_arn(&self, name: &str, qualifier: impl fmt::Display) -> String {
        format!("{}:{qualifier}", self.function_arn(name))
    }

    /// ARN of a concrete version (`…:$LATEST` or `…:3`).
    pub fn version_arn(&self, name: &FunctionName, version: VersionId) -> String {
        self.qualified_arn(name.as_str(), version)
    }

    /// `arn:aws:iam::<account>:root`, the principal of the local account.
    pub fn account_root_arn(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition, self.account_id)
    }
}

/// Checks an IAM role ARN against the `RoleArn` pattern
/// `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`.
pub fn is_role_arn(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("arn:") else {
        return false;
    };
    let Some((partition, rest)) = rest.split_once(':') else {
        return false;
    };
    if !(partition.is_empty()
        || (partition.starts_with("aws")
            && partition[3..]
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || b == b'-')))
    {
        return false;
    }
    let Some(rest) = rest.strip_prefix("iam::") else {
        return false;
    };
    let Some((account, rest)) = rest.split_once(':') else {
        return false;
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(rest) = rest.strip_prefix("role") else {
        return false;
    };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-/".contains(&b))
}

/// The pattern [`is_role_arn`] implements, as AWS prints it.
pub const ROLE_ARN_PATTERN: &str = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        let s = Scope::new("us-east-1", "000000000000");
        assert_eq!(
            s.function_arn("f"),
            "arn:aws:lambda:us-east-1:000000000000:function:f"
        );
        let n = FunctionName::try_new("f").unwrap();
        assert_eq!(
            s.version_arn(&n, VersionId::Latest),
            "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST"
        );
    }

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/lambda-role"));
        assert!(is_role_arn(
            "arn:aws:iam::123456789012:role/service-role/x_y.z"
        ));
        assert!(!is_role_arn("r1"));
        assert!(!is_role_arn("arn:aws:iam::1234:role/x"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/x"));
    }
}
