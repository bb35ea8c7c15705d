//! IAM authorisation as invokd decides it: callers' identity policies, functions' resource-based
//! policies (the statements AddPermission adds) and the decision that combines them.
//!
//! Everything here is pure: the server authenticates a request and names the action and the
//! resource it touches, the engine finds the function's resource-based policy, and [`decide`]
//! says yes or why not. The rules follow AWS's evaluation logic for one account or two:
//!
//! * an explicit `Deny` in the caller's identity policy always wins;
//! * a caller of the account that owns the resource needs an `Allow` in its identity policy;
//! * a caller of another account needs an `Allow` in its identity policy **and** a statement of
//!   the resource's policy that names it (or its account, or `*`) for that action.
//!
//! Parsing the IAM JSON spelling is `wire`'s; this module only holds the meaning.

use serde::{Deserialize, Serialize};

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement of an identity policy: an effect on actions and resources (patterns with `*`
/// and `?`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityStatement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// The identity-based policy of a caller (from the credentials file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityPolicy {
    pub statements: Vec<IdentityStatement>,
}

/// What an identity policy says about one action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evaluation {
    Allowed,
    ExplicitDeny,
    /// No statement allows it (an implicit deny).
    NotAllowed,
}

impl IdentityPolicy {
    /// Evaluates `action` on `resource`: an explicit deny beats any allow.
    pub fn evaluate(&self, action: &str, resource: &str) -> Evaluation {
        let mut allowed = false;
        for s in &self.statements {
            let applies = s.actions.iter().any(|a| action_matches(a, action))
                && s.resources.iter().any(|r| wildcard_match(r, resource));
            if !applies {
                continue;
            }
            match s.effect {
                Effect::Deny => return Evaluation::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
        if allowed {
            Evaluation::Allowed
        } else {
            Evaluation::NotAllowed
        }
    }
}

/// IAM's string wildcards: `*` matches any run of characters (also none), `?` exactly one.
/// Everything else matches itself, case-sensitively.
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Greedy matching with one backtrack point (the last `*`): linear in practice, never
    // exponential, whatever the pattern.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Action names are case-insensitive in IAM (`lambda:invokefunction` is `lambda:InvokeFunction`).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard_match(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// An authenticated caller: who it is and what its identity policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub account_id: String,
    /// `arn:aws:iam::<account>:user/<name>`, `...:role/<name>`, ... as AWS's messages show it.
    pub arn: String,
    /// The AWS Organizations id of the caller's account, for `PrincipalOrgID` conditions.
    pub org_id: Option<String>,
    pub policy: IdentityPolicy,
}

impl Caller {
    /// `arn:<partition>:iam::<account>:root`, the principal that stands for the whole account.
    pub fn account_root_arn(&self) -> String {
        let partition = self
            .arn
            .strip_prefix("arn:")
            .and_then(|r| r.split(':').next())
            .filter(|p| !p.is_empty())
            .unwrap_or("aws");
        format!("arn:{partition}:iam::{}:root", self.account_id)
    }
}

/// Who a resource-based statement grants access to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionPrincipal {
    /// `"Principal": "*"`.
    Any,
    /// A service such as `s3.amazonaws.com`.
    Service(String),
    /// An IAM ARN: an account's root (`arn:aws:iam::<account>:root`), a user or a role.
    Aws(String),
}

/// The conditions AddPermission can attach to a statement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionConditions {
    /// `ArnLike AWS:SourceArn` (StringLike semantics).
    pub source_arn: Option<String>,
    /// `StringEquals AWS:SourceAccount`.
    pub source_account: Option<String>,
    /// `StringEquals aws:PrincipalOrgID`.
    pub principal_org_id: Option<String>,
    /// `StringEquals lambda:EventSourceToken`.
    pub event_source_token: Option<String>,
    /// `StringEquals lambda:FunctionUrlAuthType` (`NONE` or `AWS_IAM`).
    pub function_url_auth_type: Option<String>,
    /// `Bool lambda:InvokedViaFunctionUrl`.
    pub invoked_via_function_url: Option<bool>,
}

/// One statement of a function's resource-based policy, as AddPermission made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub sid: String,
    /// `lambda:InvokeFunction`, `lambda:*`, `*`, ...
    pub action: String,
    pub principal: PermissionPrincipal,
    /// The function ARN, qualified when the permission was added with a `Qualifier`.
    pub resource: String,
    #[serde(default)]
    pub conditions: PermissionConditions,
}

