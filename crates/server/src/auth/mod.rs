//! Server mode's front door: who is calling ([`sigv4`]), what the request is ([`operations`],
//! the one table from routes to IAM actions and resources) and whether the caller may do it
//! (the engine's decision over the caller's identity policy and the function's resource-based
//! policy).
//!
//! In local mode none of this exists: the router has no authentication layer, any credentials
//! are accepted and every caller acts as the server's account. In server mode ([`Auth::Sigv4`])
//! every request passes [`Front::admit`] before its handler runs: the signature is verified
//! (the body is read once, hashed, and handed on to the handler unchanged), the operation is
//! classified, and the engine decides. Failures become AWS errors in `crate::error`, like every
//! other error.
//!
//! Secrets stay here: [`Secret`] never prints, logs name access key ids and principals only, and
//! the keys GetFunction's code links are signed with are made up at start and never leave the
//! process.

pub mod operations;
pub mod sigv4;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use invokd_engine::Engine;
use invokd_model::Scope;
use invokd_model::policy::{Access, Caller, Effect, IdentityPolicy, IdentityStatement};

use crate::App;
use crate::error::ApiError;
use crate::extract;

/// How requests are authenticated.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// Local mode: any credentials, one account, no checks.
    #[default]
    Local,
    /// Server mode: every request signed with SigV4 by a key of the keyring, and authorised.
    Sigv4(Arc<Keyring>),
}

/// Why a request's signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header and no presigned query.
    MissingToken,
    /// A signature with parts missing or malformed; the message says which.
    Incomplete(String),
    /// An access key nobody issued (or a session token, which no invokd key has).
    UnknownKey,
    /// The signature does not match the request.
    Mismatch,
    /// Out of date, or scoped to another region, service or day; the message says which.
    Invalid(String),
}

/// A secret access key: compared and signed with, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("** redacted **")
    }
}

/// One access key as the credentials file describes it.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub account_id: String,
    /// The caller's ARN (`arn:aws:iam::<account>:user/<name>`, `...:role/<name>`, `...:root`).
    pub principal: String,
    /// The caller's AWS Organizations id, for `PrincipalOrgID` conditions.
    pub org_id: Option<String>,
    /// The identity policy, as IAM JSON.
    pub policy: String,
}

#[derive(Debug)]
struct Key {
    secret: Secret,
    caller: Arc<Caller>,
}

/// Every access key the server accepts.
#[derive(Debug)]
pub struct Keyring {
    keys: HashMap<String, Key>,
}

impl Keyring {
    /// Checks and indexes the keys of a credentials file. The error names the key and says
    /// what to fix.
    pub fn new(specs: Vec<KeySpec>) -> Result<Keyring, String> {
        let mut keys = HashMap::new();
        for spec in specs {
            let id = spec.access_key_id.clone();
            let problem = |what: String| format!("access key {id:?}: {what}");
            let valid_id = (4..=128).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_id {
                return Err(problem(
                    "an access key id is 4 to 128 letters, digits or underscores".into(),
                ));
            }
            if spec.secret_access_key.expose().is_empty() {
                return Err(problem("the secret access key is empty".into()));
            }
            let account = &spec.account_id;
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(problem(format!("account id {account:?} must be 12 digits")));
            }
            if !principal_of(&spec.principal, account) {
                return Err(problem(format!(
                    "principal {:?} must be an IAM ARN of account {account}, such as arn:aws:iam::{account}:user/NAME",
                    spec.principal
                )));
            }
            let policy = invokd_wire::policy::parse_identity_policy(&spec.policy)
                .map_err(|e| problem(format!("policy: {e}")))?;
            let caller = Caller {
                access_key_id: id.clone(),
                account_id: spec.account_id,
                arn: spec.principal,
                org_id: spec.org_id,
                policy,
            };
            let key = Key {
                secret: spec.secret_access_key,
                caller: Arc::new(caller),
            };
            if keys.insert(id.clone(), key).is_some() {
                return Err(problem("appears twice".into()));
            }
        }
        if keys.is_empty() {
            return Err("no access keys: add at least one [[key]]".into());
        }
        Ok(Keyring { keys })
    }
}

/// `arn:<partition>:(iam|sts)::<account>:<something>`.
fn principal_of(arn: &str, account: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "iam" | "sts", "", acct, rest]
            if partition.starts_with("aws") && *acct == account && !rest.is_empty())
}

/// Largest body the front door reads to verify a signature: CreateFunction's limit, the
/// largest of any operation (each handler then applies its own).
const BODY_LIMIT: usize = 70_167_211;

/// How long a code link from GetFunction stays valid (as AWS's presigned S3 URLs do).
const CODE_LINK_VALIDITY: Duration = Duration::from_secs(600);

/// The state of server mode's front door.
#[derive(Debug)]
pub struct Front {
    keys: HashMap<String, Key>,
    region: String,
    /// The made-up key that signs code links, and may only download code.
    code_key: (String, Secret),
}

