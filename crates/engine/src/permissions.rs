//! Resource-based policies (AddPermission, RemovePermission, GetPolicy) and the authorisation
//! check that server mode runs for every request.
//!
//! A function has one policy for its unqualified ARN (which `$LATEST` shares: AWS refuses
//! policies on `$LATEST` itself) and one per version or alias. Policies are part of the function
//! document, so they are committed with it and survive restarts; deleting a version or an alias
//! deletes its policy. Each change gives the policy's owner (`$LATEST`, the version or the alias)
//! a new revision id, which is the policy's `RevisionId`, as on AWS.
//!
//! The decision itself is `invokd_model::policy::decide`; this module only finds the policy
//! of the resource a request addresses. Which action and resource a request is, is the server's
//! business (its one table of operations).

use invokd_model::name::check_alias_name;
use invokd_model::policy::{
    Access, Caller, Permission, PermissionConditions, PermissionPrincipal, decide,
};
use invokd_model::spec::AddPermissionInput;
use invokd_model::{Function, FunctionRef, Qualifier, Scope};

use crate::Engine;
use crate::error::{Error, Result};
use crate::ids::uuid;

/// Largest resource-based policy Lambda keeps, in bytes of its JSON.
pub const MAX_POLICY_BYTES: usize = 20_480;

const NO_RESOURCE: &str = "The resource you requested does not exist.";
const INVALID_PRINCIPAL: &str =
    "The provided principal was invalid. Please check the principal and try again.";

/// A policy as GetPolicy reports it.
#[derive(Debug, Clone)]
pub struct PolicyView {
    pub statements: Vec<Permission>,
    pub revision_id: String,
}

/// The function (and qualifier) whose resource-based policy governs a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTarget {
    pub function: String,
    pub qualifier: Option<String>,
}

/// Which policy of a function a qualifier names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Function,
    Version(u64),
    Alias(String),
}

impl Owner {
    /// Resolves a qualifier of an existing function; `missing` builds the error for a version
    /// or alias that does not exist (AWS words it differently per operation).
    fn resolve(
        f: &Function,
        qualifier: Option<&str>,
        missing: impl Fn(&str) -> Error,
    ) -> Result<Owner> {
        let Some(q) = qualifier else {
            return Ok(Owner::Function);
        };
        match Qualifier::interpret(q) {
            Qualifier::Latest => Ok(Owner::Function),
            Qualifier::Version(n) if f.versions.contains_key(&n) => Ok(Owner::Version(n)),
            Qualifier::Alias(a) if f.aliases.contains_key(&a) => Ok(Owner::Alias(a)),
            _ => Err(missing(q)),
        }
    }

    fn statements<'a>(&self, f: &'a Function) -> &'a [Permission] {
        match self {
            Owner::Function => &f.policy,
            Owner::Version(n) => f
                .qualified_policies
                .get(&n.to_string())
                .map_or(&[], Vec::as_slice),
            Owner::Alias(a) => f.qualified_policies.get(a).map_or(&[], Vec::as_slice),
        }
    }

    fn statements_mut<'a>(&self, f: &'a mut Function) -> &'a mut Vec<Permission> {
        match self {
            Owner::Function => &mut f.policy,
            Owner::Version(n) => f.qualified_policies.entry(n.to_string()).or_default(),
            Owner::Alias(a) => f.qualified_policies.entry(a.clone()).or_default(),
        }
    }

    /// The policy's revision id: that of `$LATEST`, the version or the alias.
    fn revision<'a>(&self, f: &'a Function) -> &'a str {
        match self {
            Owner::Function => &f.latest.revision_id,
            Owner::Version(n) => f.versions.get(n).map_or("", |v| v.revision_id.as_str()),
            Owner::Alias(a) => f.aliases.get(a).map_or("", |a| a.revision_id.as_str()),
        }
    }

    /// Records a change of the policy as a new revision of its owner.
    fn touch(&self, f: &mut Function) {
        let revision = match self {
            Owner::Function => Some(&mut f.latest.revision_id),
            Owner::Version(n) => f.versions.get_mut(n).map(|v| &mut v.revision_id),
            Owner::Alias(a) => f.aliases.get_mut(a).map(|a| &mut a.revision_id),
        };
        if let Some(r) = revision {
            *r = uuid();
        }
    }

    /// Drops an emptied qualified policy, so the document keeps no empty entries.
    fn tidy(&self, f: &mut Function) {
        let key = match self {
            Owner::Function => return,
            Owner::Version(n) => n.to_string(),
            Owner::Alias(a) => a.clone(),
        };
        if f.qualified_policies.get(&key).is_some_and(Vec::is_empty) {
            f.qualified_policies.remove(&key);
        }
    }
}