impl Permission {
    /// Whether this statement lets `caller` (calling invokd directly) perform `action`.
    ///
    /// A direct call carries no `AWS:SourceArn`, `AWS:SourceAccount`, `lambda:EventSourceToken`
    /// or function-URL context, so a statement conditioned on one of those never matches it,
    /// as in IAM, where a condition on an absent key fails.
    pub fn grants(&self, caller: &Caller, action: &str) -> bool {
        if !action_matches(&self.action, action) {
            return false;
        }
        let principal = match &self.principal {
            PermissionPrincipal::Any => true,
            PermissionPrincipal::Service(_) => false,
            PermissionPrincipal::Aws(arn) => {
                *arn == caller.arn || *arn == caller.account_root_arn()
            }
        };
        let c = &self.conditions;
        let context_free = c.source_arn.is_none()
            && c.source_account.is_none()
            && c.event_source_token.is_none()
            && c.function_url_auth_type.is_none()
            && c.invoked_via_function_url.is_none();
        let org = c
            .principal_org_id
            .as_ref()
            .is_none_or(|org| caller.org_id.as_ref() == Some(org));
        principal && context_free && org
    }
}

/// What a request does: an action on a resource owned by an account.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub action: &'a str,
    /// The resource's ARN (`*` for actions on no particular resource).
    pub resource: &'a str,
    /// The account that owns the resource.
    pub owner_account: &'a str,
}

/// Why a request was refused; each reads as the end of AWS's `AccessDeniedException` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NoIdentityAllow,
    ExplicitDeny,
    NoResourceAllow,
}

impl Denial {
    /// The reason as AWS appends it to "User: … is not authorized to perform: … on resource: …".
    pub fn reason(self, action: &str) -> String {
        match self {
            Denial::NoIdentityAllow => {
                format!("because no identity-based policy allows the {action} action")
            }
            Denial::ExplicitDeny => "with an explicit deny in an identity-based policy".into(),
            Denial::NoResourceAllow => {
                format!("because no resource-based policy allows the {action} action")
            }
        }
    }
}

