//! The one table of what every request is, for authorisation: the AWS operation a method and
//! path name, the IAM action it needs and the resource it acts on.
//!
//! It mirrors the routes of [`crate::router`]; a request this table does not know is refused as
//! an unknown operation in server mode, so a route added without a row here fails closed (and
//! `every_route_has_an_action` below fails). Actions and resources follow AWS's "Actions,
//! resources, and condition keys for AWS Lambda": the action is the operation's name, except
//! that Invoke, InvokeWithResponseStream and InvokeAsync all need `lambda:InvokeFunction`
//! (spec §7.1); operations on a version or alias act on its qualified ARN, the others on the
//! function's ARN; ListFunctions and GetAccountSettings act on `*`.

use http::{Method, Uri};
use invokd_engine::PolicyTarget;
use invokd_model::{FunctionRef, NameShape, Scope};

/// One request, as authorisation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The AWS operation (for logs and messages).
    pub name: &'static str,
    /// The IAM action it needs.
    pub action: &'static str,
    pub resource: Resource,
}

/// What an operation acts on, before it is turned into an ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// No particular resource (`*`); owned by this server's account.
    Any,
    /// The function named in the path, as a whole (a qualifier in the name is not part of it).
    Function(String),
    /// The function, version or alias named in the path: qualified by the name (`f:live`) or
    /// the `Qualifier` parameter.
    Qualified {
        name: String,
        qualifier: Option<String>,
    },
    /// The function named by the body's `FunctionName` (CreateFunction).
    FunctionInBody,
}

/// A resource as the engine's decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub arn: String,
    pub owner_account: String,
    /// Whose resource-based policy applies (a function's, version's or alias's).
    pub policy: Option<PolicyTarget>,
}

