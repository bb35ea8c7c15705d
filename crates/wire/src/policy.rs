//! IAM policy documents as AWS spells them.
//!
//! Three shapes live here: identity policies (IAM JSON in the credentials file, parsed into
//! [`IdentityPolicy`]), AddPermission's request (checked against the service model into an
//! [`AddPermissionInput`]) and a function's resource-based policy as AddPermission and GetPolicy
//! return it: `{"Version":"2012-10-17","Id":"default","Statement":[…]}` with each statement's
//! members in AWS's order (`Sid`, `Effect`, `Principal`, `Action`, `Resource`, `Condition`).

use std::sync::LazyLock;

use invokd_model::name::NameShape;
use invokd_model::policy::{
    Effect, IdentityPolicy, IdentityStatement, Permission, PermissionPrincipal,
};
use invokd_model::spec::AddPermissionInput;
use invokd_model::validation::length_in;
use invokd_model::{Constraint, FieldViolation, Violations, name::check_qualifier};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::control::check_function_name;
use crate::error::Error;

// ------------------------------------------------------------------------------------------
// Identity policies

/// Parses an IAM identity policy document. Only what invokd evaluates is accepted (`Effect`,
/// `Action`, `Resource`, `Sid`); anything else (`NotAction`, `Condition`, ...) is refused with
/// a message saying so rather than silently ignored, because ignoring part of a policy could
/// grant more than its author meant.
pub fn parse_identity_policy(text: &str) -> Result<IdentityPolicy, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("the policy is not JSON: {e}"))?;
    let Value::Object(doc) = doc else {
        return Err("the policy must be a JSON object with a \"Statement\" member".into());
    };
    for (k, v) in &doc {
        match k.as_str() {
            "Version" => match v.as_str() {
                Some("2012-10-17" | "2008-10-17") => {}
                _ => return Err("\"Version\" must be \"2012-10-17\" or \"2008-10-17\"".into()),
            },
            "Id" | "Statement" => {}
            other => return Err(format!("unknown policy member \"{other}\"")),
        }
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Err(
                "\"Statement\" must be a statement object or a list of statement objects".into(),
            );
        }
    };
    let mut out = Vec::with_capacity(statements.len());
    for (i, s) in statements.into_iter().enumerate() {
        out.push(parse_statement(s).map_err(|e| format!("statement {}: {e}", i + 1))?);
    }
    Ok(IdentityPolicy { statements: out })
}

fn parse_statement(s: &Value) -> Result<IdentityStatement, String> {
    let Value::Object(s) = s else {
        return Err("a statement must be a JSON object".into());
    };
    for k in s.keys() {
        match k.as_str() {
            "Sid" | "Effect" | "Action" | "Resource" => {}
            "NotAction" | "NotResource" | "Condition" | "Principal" | "NotPrincipal" => {
                return Err(format!(
                    "\"{k}\" is not supported in identity policies by invokd (use Effect, Action and Resource)"
                ));
            }
            other => return Err(format!("unknown statement member \"{other}\"")),
        }
    }
    let effect = match s.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("\"Effect\" must be \"Allow\" or \"Deny\"".into()),
    };
    Ok(IdentityStatement {
        effect,
        actions: strings(s.get("Action"), "Action")?,
        resources: strings(s.get("Resource"), "Resource")?,
    })
}

/// A member that IAM allows as one string or a list of strings.
fn strings(v: Option<&Value>, member: &str) -> Result<Vec<String>, String> {
    let list = match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("\"{member}\" must hold strings only"))?,
        _ => {
            return Err(format!(
                "\"{member}\" must be a string or a non-empty list of strings"
            ));
        }
    };
    if list.iter().any(String::is_empty) {
        return Err(format!("\"{member}\" must not contain an empty string"));
    }
    Ok(list)
}

// ------------------------------------------------------------------------------------------
// AddPermission

const STATEMENT_ID_PATTERN: &str = "([a-zA-Z0-9-_]+)";
const NAMESPACED_STATEMENT_ID_PATTERN: &str = "([a-zA-Z0-9-_.]+)";
const ACTION_PATTERN: &str = "(lambda:[*]|lambda:[a-zA-Z]+|[*])";
const PRINCIPAL_PATTERN: &str = r"[^\s]+";
const SOURCE_ARN_PATTERN: &str = r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";
const SOURCE_ACCOUNT_PATTERN: &str = r"\d{12}";
const EVENT_SOURCE_TOKEN_PATTERN: &str = r"[a-zA-Z0-9._\-]+";
const ORG_ID_PATTERN: &str = "o-[a-z0-9]{10,32}";
const URL_AUTH_TYPES: &[&str] = &["NONE", "AWS_IAM"];

static SOURCE_ARN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("^(?:{SOURCE_ARN_PATTERN})$")).expect("static pattern compiles")
});