/// Decides whether `caller` may perform `access`, given the resource-based policy of the
/// resource (empty when it has none).
pub fn decide(
    caller: &Caller,
    access: &Access<'_>,
    resource_policy: &[Permission],
) -> Result<(), Denial> {
    let identity = caller.policy.evaluate(access.action, access.resource);
    if identity == Evaluation::ExplicitDeny {
        return Err(Denial::ExplicitDeny);
    }
    if identity == Evaluation::NotAllowed {
        return Err(Denial::NoIdentityAllow);
    }
    if caller.account_id == access.owner_account {
        return Ok(());
    }
    // Another account's resource: its owner has to have granted this caller the action.
    if resource_policy
        .iter()
        .any(|s| s.grants(caller, access.action))
    {
        Ok(())
    } else {
        Err(Denial::NoResourceAllow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(actions: &[&str], resources: &[&str]) -> IdentityStatement {
        IdentityStatement {
            effect: Effect::Allow,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn deny(actions: &[&str], resources: &[&str]) -> IdentityStatement {
        IdentityStatement {
            effect: Effect::Deny,
            ..allow(actions, resources)
        }
    }

    fn caller(account: &str, statements: Vec<IdentityStatement>) -> Caller {
        Caller {
            access_key_id: "AKID".into(),
            account_id: account.into(),
            arn: format!("arn:aws:iam::{account}:user/alice"),
            org_id: Some("o-aaaaaaaaaa".into()),
            policy: IdentityPolicy { statements },
        }
    }

    const F: &str = "arn:aws:lambda:us-east-1:111111111111:function:f";
    const INVOKE: &str = "lambda:InvokeFunction";

    fn access(resource: &str) -> Access<'_> {
        Access {
            action: INVOKE,
            resource,
            owner_account: "111111111111",
        }
    }

    fn grant(principal: PermissionPrincipal) -> Permission {
        Permission {
            sid: "s".into(),
            action: INVOKE.into(),
            principal,
            resource: F.into(),
            conditions: PermissionConditions::default(),
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("a*c", "abbbc"));
        assert!(wildcard_match("a*c", "ac"));
        assert!(!wildcard_match("a*c", "acb"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*:function:f*", F));
        assert!(!wildcard_match("*:function:g*", F));
        assert!(!wildcard_match("A", "a"), "resources are case-sensitive");
        assert!(action_matches("LAMBDA:invoke*", INVOKE));
        assert!(action_matches("lambda:*", INVOKE));
        assert!(!action_matches("lambda:Get*", INVOKE));
    }

    #[test]
    fn same_account_needs_an_identity_allow_and_a_deny_wins() {
        let none = caller("111111111111", vec![]);
        assert_eq!(decide(&none, &access(F), &[]), Err(Denial::NoIdentityAllow));
        let allowed = caller("111111111111", vec![allow(&["lambda:*"], &["*"])]);
        assert_eq!(decide(&allowed, &access(F), &[]), Ok(()));
        let denied = caller(
            "111111111111",
            vec![allow(&["*"], &["*"]), deny(&[INVOKE], &[F])],
        );
        assert_eq!(decide(&denied, &access(F), &[]), Err(Denial::ExplicitDeny));
        // The deny names the unqualified ARN only: an alias is another resource.
        assert_eq!(decide(&denied, &access(&format!("{F}:live")), &[]), Ok(()));
    }

    #[test]
    fn identity_resources_are_exact_arns_or_patterns() {
        let c = caller("111111111111", vec![allow(&[INVOKE], &[F])]);
        assert_eq!(decide(&c, &access(F), &[]), Ok(()));
        assert_eq!(
            decide(&c, &access(&format!("{F}:1")), &[]),
            Err(Denial::NoIdentityAllow)
        );
        let all_versions = caller("111111111111", vec![allow(&[INVOKE], &[&format!("{F}*")])]);
        assert_eq!(
            decide(&all_versions, &access(&format!("{F}:1")), &[]),
            Ok(())
        );
    }

    #[test]
    fn another_account_needs_both_policies() {
        let other = caller("222222222222", vec![allow(&[INVOKE], &["*"])]);
        assert_eq!(
            decide(&other, &access(F), &[]),
            Err(Denial::NoResourceAllow)
        );
        for principal in [
            PermissionPrincipal::Any,
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:root".into()),
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:user/alice".into()),
        ] {
            assert_eq!(
                decide(&other, &access(F), &[grant(principal.clone())]),
                Ok(()),
                "{principal:?}"
            );
        }
        for principal in [
            PermissionPrincipal::Service("s3.amazonaws.com".into()),
            PermissionPrincipal::Aws("arn:aws:iam::333333333333:root".into()),
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:user/bob".into()),
        ] {
            assert_eq!(
                decide(&other, &access(F), &[grant(principal.clone())]),
                Err(Denial::NoResourceAllow),
                "{principal:?}"
            );
        }
        // The resource policy alone is not enough: the caller's own account must allow it too.
        let no_identity = caller("222222222222", vec![]);
        assert_eq!(
            decide(&no_identity, &access(F), &[grant(PermissionPrincipal::Any)]),
            Err(Denial::NoIdentityAllow)
        );
    }

    #[test]
    fn resource_statements_match_actions_and_conditions() {
        let other = caller("222222222222", vec![allow(&["*"], &["*"])]);
        let mut get_only = grant(PermissionPrincipal::Any);
        get_only.action = "lambda:GetFunction".into();
        assert!(!get_only.grants(&other, INVOKE));
        let mut every = grant(PermissionPrincipal::Any);
        every.action = "lambda:*".into();
        assert!(every.grants(&other, INVOKE));

        let mut org = grant(PermissionPrincipal::Any);
        org.conditions.principal_org_id = Some("o-aaaaaaaaaa".into());
        assert!(org.grants(&other, INVOKE));
        org.conditions.principal_org_id = Some("o-bbbbbbbbbb".into());
        assert!(!org.grants(&other, INVOKE));

        // Service-context keys are absent from a direct call.
        let mut source = grant(PermissionPrincipal::Any);
        source.conditions.source_account = Some("222222222222".into());
        assert!(!source.grants(&other, INVOKE));
    }

    #[test]
    fn reasons_read_like_aws() {
        assert_eq!(
            Denial::NoIdentityAllow.reason(INVOKE),
            "because no identity-based policy allows the lambda:InvokeFunction action"
        );
        assert_eq!(
            Denial::NoResourceAllow.reason(INVOKE),
            "because no resource-based policy allows the lambda:InvokeFunction action"
        );
        assert_eq!(
            Denial::ExplicitDeny.reason(INVOKE),
            "with an explicit deny in an identity-based policy"
        );
    }

    mod properties {
        use super::super::wildcard_match;
        use proptest::prelude::*;

        /// The reference: the pattern translated to an anchored regular expression.
        fn by_regex(pattern: &str, value: &str) -> bool {
            let mut re = String::from("^");
            for c in pattern.chars() {
                match c {
                    '*' => re.push_str("(?s:.*)"),
                    '?' => re.push_str("(?s:.)"),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push('$');
            regex::Regex::new(&re).expect("pattern").is_match(value)
        }

        proptest! {
            #[test]
            fn agrees_with_a_regular_expression(pattern in "[ab*?:]{0,12}", value in "[ab:]{0,12}") {
                prop_assert_eq!(wildcard_match(&pattern, &value), by_regex(&pattern, &value));
            }

            #[test]
            fn a_value_matches_itself_and_its_generalisations(value in "[a-z:/0-9-]{0,24}", cut in 0usize..24, len in 0usize..8) {
                prop_assert!(wildcard_match(&value, &value));
                let chars: Vec<char> = value.chars().collect();
                let start = cut.min(chars.len());
                let end = (start + len).min(chars.len());
                let starred: String = chars[..start].iter().chain(['*'].iter()).chain(chars[end..].iter()).collect();
                prop_assert!(wildcard_match(&starred, &value));
                if start < chars.len() {
                    let mut one: Vec<char> = chars.clone();
                    one[start] = '?';
                    prop_assert!(wildcard_match(&one.iter().collect::<String>(), &value));
                }
            }
        }
    }
}