/// Percent-decoded path segments (`/a/b/` is `["a", "b", ""]`), as the router's captures are.
fn segments(uri: &Uri) -> Vec<String> {
    uri.path()
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

fn query(uri: &Uri, name: &str) -> Option<String> {
    uri.query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// Classifies a request; `None` for a method and path no operation has.
pub fn classify(method: &Method, uri: &Uri) -> Option<Operation> {
    let segs = segments(uri);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let qualifier = query(uri, "Qualifier");
    let qualified = |name: &str| Resource::Qualified {
        name: name.to_owned(),
        qualifier: qualifier.clone(),
    };
    let function = |name: &str| Resource::Function(name.to_owned());
    let m = method.clone();
    let (name, action, resource) = match (m, s.as_slice()) {
        (Method::POST, ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => (
            "CreateFunction",
            "lambda:CreateFunction",
            Resource::FunctionInBody,
        ),
        (Method::GET, ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
            ("ListFunctions", "lambda:ListFunctions", Resource::Any)
        }
        (Method::GET, ["2015-03-31", "functions", n]) => {
            ("GetFunction", "lambda:GetFunction", qualified(n))
        }
        (Method::DELETE, ["2015-03-31", "functions", n]) => {
            ("DeleteFunction", "lambda:DeleteFunction", qualified(n))
        }
        (Method::GET, ["2015-03-31", "functions", n, "configuration"]) => (
            "GetFunctionConfiguration",
            "lambda:GetFunctionConfiguration",
            qualified(n),
        ),
        (Method::PUT, ["2015-03-31", "functions", n, "configuration"]) => (
            "UpdateFunctionConfiguration",
            "lambda:UpdateFunctionConfiguration",
            function(n),
        ),
        (Method::PUT, ["2015-03-31", "functions", n, "code"]) => (
            "UpdateFunctionCode",
            "lambda:UpdateFunctionCode",
            function(n),
        ),
        (Method::POST, ["2015-03-31", "functions", n, "invocations"]) => {
            ("Invoke", "lambda:InvokeFunction", qualified(n))
        }
        (Method::POST, ["2015-03-31", "functions", n, "versions"]) => {
            ("PublishVersion", "lambda:PublishVersion", function(n))
        }
        (Method::GET, ["2015-03-31", "functions", n, "versions"]) => (
            "ListVersionsByFunction",
            "lambda:ListVersionsByFunction",
            function(n),
        ),
        (Method::POST, ["2015-03-31", "functions", n, "aliases"]) => {
            ("CreateAlias", "lambda:CreateAlias", function(n))
        }
        (Method::GET, ["2015-03-31", "functions", n, "aliases"]) => {
            ("ListAliases", "lambda:ListAliases", function(n))
        }
        (Method::GET, ["2015-03-31", "functions", n, "aliases", _]) => {
            ("GetAlias", "lambda:GetAlias", function(n))
        }
        (Method::PUT, ["2015-03-31", "functions", n, "aliases", _]) => {
            ("UpdateAlias", "lambda:UpdateAlias", function(n))
        }
        (Method::DELETE, ["2015-03-31", "functions", n, "aliases", _]) => {
            ("DeleteAlias", "lambda:DeleteAlias", function(n))
        }
        (Method::POST, ["2015-03-31", "functions", n, "policy"]) => {
            ("AddPermission", "lambda:AddPermission", qualified(n))
        }
        (Method::GET, ["2015-03-31", "functions", n, "policy"]) => {
            ("GetPolicy", "lambda:GetPolicy", qualified(n))
        }
        (Method::DELETE, ["2015-03-31", "functions", n, "policy", _]) => {
            ("RemovePermission", "lambda:RemovePermission", qualified(n))
        }
        (
            Method::GET,
            ["2016-08-19", "account-settings"] | ["2016-08-19", "account-settings", ""],
        ) => (
            "GetAccountSettings",
            "lambda:GetAccountSettings",
            Resource::Any,
        ),
        (Method::GET, ["2017-03-31", "tags", arn]) => {
            ("ListTags", "lambda:ListTags", function(arn))
        }
        (Method::POST, ["2017-03-31", "tags", arn]) => {
            ("TagResource", "lambda:TagResource", function(arn))
        }
        (Method::DELETE, ["2017-03-31", "tags", arn]) => {
            ("UntagResource", "lambda:UntagResource", function(arn))
        }
        (Method::PUT, ["2019-09-25", "functions", n, "event-invoke-config"]) => (
            "PutFunctionEventInvokeConfig",
            "lambda:PutFunctionEventInvokeConfig",
            qualified(n),
        ),
        (Method::POST, ["2019-09-25", "functions", n, "event-invoke-config"]) => (
            "UpdateFunctionEventInvokeConfig",
            "lambda:UpdateFunctionEventInvokeConfig",
            qualified(n),
        ),
        (Method::GET, ["2019-09-25", "functions", n, "event-invoke-config"]) => (
            "GetFunctionEventInvokeConfig",
            "lambda:GetFunctionEventInvokeConfig",
            qualified(n),
        ),
        (Method::DELETE, ["2019-09-25", "functions", n, "event-invoke-config"]) => (
            "DeleteFunctionEventInvokeConfig",
            "lambda:DeleteFunctionEventInvokeConfig",
            qualified(n),
        ),
        (Method::GET, ["2019-09-25", "functions", n, "event-invoke-config", "list"]) => (
            "ListFunctionEventInvokeConfigs",
            "lambda:ListFunctionEventInvokeConfigs",
            function(n),
        ),
        (Method::PUT, ["2017-10-31", "functions", n, "concurrency"]) => (
            "PutFunctionConcurrency",
            "lambda:PutFunctionConcurrency",
            function(n),
        ),
        (Method::DELETE, ["2017-10-31", "functions", n, "concurrency"]) => (
            "DeleteFunctionConcurrency",
            "lambda:DeleteFunctionConcurrency",
            function(n),
        ),
        (Method::GET, ["2019-09-30", "functions", n, "concurrency"]) => (
            "GetFunctionConcurrency",
            "lambda:GetFunctionConcurrency",
            function(n),
        ),
        (Method::PUT, ["2019-09-30", "functions", n, "provisioned-concurrency"]) => (
            "PutProvisionedConcurrencyConfig",
            "lambda:PutProvisionedConcurrencyConfig",
            qualified(n),
        ),
        (Method::GET, ["2019-09-30", "functions", n, "provisioned-concurrency"])
            if query(uri, "List").as_deref() == Some("ALL") =>
        {
            (
                "ListProvisionedConcurrencyConfigs",
                "lambda:ListProvisionedConcurrencyConfigs",
                function(n),
            )
        }
        (Method::GET, ["2019-09-30", "functions", n, "provisioned-concurrency"]) => (
            "GetProvisionedConcurrencyConfig",
            "lambda:GetProvisionedConcurrencyConfig",
            qualified(n),
        ),
        (Method::DELETE, ["2019-09-30", "functions", n, "provisioned-concurrency"]) => (
            "DeleteProvisionedConcurrencyConfig",
            "lambda:DeleteProvisionedConcurrencyConfig",
            qualified(n),
        ),
        (Method::PUT, ["2024-08-31", "functions", n, "recursion-config"]) => (
            "PutFunctionRecursionConfig",
            "lambda:PutFunctionRecursionConfig",
            function(n),
        ),
        (Method::GET, ["2024-08-31", "functions", n, "recursion-config"]) => (
            "GetFunctionRecursionConfig",
            "lambda:GetFunctionRecursionConfig",
            function(n),
        ),
        (
            Method::POST,
            [
                "2021-11-15",
                "functions",
                n,
                "response-streaming-invocations",
            ],
        ) => (
            "InvokeWithResponseStream",
            "lambda:InvokeFunction",
            qualified(n),
        ),
        (
            Method::POST,
            ["2014-11-13", "functions", n, "invoke-async"]
            | ["2014-11-13", "functions", n, "invoke-async", ""],
        ) => ("InvokeAsync", "lambda:InvokeFunction", qualified(n)),
        // invokd's own endpoints: the code links GetFunction hands out (presigned by invokd),
        // and the async-event tools of `invokd events`.
        (Method::GET, ["_invokd", "code", _]) => {
            ("DownloadCode", "invokd:DownloadCode", Resource::Any)
        }
        (Method::GET, ["_invokd", "events"]) => ("ListEvents", "invokd:ListEvents", Resource::Any),
        (Method::POST, ["_invokd", "dead-letters", _, "redrive"]) => (
            "RedriveDeadLetter",
            "invokd:RedriveDeadLetter",
            Resource::Any,
        ),
        _ => return None,
    };
    Some(Operation {
        name,
        action,
        resource,
    })
}

/// The `FunctionName` member of a CreateFunction body, if it has one.
fn function_name_in(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(rename = "FunctionName")]
        function_name: Option<String>,
    }
    serde_json::from_slice::<Named>(body)
        .ok()
        .and_then(|n| n.function_name)
}

impl Resource {
    /// The ARN this resource has in `scope`, its owner and whose policy governs it.
    ///
    /// A name that is a full or partial ARN keeps its region and account (another account's
    /// function is then another account's resource); a name that does not parse is still
    /// turned into an ARN, so that the caller's right to the call is decided before the
    /// operation reports the name as invalid.
    pub fn target(&self, scope: &Scope, body: &[u8]) -> Target {
        let (raw, param, qualifiable) = match self {
            Resource::Any => {
                return Target {
                    arn: "*".into(),
                    owner_account: scope.account_id.clone(),
                    policy: None,
                };
            }
            Resource::Function(name) => (name.clone(), None, false),
            Resource::Qualified { name, qualifier } => (name.clone(), qualifier.clone(), true),
            Resource::FunctionInBody => (function_name_in(body).unwrap_or_default(), None, false),
        };
        let (region, account, name, qualifier) =
            match FunctionRef::parse(&raw, NameShape::Namespaced) {
                Ok(r) => {
                    let qualifier = if qualifiable {
                        param.or(r.qualifier)
                    } else {
                        None
                    };
                    (r.region, r.account, r.name, qualifier)
                }
                Err(_) => (None, None, raw, param),
            };
        let region = region.unwrap_or_else(|| scope.region.clone());
        let owner_account = account.unwrap_or_else(|| scope.account_id.clone());
        let mut arn = format!(
            "arn:{}:lambda:{region}:{owner_account}:function:{name}",
            scope.partition
        );
        if let Some(q) = &qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        Target {
            arn,
            owner_account,
            policy: Some(PolicyTarget {
                function: name,
                qualifier,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, path: &str) -> Option<Operation> {
        classify(&method, &path.parse().unwrap())
    }

    fn target(method: Method, path: &str) -> Target {
        let scope = Scope::new("us-east-1", "111111111111");
        op(method, path).unwrap().resource.target(&scope, b"")
    }

    /// Every route of the router, with the operation it is.
    const ROUTES: &[(&str, &str, &str)] = &[
        ("POST", "/2015-03-31/functions", "CreateFunction"),
        ("POST", "/2015-03-31/functions/", "CreateFunction"),
        ("GET", "/2015-03-31/functions", "ListFunctions"),
        ("GET", "/2015-03-31/functions/", "ListFunctions"),
        ("GET", "/2015-03-31/functions/f", "GetFunction"),
        ("DELETE", "/2015-03-31/functions/f", "DeleteFunction"),
        (
            "GET",
            "/2015-03-31/functions/f/configuration",
            "GetFunctionConfiguration",
        ),
        (
            "PUT",
            "/2015-03-31/functions/f/configuration",
            "UpdateFunctionConfiguration",
        ),
        ("PUT", "/2015-03-31/functions/f/code", "UpdateFunctionCode"),
        ("POST", "/2015-03-31/functions/f/invocations", "Invoke"),
        ("POST", "/2015-03-31/functions/f/versions", "PublishVersion"),
        (
            "GET",
            "/2015-03-31/functions/f/versions",
            "ListVersionsByFunction",
        ),
        ("POST", "/2015-03-31/functions/f/aliases", "CreateAlias"),
        ("GET", "/2015-03-31/functions/f/aliases", "ListAliases"),
        ("GET", "/2015-03-31/functions/f/aliases/a", "GetAlias"),
        ("PUT", "/2015-03-31/functions/f/aliases/a", "UpdateAlias"),
        ("DELETE", "/2015-03-31/functions/f/aliases/a", "DeleteAlias"),
        ("POST", "/2015-03-31/functions/f/policy", "AddPermission"),
        ("GET", "/2015-03-31/functions/f/policy", "GetPolicy"),
        (
            "DELETE",
            "/2015-03-31/functions/f/policy/s",
            "RemovePermission",
        ),
        ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
        ("GET", "/2016-08-19/account-settings/", "GetAccountSettings"),
        (
            "GET",
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A111111111111%3Afunction%3Af",
            "ListTags",
        ),
        ("POST", "/2017-03-31/tags/arn", "TagResource"),
        ("DELETE", "/2017-03-31/tags/arn", "UntagResource"),
        (
            "PUT",
            "/2019-09-25/functions/f/event-invoke-config",
            "PutFunctionEventInvokeConfig",
        ),
        (
            "POST",
            "/2019-09-25/functions/f/event-invoke-config",
            "UpdateFunctionEventInvokeConfig",
        ),
        (
            "GET",
            "/2019-09-25/functions/f/event-invoke-config",
            "GetFunctionEventInvokeConfig",
        ),
        (
            "DELETE",
            "/2019-09-25/functions/f/event-invoke-config",
            "DeleteFunctionEventInvokeConfig",
        ),
        (
            "GET",
            "/2019-09-25/functions/f/event-invoke-config/list",
            "ListFunctionEventInvokeConfigs",
        ),
        (
            "PUT",
            "/2017-10-31/functions/f/concurrency",
            "PutFunctionConcurrency",
        ),
        (
            "DELETE",
            "/2017-10-31/functions/f/concurrency",
            "DeleteFunctionConcurrency",
        ),
        (
            "GET",
            "/2019-09-30/functions/f/concurrency",
            "GetFunctionConcurrency",
        ),
        (
            "PUT",
            "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1",
            "PutProvisionedConcurrencyConfig",
        ),
        (
            "GET",
            "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1",
            "GetProvisionedConcurrencyConfig",
        ),
        (
            "GET",
            "/2019-09-30/functions/f/provisioned-concurrency?List=ALL",
            "ListProvisionedConcurrencyConfigs",
        ),
        (
            "DELETE",
            "/2019-09-30/functions/f/provisioned-concurrency?Qualifier=1",
            "DeleteProvisionedConcurrencyConfig",
        ),
        (
            "PUT",
            "/2024-08-31/functions/f/recursion-config",
            "PutFunctionRecursionConfig",
        ),
        (
            "GET",
            "/2024-08-31/functions/f/recursion-config",
            "GetFunctionRecursionConfig",
        ),
        (
            "POST",
            "/2021-11-15/functions/f/response-streaming-invocations",
            "InvokeWithResponseStream",
        ),
        (
            "POST",
            "/2014-11-13/functions/f/invoke-async",
            "InvokeAsync",
        ),
        (
            "POST",
            "/2014-11-13/functions/f/invoke-async/",
            "InvokeAsync",
        ),
        ("GET", "/_invokd/code/abc.zip", "DownloadCode"),
        ("GET", "/_invokd/events", "ListEvents"),
        (
            "POST",
            "/_invokd/dead-letters/3/redrive",
            "RedriveDeadLetter",
        ),
    ];

    #[test]
    fn every_route_has_an_action() {
        for (method, path, name) in ROUTES {
            let got = op(method.parse().unwrap(), path)
                .unwrap_or_else(|| panic!("{method} {path} is not classified"));
            assert_eq!(got.name, *name, "{method} {path}");
            let expected = match *name {
                "Invoke" | "InvokeWithResponseStream" | "InvokeAsync" => {
                    "lambda:InvokeFunction".to_owned()
                }
                "DownloadCode" | "ListEvents" | "RedriveDeadLetter" => format!("invokd:{name}"),
                other => format!("lambda:{other}"),
            };
            assert_eq!(got.action, expected, "{method} {path}");
        }
    }

    #[test]
    fn the_table_and_the_router_agree() {
        // Every route of the router is in ROUTES: read the routes out of lib.rs.
        let lib = include_str!("../lib.rs");
        let routes: Vec<&str> = lib
            .split(".route(")
            .skip(1)
            .filter_map(|rest| rest.split('"').nth(1))
            .collect();
        assert!(routes.len() > 20, "{routes:?}");
        for route in routes {
            let sample = route
                .replace("{name}", "f")
                .replace("{alias}", "a")
                .replace("{sid}", "s")
                .replace("{arn}", "arn")
                .replace("{file}", "abc.zip")
                .replace("{id}", "3");
            assert!(
                ROUTES
                    .iter()
                    .any(|(_, p, _)| p.split('?').next() == Some(sample.as_str())),
                "route {route} has no row in ROUTES (and so maybe none in classify)"
            );
        }
    }

    #[test]
    fn unknown_methods_and_paths_are_not_operations() {
        assert_eq!(op(Method::PATCH, "/2015-03-31/functions/f"), None);
        assert_eq!(op(Method::GET, "/2015-03-31/functions/f/nothing"), None);
        assert_eq!(op(Method::GET, "/"), None);
    }

    #[test]
    fn resources_are_qualified_where_the_operation_addresses_a_version_or_alias() {
        let t = target(
            Method::POST,
            "/2015-03-31/functions/f/invocations?Qualifier=live",
        );
        assert_eq!(
            t.arn,
            "arn:aws:lambda:us-east-1:111111111111:function:f:live"
        );
        assert_eq!(
            t.policy,
            Some(PolicyTarget {
                function: "f".into(),
                qualifier: Some("live".into())
            })
        );
        let t = target(Method::POST, "/2015-03-31/functions/f%3A1/invocations");
        assert_eq!(t.arn, "arn:aws:lambda:us-east-1:111111111111:function:f:1");
        let t = target(Method::PUT, "/2015-03-31/functions/f/code");
        assert_eq!(t.arn, "arn:aws:lambda:us-east-1:111111111111:function:f");
        let t = target(Method::GET, "/2015-03-31/functions/");
        assert_eq!((t.arn.as_str(), t.policy), ("*", None));
    }

    #[test]
    fn arns_keep_their_account() {
        let t = target(
            Method::POST,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A222222222222%3Afunction%3Ag/invocations",
        );
        assert_eq!(t.arn, "arn:aws:lambda:us-east-1:222222222222:function:g");
        assert_eq!(t.owner_account, "222222222222");
        let t = target(
            Method::GET,
            "/2017-03-31/tags/arn%3Aaws%3Alambda%3Aus-east-1%3A111111111111%3Afunction%3Af",
        );
        assert_eq!(t.arn, "arn:aws:lambda:us-east-1:111111111111:function:f");
    }

    #[test]
    fn create_function_acts_on_the_function_in_its_body() {
        let scope = Scope::new("us-east-1", "111111111111");
        let op = op(Method::POST, "/2015-03-31/functions").unwrap();
        let t = op.resource.target(
            &scope,
            br#"{"FunctionName":"new-fn","Code":{"ZipFile":"UEs="}}"#,
        );
        assert_eq!(
            t.arn,
            "arn:aws:lambda:us-east-1:111111111111:function:new-fn"
        );
    }
}