/// A version or alias that AddPermission (or RemovePermission) cannot find, in AWS's words:
/// a name that could be an alias is reported as one; anything else as a missing function.
fn missing_qualified(scope: &Scope, name: &str, q: &str) -> Error {
    let arn = scope.qualified_arn(name, q);
    if !q.bytes().all(|b| b.is_ascii_digit()) && check_alias_name(q).is_ok() {
        Error::FunctionNotFoundAs(format!("Cannot find alias arn: {arn}"))
    } else {
        Error::FunctionNotFound(arn)
    }
}

/// What AddPermission's `Principal` designates: `*`, an account, an IAM ARN or a service.
fn parse_principal(p: &str, scope: &Scope) -> Result<PermissionPrincipal> {
    let invalid = || Error::InvalidParameter(INVALID_PRINCIPAL.into());
    if p == "*" {
        return Ok(PermissionPrincipal::Any);
    }
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(PermissionPrincipal::Aws(format!(
            "arn:{}:iam::{p}:root",
            scope.partition
        )));
    }
    if let Some(rest) = p.strip_prefix("arn:") {
        // arn:<partition>:iam::<account>:<root|user/..|role/..> or an STS assumed role.
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let ok = parts.len() == 5
            && parts[0].starts_with("aws")
            && matches!(parts[1], "iam" | "sts")
            && parts[2].is_empty()
            && parts[3].len() == 12
            && parts[3].bytes().all(|b| b.is_ascii_digit())
            && !parts[4].is_empty();
        return if ok {
            Ok(PermissionPrincipal::Aws(p.to_owned()))
        } else {
            Err(invalid())
        };
    }
    let service = [".amazonaws.com", ".amazon.com", ".amazonaws.com.cn"]
        .iter()
        .any(|suffix| p.strip_suffix(suffix).is_some_and(|host| !host.is_empty()))
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if service {
        Ok(PermissionPrincipal::Service(p.to_owned()))
    } else {
        Err(invalid())
    }
}

impl Engine {
    /// AddPermission: adds a statement to the policy of the function, version or alias.
    /// `measure` gives the size of a policy as AWS counts it (the bytes of its JSON).
    pub async fn add_permission(
        &self,
        input: AddPermissionInput,
        measure: fn(&[Permission]) -> usize,
    ) -> Result<Permission> {
        let r = &input.function;
        let q = Self::effective_qualifier(r, input.qualifier.as_deref())?;
        self.check_scope(r)?;
        let scope = self.scope().clone();
        if q.as_deref().map(Qualifier::interpret) == Some(Qualifier::Latest) {
            return Err(Error::InvalidParameter(
                "We currently do not support adding policies for $LATEST.".into(),
            ));
        }
        let principal = parse_principal(&input.principal, &scope)?;
        if input.function_url_auth_type.is_some()
            && !input
                .action
                .eq_ignore_ascii_case("lambda:InvokeFunctionUrl")
        {
            return Err(Error::InvalidParameter(
                "FunctionUrlAuthType is only supported for lambda:InvokeFunctionUrl action".into(),
            ));
        }
        let resource = match &q {
            Some(q) => scope.qualified_arn(&r.name, q),
            None => scope.function_arn(&r.name),
        };
        let permission = Permission {
            sid: input.statement_id.clone(),
            action: input.action.clone(),
            principal,
            resource,
            conditions: PermissionConditions {
                source_arn: input.source_arn.clone(),
                source_account: input.source_account.clone(),
                principal_org_id: input.principal_org_id.clone(),
                event_source_token: input.event_source_token.clone(),
                function_url_auth_type: input.function_url_auth_type.clone(),
                invoked_via_function_url: input.invoked_via_function_url,
            },
        };
        let added = permission.clone();
        self.modify(&r.name, None, false, |f| {
            let owner = Owner::resolve(f, q.as_deref(), |q| missing_qualified(&scope, &r.name, q))?;
            if input
                .revision_id
                .as_deref()
                .is_some_and(|rev| rev != owner.revision(f))
            {
                return Err(Error::PolicyRevisionMismatch);
            }
            let statements = owner.statements_mut(f);
            if statements.iter().any(|s| s.sid == permission.sid) {
                return Err(Error::Conflict(format!(
                    "The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.",
                    permission.sid
                )));
            }
            statements.push(permission);
            let size = measure(statements);
            if size > MAX_POLICY_BYTES {
                return Err(Error::PolicyLengthExceeded(size));
            }
            owner.touch(f);
            Ok(None)
        })
        .await?;
        Ok(added)
    }