/// `AddPermissionRequest` body (`FunctionName` and `Qualifier` come from the path and query).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AddPermissionRequest {
    pub statement_id: Option<String>,
    pub action: Option<String>,
    pub principal: Option<String>,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
    pub revision_id: Option<String>,
}

fn all_bytes(s: &str, ok: impl Fn(u8) -> bool) -> bool {
    !s.is_empty() && s.bytes().all(ok)
}

fn pattern(ok: bool, p: &'static str) -> Result<(), Constraint> {
    if ok {
        Ok(())
    } else {
        Err(Constraint::Pattern(p))
    }
}

/// Checks a statement id (`StatementId` of AddPermission; `namespaced`: RemovePermission's path,
/// which also allows `.`).
pub fn check_statement_id(sid: &str, namespaced: bool) -> Result<(), Constraint> {
    length_in(sid, 1, 100)?;
    let ok = all_bytes(sid, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (namespaced && b == b'.')
    });
    pattern(
        ok,
        if namespaced {
            NAMESPACED_STATEMENT_ID_PATTERN
        } else {
            STATEMENT_ID_PATTERN
        },
    )
}

fn check_action(a: &str) -> Result<(), Constraint> {
    length_in(a, 0, 10_000)?;
    let ok = a == "*"
        || a == "lambda:*"
        || a.strip_prefix("lambda:")
            .is_some_and(|rest| all_bytes(rest, |b| b.is_ascii_alphabetic()));
    pattern(ok, ACTION_PATTERN)
}

impl AddPermissionRequest {
    /// Validates every member against the service model, reporting all violations at once.
    pub fn into_input(
        self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<AddPermissionInput, Error> {
        let mut v = Violations::new();
        if let Some(q) = qualifier {
            v.check("qualifier", q, check_qualifier(q));
        }
        let function = check_function_name(Some(function_name), NameShape::Namespaced, &mut v);
        match &self.statement_id {
            Some(s) => {
                v.check("statementId", s, check_statement_id(s, false));
            }
            None => v.push(FieldViolation::null("statementId")),
        }
        match &self.action {
            Some(a) => {
                v.check("action", a, check_action(a));
            }
            None => v.push(FieldViolation::null("action")),
        }
        match &self.principal {
            Some(p) => {
                let r = length_in(p, 0, 2048).and_then(|()| {
                    pattern(
                        all_bytes(p, |b| !b.is_ascii_whitespace()),
                        PRINCIPAL_PATTERN,
                    )
                });
                v.check("principal", p, r);
            }
            None => v.push(FieldViolation::null("principal")),
        }
        if let Some(a) = &self.source_arn {
            let r = length_in(a, 0, 10_000)
                .and_then(|()| pattern(SOURCE_ARN_RE.is_match(a), SOURCE_ARN_PATTERN));
            v.check("sourceArn", a, r);
        }
        if let Some(a) = &self.source_account {
            let r = length_in(a, 0, 12).and_then(|()| {
                pattern(
                    a.len() == 12 && all_bytes(a, |b| b.is_ascii_digit()),
                    SOURCE_ACCOUNT_PATTERN,
                )
            });
            v.check("sourceAccount", a, r);
        }
        if let Some(t) = &self.event_source_token {
            let r = length_in(t, 0, 256).and_then(|()| {
                pattern(
                    all_bytes(t, |b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                    EVENT_SOURCE_TOKEN_PATTERN,
                )
            });
            v.check("eventSourceToken", t, r);
        }
        if let Some(o) = &self.principal_org_id {
            let r = length_in(o, 12, 34).and_then(|()| {
                let ok = o.strip_prefix("o-").is_some_and(|rest| {
                    (10..=32).contains(&rest.len())
                        && all_bytes(rest, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
                pattern(ok, ORG_ID_PATTERN)
            });
            v.check("principalOrgID", o, r);
        }
        if let Some(t) = &self.function_url_auth_type {
            let r = if URL_AUTH_TYPES.contains(&t.as_str()) {
                Ok(())
            } else {
                Err(Constraint::Enum(URL_AUTH_TYPES))
            };
            v.check("functionUrlAuthType", t, r);
        }
        v.into_result()?;
        Ok(AddPermissionInput {
            function: function.expect("checked above"),
            qualifier: qualifier.map(str::to_owned),
            statement_id: self.statement_id.expect("checked above"),
            action: self.action.expect("checked above"),
            principal: self.principal.expect("checked above"),
            source_arn: self.source_arn,
            source_account: self.source_account,
            event_source_token: self.event_source_token,
            principal_org_id: self.principal_org_id,
            function_url_auth_type: self.function_url_auth_type,
            invoked_via_function_url: self.invoked_via_function_url,
            revision_id: self.revision_id,
        })
    }
}

// ------------------------------------------------------------------------------------------
// Resource-based policies as AWS renders them

#[derive(Serialize)]
#[serde(untagged)]
enum PrincipalShape<'a> {
    Any(&'static str),
    Service {
        #[serde(rename = "Service")]
        service: &'a str,
    },
    Aws {
        #[serde(rename = "AWS")]
        aws: &'a str,
    },
}

#[derive(Serialize)]
struct StringEquals<'a> {
    #[serde(rename = "AWS:SourceAccount", skip_serializing_if = "Option::is_none")]
    source_account: Option<&'a str>,
    #[serde(
        rename = "lambda:FunctionUrlAuthType",
        skip_serializing_if = "Option::is_none"
    )]
    function_url_auth_type: Option<&'a str>,
    #[serde(rename = "aws:PrincipalOrgID", skip_serializing_if = "Option::is_none")]
    principal_org_id: Option<&'a str>,
    #[serde(
        rename = "lambda:EventSourceToken",
        skip_serializing_if = "Option::is_none"
    )]
    event_source_token: Option<&'a str>,
}