impl Front {
    pub fn new(keyring: &Keyring, scope: &Scope) -> Front {
        let mut keys: HashMap<String, Key> = keyring
            .keys
            .iter()
            .map(|(id, k)| {
                (
                    id.clone(),
                    Key {
                        secret: k.secret.clone(),
                        caller: k.caller.clone(),
                    },
                )
            })
            .collect();
        // A fresh key per process: links die with the server, and nobody can know the secret.
        let id = format!(
            "INVOKDCODE{}",
            uuid::Uuid::new_v4().simple().to_string()[..10].to_ascii_uppercase()
        );
        let secret = Secret(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ));
        let caller = Caller {
            access_key_id: id.clone(),
            account_id: scope.account_id.clone(),
            arn: format!(
                "arn:{}:iam::{}:user/invokd-code-links",
                scope.partition, scope.account_id
            ),
            org_id: None,
            policy: IdentityPolicy {
                statements: vec![IdentityStatement {
                    effect: Effect::Allow,
                    actions: vec!["invokd:DownloadCode".into()],
                    resources: vec!["*".into()],
                }],
            },
        };
        keys.insert(
            id.clone(),
            Key {
                secret: secret.clone(),
                caller: Arc::new(caller),
            },
        );
        Front {
            keys,
            region: scope.region.clone(),
            code_key: (id, secret),
        }
    }

    /// A link to download a code package, presigned so that it works without credentials for
    /// [`CODE_LINK_VALIDITY`], as GetFunction's `Code.Location` does on AWS.
    pub fn code_link(&self, host: &str, path: &str) -> String {
        let (id, secret) = &self.code_key;
        sigv4::presign_get(
            id,
            secret.expose(),
            &self.region,
            host,
            path,
            SystemTime::now(),
            CODE_LINK_VALIDITY,
        )
        .unwrap_or_else(|| format!("http://{host}{path}"))
    }

    /// Authenticates and authorises a request; returns it (with its body) for its handler.
    async fn admit(&self, engine: &Engine, req: Request) -> Result<Request, ApiError> {
        let (parts, body) = req.into_parts();
        let claim = sigv4::Claim::parse(&parts.uri, &parts.headers)?;
        let key = self
            .keys
            .get(&claim.access_key_id)
            .ok_or(AuthError::UnknownKey)?;
        claim.check_scope(&self.region)?;
        claim.check_time(SystemTime::now())?;
        let operation = operations::classify(&parts.method, &parts.uri);
        let name = operation.as_ref().map_or("this", |o| o.name);
        let bytes = extract::body(&parts.headers, body, BODY_LIMIT, name).await?;
        if let Err(e) = sigv4::verify(
            &claim,
            key.secret.expose(),
            &parts.method,
            &parts.uri,
            &parts.headers,
            &bytes,
        ) {
            tracing::debug!(access_key_id = %claim.access_key_id, error = ?e, "signature refused");
            return Err(e.into());
        }
        let Some(operation) = operation else {
            return Err(ApiError::UnknownOperation);
        };
        let target = operation.resource.target(engine.scope(), &bytes);
        let access = Access {
            action: operation.action,
            resource: &target.arn,
            owner_account: &target.owner_account,
        };
        let caller = &key.caller;
        if let Err(e) = engine.authorize(caller, &access, target.policy.as_ref()) {
            tracing::info!(
                access_key_id = %caller.access_key_id,
                principal = %caller.arn,
                operation = operation.name,
                resource = %target.arn,
                "access denied"
            );
            return Err(e.into());
        }
        tracing::debug!(
            access_key_id = %caller.access_key_id,
            principal = %caller.arn,
            operation = operation.name,
            "authorised"
        );
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }
}

/// The authentication layer of server mode (installed only then).
pub(crate) async fn authenticate(State(app): State<App>, req: Request, next: Next) -> Response {
    let Some(front) = app.front.clone() else {
        return next.run(req).await;
    };
    match front.admit(&app.engine, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str) -> KeySpec {
        KeySpec {
            access_key_id: id.into(),
            secret_access_key: Secret::new("s3cr3t"),
            account_id: "111111111111".into(),
            principal: "arn:aws:iam::111111111111:user/alice".into(),
            org_id: None,
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#.into(),
        }
    }

    #[test]
    fn keyrings_say_what_is_wrong_with_a_key() {
        assert!(Keyring::new(vec![spec("AKIAALICE")]).is_ok());
        let dup = Keyring::new(vec![spec("AKIAALICE"), spec("AKIAALICE")]).unwrap_err();
        assert!(dup.contains("appears twice"), "{dup}");
        let mut other = spec("AKIAALICE");
        other.principal = "arn:aws:iam::222222222222:user/alice".into();
        let e = Keyring::new(vec![other]).unwrap_err();
        assert!(
            e.contains("must be an IAM ARN of account 111111111111"),
            "{e}"
        );
        let mut bad_policy = spec("AKIAALICE");
        bad_policy.policy = "{}".into();
        let e = Keyring::new(vec![bad_policy]).unwrap_err();
        assert!(e.starts_with("access key \"AKIAALICE\": policy:"), "{e}");
        let mut slash = spec("AKIA/ALICE");
        slash.access_key_id = "AKIA/ALICE".into();
        assert!(Keyring::new(vec![slash]).is_err());
        assert!(Keyring::new(vec![]).is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = spec("AKIAALICE");
        let shown = format!("{s:?} {:?}", Keyring::new(vec![s.clone()]).unwrap());
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("AKIAALICE"));
    }

    #[test]
    fn code_links_verify_with_the_code_key_only() {
        let keyring = Keyring::new(vec![spec("AKIAALICE")]).unwrap();
        let front = Front::new(&keyring, &Scope::new("us-east-1", "111111111111"));
        let link = front.code_link("127.0.0.1:9001", "/_invokd/code/abc.zip");
        let uri: http::Uri = link.parse().unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "127.0.0.1:9001".parse().unwrap());
        let claim = sigv4::Claim::parse(&uri, &headers).unwrap();
        let key = &front.keys[&claim.access_key_id];
        assert_eq!(
            key.caller.policy.statements[0].actions,
            ["invokd:DownloadCode"]
        );
        assert_eq!(
            sigv4::verify(
                &claim,
                key.secret.expose(),
                &http::Method::GET,
                &uri,
                &headers,
                b""
            ),
            Ok(())
        );
        assert!(!format!("{front:?}").contains(key.secret.expose()));
    }
}