    /// RemovePermission.
    pub async fn remove_permission(
        &self,
        r: &FunctionRef,
        statement_id: &str,
        qualifier: Option<&str>,
        revision_id: Option<&str>,
    ) -> Result<()> {
        let q = Self::effective_qualifier(r, qualifier)?;
        self.check_scope(r)?;
        let scope = self.scope().clone();
        if self.inner.registry.get(&r.name).is_none() {
            let arn = match &q {
                Some(q) => scope.qualified_arn(&r.name, q),
                None => scope.function_arn(&r.name),
            };
            return Err(Error::FunctionNotFoundAs(format!(
                "No policy found for: {arn}"
            )));
        }
        self.modify(&r.name, None, false, |f| {
            let owner = Owner::resolve(f, q.as_deref(), |q| missing_qualified(&scope, &r.name, q))?;
            if owner.statements(f).is_empty() {
                return Err(Error::FunctionNotFoundAs(
                    "No policy is associated with the given resource.".into(),
                ));
            }
            if revision_id.is_some_and(|rev| rev != owner.revision(f)) {
                return Err(Error::PolicyRevisionMismatch);
            }
            let statements = owner.statements_mut(f);
            let Some(i) = statements.iter().position(|s| s.sid == statement_id) else {
                return Err(Error::FunctionNotFoundAs(format!(
                    "Statement {statement_id} is not found in resource policy."
                )));
            };
            statements.remove(i);
            owner.tidy(f);
            owner.touch(f);
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// GetPolicy.
    pub fn get_policy(&self, r: &FunctionRef, qualifier: Option<&str>) -> Result<PolicyView> {
        let q = Self::effective_qualifier(r, qualifier)?;
        self.check_scope(r)?;
        let scope = self.scope();
        let entry = self.inner.registry.get(&r.name).ok_or_else(|| {
            Error::FunctionNotFound(match &q {
                Some(q) => scope.qualified_arn(&r.name, q),
                None => scope.function_arn(&r.name),
            })
        })?;
        let f = &entry.function;
        let owner = Owner::resolve(f, q.as_deref(), |_| {
            Error::FunctionNotFoundAs(NO_RESOURCE.into())
        })?;
        let statements = owner.statements(f);
        if statements.is_empty() {
            return Err(Error::FunctionNotFoundAs(NO_RESOURCE.into()));
        }
        Ok(PolicyView {
            statements: statements.to_vec(),
            revision_id: owner.revision(f).to_owned(),
        })
    }

    /// Whether `caller` may perform `access`. A caller of another account is also checked
    /// against the resource-based policy of `target` (the function, version or alias the
    /// request addresses), which only exists for functions of this server's account.
    pub fn authorize(
        &self,
        caller: &Caller,
        access: &Access<'_>,
        target: Option<&PolicyTarget>,
    ) -> Result<()> {
        let cross_account = caller.account_id != access.owner_account
            && access.owner_account == self.scope().account_id;
        let entry = target
            .filter(|_| cross_account)
            .and_then(|t| self.inner.registry.get(&t.function).map(|e| (e, t)));
        let policy = match &entry {
            Some((e, t)) => e
                .function
                .policy_for(t.qualifier.as_deref().map(Qualifier::interpret).as_ref()),
            None => &[],
        };
        decide(caller, access, policy).map_err(|denial| Error::AccessDenied {
            principal: caller.arn.clone(),
            action: access.action.to_owned(),
            resource: access.resource.to_owned(),
            denial,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals() {
        let scope = Scope::new("us-east-1", "111111111111");
        assert_eq!(
            parse_principal("*", &scope).unwrap(),
            PermissionPrincipal::Any
        );
        assert_eq!(
            parse_principal("222222222222", &scope).unwrap(),
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:root".into())
        );
        assert_eq!(
            parse_principal("arn:aws:iam::222222222222:user/bob", &scope).unwrap(),
            PermissionPrincipal::Aws("arn:aws:iam::222222222222:user/bob".into())
        );
        assert_eq!(
            parse_principal("s3.amazonaws.com", &scope).unwrap(),
            PermissionPrincipal::Service("s3.amazonaws.com".into())
        );
        assert_eq!(
            parse_principal("alexa-appkit.amazon.com", &scope).unwrap(),
            PermissionPrincipal::Service("alexa-appkit.amazon.com".into())
        );
        for bad in [
            "invalid.nonaws.com",
            "12345",
            "arn:aws:iam::123:root",
            "arn:aws:s3:::bucket",
            ".amazonaws.com",
            "bob",
        ] {
            assert!(parse_principal(bad, &scope).is_err(), "{bad}");
        }
    }

    #[test]
    fn missing_qualifiers_are_worded_as_aws_words_them() {
        let scope = Scope::new("us-east-1", "111111111111");
        assert_eq!(
            missing_qualified(&scope, "f", "alias-doesnotexist").to_string(),
            "Cannot find alias arn: arn:aws:lambda:us-east-1:111111111111:function:f:alias-doesnotexist"
        );
        assert_eq!(
            missing_qualified(&scope, "f", "42").to_string(),
            "Function not found: arn:aws:lambda:us-east-1:111111111111:function:f:42"
        );
        assert_eq!(
            missing_qualified(&scope, "f", "valid-with-$-but-doesnotexist").to_string(),
            "Function not found: arn:aws:lambda:us-east-1:111111111111:function:f:valid-with-$-but-doesnotexist"
        );
    }
}