#[derive(Serialize)]
struct ArnLike<'a> {
    #[serde(rename = "AWS:SourceArn")]
    source_arn: &'a str,
}

#[derive(Serialize)]
struct BoolCondition {
    #[serde(rename = "lambda:InvokedViaFunctionUrl")]
    invoked_via_function_url: &'static str,
}

#[derive(Serialize)]
struct ConditionShape<'a> {
    #[serde(rename = "StringEquals", skip_serializing_if = "Option::is_none")]
    string_equals: Option<StringEquals<'a>>,
    #[serde(rename = "ArnLike", skip_serializing_if = "Option::is_none")]
    arn_like: Option<ArnLike<'a>>,
    #[serde(rename = "Bool", skip_serializing_if = "Option::is_none")]
    bool: Option<BoolCondition>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatementShape<'a> {
    sid: &'a str,
    effect: &'static str,
    principal: PrincipalShape<'a>,
    action: &'a str,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition: Option<ConditionShape<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyShape<'a> {
    version: &'static str,
    id: &'static str,
    statement: Vec<StatementShape<'a>>,
}

fn statement_shape(p: &Permission) -> StatementShape<'_> {
    let c = &p.conditions;
    let string_equals = (c.source_account.is_some()
        || c.function_url_auth_type.is_some()
        || c.principal_org_id.is_some()
        || c.event_source_token.is_some())
    .then_some(StringEquals {
        source_account: c.source_account.as_deref(),
        function_url_auth_type: c.function_url_auth_type.as_deref(),
        principal_org_id: c.principal_org_id.as_deref(),
        event_source_token: c.event_source_token.as_deref(),
    });
    let arn_like = c
        .source_arn
        .as_deref()
        .map(|source_arn| ArnLike { source_arn });
    let bool = c.invoked_via_function_url.map(|b| BoolCondition {
        invoked_via_function_url: if b { "true" } else { "false" },
    });
    let condition = (string_equals.is_some() || arn_like.is_some() || bool.is_some()).then_some(
        ConditionShape {
            string_equals,
            arn_like,
            bool,
        },
    );
    StatementShape {
        sid: &p.sid,
        effect: "Allow",
        principal: match &p.principal {
            PermissionPrincipal::Any => PrincipalShape::Any("*"),
            PermissionPrincipal::Service(service) => PrincipalShape::Service { service },
            PermissionPrincipal::Aws(aws) => PrincipalShape::Aws { aws },
        },
        action: &p.action,
        resource: &p.resource,
        condition,
    }
}

/// One statement as AddPermission returns it (a JSON document in a string member).
pub fn render_statement(p: &Permission) -> String {
    serde_json::to_string(&statement_shape(p)).unwrap_or_default()
}

/// A whole resource-based policy as GetPolicy returns it.
pub fn render_policy(statements: &[Permission]) -> String {
    serde_json::to_string(&PolicyShape {
        version: "2012-10-17",
        id: "default",
        statement: statements.iter().map(statement_shape).collect(),
    })
    .unwrap_or_default()
}

/// Bytes of a policy's JSON, the measure of Lambda's 20 KB limit.
pub fn policy_len(statements: &[Permission]) -> usize {
    render_policy(statements).len()
}

/// `AddPermissionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddPermissionResponse {
    pub statement: String,
}

/// `GetPolicyResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPolicyResponse {
    pub policy: String,
    pub revision_id: String,
}

#[cfg(test)]
mod tests {
    use invokd_model::policy::PermissionConditions;

    use super::*;

    const F: &str = "arn:aws:lambda:us-east-1:111111111111:function:f";

    fn permission(principal: PermissionPrincipal, conditions: PermissionConditions) -> Permission {
        Permission {
            sid: "s3".into(),
            action: "lambda:InvokeFunction".into(),
            principal,
            resource: F.into(),
            conditions,
        }
    }

    #[test]
    fn statements_render_in_aws_member_order() {
        let p = permission(
            PermissionPrincipal::Service("s3.amazonaws.com".into()),
            PermissionConditions {
                source_arn: Some("arn:aws:s3:::bucket".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            render_statement(&p),
            r#"{"Sid":"s3","Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111111111111:function:f","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::bucket"}}}"#
        );
    }

    #[test]
    fn every_condition_and_principal_form() {
        let p = permission(
            PermissionPrincipal::Any,
            PermissionConditions {
                source_arn: Some("arn:aws:s3:::b".into()),
                source_account: Some("111111111111".into()),
                principal_org_id: Some("o-1234567890".into()),
                function_url_auth_type: Some("NONE".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            render_statement(&p),
            r#"{"Sid":"s3","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:111111111111:function:f","Condition":{"StringEquals":{"AWS:SourceAccount":"111111111111","lambda:FunctionUrlAuthType":"NONE","aws:PrincipalOrgID":"o-1234567890"},"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::b"}}}"#
        );
        let root = permission(
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:root".into()),
            PermissionConditions::default(),
        );
        assert!(
            render_statement(&root)
                .contains(r#""Principal":{"AWS":"arn:aws:iam::222222222222:root"},"#)
        );
        assert!(!render_statement(&root).contains("Condition"));
    }

    #[test]
    fn policies_wrap_statements_like_get_policy() {
        let p = permission(PermissionPrincipal::Any, PermissionConditions::default());
        let doc = render_policy(std::slice::from_ref(&p));
        assert!(
            doc.starts_with(r#"{"Version":"2012-10-17","Id":"default","Statement":[{"Sid":"s3","#)
        );
        assert_eq!(policy_len(&[p]), doc.len());
    }

    #[test]
    fn identity_policies_accept_iam_json() {
        let p = parse_identity_policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"a","Effect":"Allow","Action":["lambda:Get*","lambda:InvokeFunction"],"Resource":"*"},
                {"Effect":"Deny","Action":"lambda:DeleteFunction","Resource":["arn:aws:lambda:*:*:function:prod-*"]}]}"#,
        )
        .unwrap();
        assert_eq!(p.statements.len(), 2);
        assert_eq!(p.statements[0].actions.len(), 2);
        assert_eq!(p.statements[1].effect, Effect::Deny);
        let single = parse_identity_policy(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(single.statements.len(), 1);
    }

    #[test]
    fn identity_policies_refuse_what_they_cannot_honour() {
        for (doc, says) in [
            ("nope", "not JSON"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                "\"Resource\"",
            ),
            (
                r#"{"Statement":[{"Effect":"allow","Action":"*","Resource":"*"}]}"#,
                "\"Effect\"",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","NotAction":"x","Resource":"*"}]}"#,
                "NotAction",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}"#,
                "Condition",
            ),
            (r#"{"Version":"2020-01-01","Statement":[]}"#, "Version"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
                "\"Action\"",
            ),
        ] {
            let e = parse_identity_policy(doc).unwrap_err();
            assert!(e.contains(says), "{doc}: {e}");
        }
    }

    #[test]
    fn add_permission_reports_every_broken_member() {
        let req = AddPermissionRequest {
            statement_id: Some("example.com".into()),
            action: Some("lambda:Invoke-Function".into()),
            principal: None,
            source_account: Some("123".into()),
            principal_org_id: Some("o-short".into()),
            function_url_auth_type: Some("BASIC".into()),
            ..Default::default()
        };
        let e = req.into_input("f", None).unwrap_err().to_string();
        assert!(e.starts_with("6 validation errors detected: Value 'example.com' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+); "), "{e}");
        assert!(
            e.contains(
                "Value null at 'principal' failed to satisfy constraint: Member must not be null"
            ),
            "{e}"
        );
        assert!(e.contains("at 'functionUrlAuthType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, AWS_IAM]"), "{e}");
    }

    #[test]
    fn add_permission_accepts_aws_examples() {
        let req = AddPermissionRequest {
            statement_id: Some("s3".into()),
            action: Some("lambda:InvokeFunction".into()),
            principal: Some("s3.amazonaws.com".into()),
            source_arn: Some("arn:aws:s3:::my-bucket".into()),
            source_account: Some("123456789012".into()),
            principal_org_id: Some("o-1234567890".into()),
            ..Default::default()
        };
        let input = req.into_input("my-fn:live", Some("live")).unwrap();
        assert_eq!(input.function.name, "my-fn");
        assert_eq!(input.qualifier.as_deref(), Some("live"));
        assert!(check_statement_id("a.b", true).is_ok());
        assert!(check_statement_id("a.b", false).is_err());
    }
}
