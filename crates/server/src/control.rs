//! Control-plane handlers: one per AWS operation, each extract -> convert -> engine -> convert.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use invokd_engine::{AliasView, EventConfigView, VersionView};
use invokd_model::name::NameShape;
use invokd_model::spec::Page;
use invokd_model::{Constraint, FieldViolation, VersionId};
use invokd_wire::control::{
    AccountLimit, AccountSettings, AccountUsage, AliasConfiguration, AliasRequest, Concurrency,
    CreateFunctionRequest, EventInvokeConfigRequest, FunctionCodeLocation, FunctionConfiguration,
    FunctionEventInvokeConfig, GetFunctionResponse, ListAliasesResponse,
    ListEventInvokeConfigsResponse, ListFunctionsResponse, ListTagsResponse, ListVersionsResponse,
    TagResourceRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest, View,
};
use invokd_wire::invoke::{function_and_qualifier, max_items};

use crate::App;
use crate::error::ApiError;
use crate::extract::{self, param, query};

/// CreateFunction accepts up to this many bytes of request (AWS's figure).
const CREATE_FUNCTION_LIMIT: usize = 70_167_211;
const CONTROL_LIMIT: usize = 1 << 20;

fn configuration(app: &App, view: &VersionView, kind: View) -> FunctionConfiguration {
    FunctionConfiguration::render(
        app.engine.scope(),
        &view.function,
        view.record(),
        kind,
        view.alias.as_deref(),
    )
}

pub async fn create_function(
    State(app): State<App>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: CreateFunctionRequest =
        extract::json(&headers, body, CREATE_FUNCTION_LIMIT, "CreateFunction").await?;
    let view = app.engine.create_function(req.into_input()?).await?;
    let kind = if view.version == VersionId::Latest {
        View::Detail
    } else {
        View::DetailUnqualified
    };
    Ok((StatusCode::CREATED, Json(configuration(&app, &view, kind))).into_response())
}

pub async fn get_function(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    let view = app.engine.get_function(&function, qualifier.as_deref())?;
    let host = extract::header(&headers, "host")
        .map(str::to_owned)
        .unwrap_or_else(|| app.local_addr.to_string());
    let reserved = view.function.reserved_concurrency;
    let tags = (!view.function.tags.is_empty()).then(|| view.function.tags.clone());
    let path = format!("/_invokd/code/{}.zip", view.record().code.sha256_hex);
    // In server mode the link is presigned, like the S3 URL AWS hands out.
    let location = match &app.front {
        Some(front) => front.code_link(&host, &path),
        None => format!("http://{host}{path}"),
    };
    let code = FunctionCodeLocation {
        repository_type: "S3",
        location,
    };
    let body = GetFunctionResponse {
        configuration: configuration(&app, &view, View::Detail),
        code,
        tags,
        concurrency: reserved.map(|n| Concurrency {
            reserved_concurrent_executions: n,
        }),
    };
    Ok(Json(body).into_response())
}

pub async fn get_function_configuration(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    let view = app.engine.get_function(&function, qualifier.as_deref())?;
    Ok(Json(configuration(&app, &view, View::Detail)).into_response())
}

pub async fn list_functions(State(app): State<App>, uri: Uri) -> Result<Response, ApiError> {
    let q = query(&uri);
    let all = match param(&q, "FunctionVersion") {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::Wire(invokd_wire::Error::Validation(
                FieldViolation::new("functionVersion", other, Constraint::Enum(&["ALL"])).into(),
            )));
        }
    };
    let page = Page {
        marker: param(&q, "Marker").map(str::to_owned),
        max_items: max_items(param(&q, "MaxItems"))?,
    };
    let (views, next_marker) = app.engine.list_functions(all, &page)?;
    let kind = if all {
        View::ListingQualified
    } else {
        View::Listing
    };
    let functions = views.iter().map(|v| configuration(&app, v, kind)).collect();
    Ok(Json(ListFunctionsResponse {
        functions,
        next_marker,
    })
    .into_response())
}

pub async fn delete_function(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    app.engine
        .delete_function(&function, qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn update_function_code(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionCodeRequest =
        extract::json(&headers, body, CREATE_FUNCTION_LIMIT, "UpdateFunctionCode").await?;
    let view = app
        .engine
        .update_function_code(req.into_input(&name)?)
        .await?;
    // With Publish the new version is shown under its qualified ARN (unlike CreateFunction).
    Ok(Json(configuration(&app, &view, View::Detail)).into_response())
}

pub async fn update_function_configuration(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: UpdateFunctionConfigurationRequest =
        extract::json(&headers, body, CONTROL_LIMIT, "UpdateFunctionConfiguration").await?;
    let view = app
        .engine
        .update_function_configuration(req.into_input(&name)?)
        .await?;
    Ok(Json(configuration(&app, &view, View::Detail)).into_response())
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PublishVersionRequest {
    code_sha256: Option<String>,
    description: Option<String>,
    revision_id: Option<String>,
}

pub async fn publish_version(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: PublishVersionRequest =
        extract::json(&headers, body, CONTROL_LIMIT, "PublishVersion").await?;
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    let view = app
        .engine
        .publish_version(
            &function,
            req.code_sha256.as_deref(),
            req.description,
            req.revision_id.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(configuration(&app, &view, View::Detail)),
    )
        .into_response())
}

pub async fn list_versions_by_function(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (function, _) = function_and_qualifier(&name, None, NameShape::Namespaced)?;
    let page = Page {
        marker: param(&q, "Marker").map(str::to_owned),
        max_items: max_items(param(&q, "MaxItems"))?,
    };
    let (views, next_marker) = app.engine.list_versions(&function, &page)?;
    let versions = views
        .iter()
        .map(|v| configuration(&app, v, View::ListingQualified))
        .collect();
    Ok(Json(ListVersionsResponse {
        versions,
        next_marker,
    })
    .into_response())
}

pub async fn get_account_settings(State(app): State<App>) -> Response {
    let s = app.engine.account_settings();
    Json(AccountSettings {
        account_limit: AccountLimit {
            total_code_size: s.total_code_size_limit,
            code_size_unzipped: s.code_size_unzipped,
            code_size_zipped: s.code_size_zipped,
            concurrent_executions: s.concurrent_executions,
            unreserved_concurrent_executions: s.unreserved_concurrent_executions,
        },
        account_usage: AccountUsage {
            total_code_size: s.total_code_size,
            function_count: s.function_count,
        },
    })
    .into_response()
}

pub async fn list_tags(
    State(app): State<App>,
    Path(arn): Path<String>,
) -> Result<Response, ApiError> {
    let tags = app.engine.list_tags(&arn)?;
    Ok(Json(ListTagsResponse { tags }).into_response())
}

pub async fn tag_resource(
    State(app): State<App>,
    Path(arn): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: TagResourceRequest =
        extract::json(&headers, body, CONTROL_LIMIT, "TagResource").await?;
    let Some(tags) = req.tags else {
        return Err(ApiError::Wire(invokd_wire::Error::Validation(
            FieldViolation::null("tags").into(),
        )));
    };
    app.engine.tag_resource(&arn, tags).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn untag_resource(
    State(app): State<App>,
    Path(arn): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let keys: Vec<String> = query(&uri)
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect();
    if keys.is_empty() {
        return Err(ApiError::Wire(invokd_wire::Error::Validation(
            FieldViolation::null("tagKeys").into(),
        )));
    }
    app.engine.untag_resource(&arn, &keys).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Serves a stored package: the `Code.Location` GetFunction hands out.
pub async fn download_code(
    State(app): State<App>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let sha = file.strip_suffix(".zip").unwrap_or(&file);
    let path = app
        .engine
        .code_package(sha)
        .ok_or_else(|| ApiError::NotFound("The specified key does not exist.".into()))?;
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|_| ApiError::NotFound("The specified key does not exist.".into()))?;
    Ok(([(http::header::CONTENT_TYPE, "application/zip")], bytes).into_response())
}

fn alias_configuration(app: &App, view: &AliasView) -> AliasConfiguration {
    AliasConfiguration::render(app.engine.scope(), &view.function, view.alias())
}

pub async fn create_alias(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: AliasRequest = extract::json(&headers, body, CONTROL_LIMIT, "CreateAlias").await?;
    let view = app
        .engine
        .create_alias(req.into_input(&name, None)?)
        .await?;
    Ok((StatusCode::CREATED, Json(alias_configuration(&app, &view))).into_response())
}

pub async fn get_alias(
    State(app): State<App>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    let view = app.engine.get_alias(&function, &alias)?;
    Ok(Json(alias_configuration(&app, &view)).into_response())
}

pub async fn update_alias(
    State(app): State<App>,
    Path((name, alias)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: AliasRequest = extract::json(&headers, body, CONTROL_LIMIT, "UpdateAlias").await?;
    let view = app
        .engine
        .update_alias(req.into_input(&name, Some(&alias))?)
        .await?;
    Ok(Json(alias_configuration(&app, &view)).into_response())
}

pub async fn delete_alias(
    State(app): State<App>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    app.engine.delete_alias(&function, &alias).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_aliases(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    let version = match param(&q, "FunctionVersion") {
        None => None,
        Some("$LATEST") => Some(VersionId::Latest),
        Some(v) => match v.parse::<u64>() {
            Ok(n) => Some(VersionId::Published(n)),
            Err(_) => {
                return Err(ApiError::Wire(invokd_wire::Error::Validation(
                    FieldViolation::new(
                        "functionVersion",
                        v,
                        Constraint::Pattern(r"(\$LATEST(\.PUBLISHED)?|[0-9]+)"),
                    )
                    .into(),
                )));
            }
        },
    };
    let page = Page {
        marker: param(&q, "Marker").map(str::to_owned),
        max_items: max_items(param(&q, "MaxItems"))?,
    };
    let (views, next_marker) = app.engine.list_aliases(&function, version, &page)?;
    let aliases = views.iter().map(|v| alias_configuration(&app, v)).collect();
    Ok(Json(ListAliasesResponse {
        aliases,
        next_marker,
    })
    .into_response())
}

fn event_config_json(view: &EventConfigView) -> FunctionEventInvokeConfig {
    FunctionEventInvokeConfig::render(&view.function_arn, &view.config)
}

async fn put_or_update_event_invoke_config(
    app: App,
    name: String,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    replace: bool,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let op = if replace {
        "PutFunctionEventInvokeConfig"
    } else {
        "UpdateFunctionEventInvokeConfig"
    };
    let req: EventInvokeConfigRequest = extract::json(&headers, body, CONTROL_LIMIT, op).await?;
    let view = app
        .engine
        .put_event_invoke_config(req.into_input(&name, param(&q, "Qualifier"))?, replace)
        .await?;
    Ok(Json(event_config_json(&view)).into_response())
}

pub async fn put_event_invoke_config(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    put_or_update_event_invoke_config(app, name, uri, headers, body, true).await
}

pub async fn update_event_invoke_config(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    put_or_update_event_invoke_config(app, name, uri, headers, body, false).await
}

pub async fn get_event_invoke_config(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    let view = app
        .engine
        .get_event_invoke_config(&function, qualifier.as_deref())?;
    Ok(Json(event_config_json(&view)).into_response())
}

pub async fn delete_event_invoke_config(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    app.engine
        .delete_event_invoke_config(&function, qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_event_invoke_configs(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (function, _) = function_and_qualifier(&name, None, NameShape::Namespaced)?;
    let page = Page {
        marker: param(&q, "Marker").map(str::to_owned),
        max_items: max_items(param(&q, "MaxItems"))?,
    };
    let (views, next_marker) = app.engine.list_event_invoke_configs(&function, &page)?;
    let configs = views.iter().map(event_config_json).collect();
    Ok(Json(ListEventInvokeConfigsResponse {
        function_event_invoke_configs: configs,
        next_marker,
    })
    .into_response())
}

/// `GET /_invokd/events[?function=NAME]`: queued, in-flight and failed asynchronous events.
pub async fn list_events(State(app): State<App>, uri: Uri) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (events, dead) = app.engine.list_events(param(&q, "function")).await?;
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "RequestId": e.request_id,
                "FunctionName": e.function_name,
                "Qualifier": e.qualifier,
                "State": if e.leased { "in-flight" } else { "queued" },
                "EnqueuedAt": invokd_wire::timestamp::format_millis(e.enqueued_at_ms),
                "DueAt": invokd_wire::timestamp::format_millis(e.due_at_ms),
                "Attempts": e.attempts,
                "LastError": e.last_error,
            })
        })
        .collect();
    let dead: Vec<serde_json::Value> = dead
        .iter()
        .map(|d| {
            serde_json::json!({
                "Id": d.id,
                "RequestId": d.request_id,
                "FunctionName": d.function_name,
                "Target": d.target,
                "Error": d.error,
                "FailedAt": invokd_wire::timestamp::format_millis(d.failed_at_ms),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "Events": events, "DeadLetters": dead })).into_response())
}

/// `POST /_invokd/dead-letters/{id}/redrive`: delivers a failed record again.
pub async fn redrive_dead_letter(
    State(app): State<App>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    app.engine.redrive(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn reserved_json(n: Option<u32>) -> invokd_wire::concurrency::ReservedConcurrency {
    invokd_wire::concurrency::ReservedConcurrency {
        reserved_concurrent_executions: n.map(i64::from),
    }
}

pub async fn put_function_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: invokd_wire::concurrency::ReservedConcurrency =
        extract::json(&headers, body, CONTROL_LIMIT, "PutFunctionConcurrency").await?;
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    let n = concurrency_count(
        "reservedConcurrentExecutions",
        req.reserved_concurrent_executions,
        0,
    )?;
    let n = app.engine.put_function_concurrency(&function, n).await?;
    Ok(Json(reserved_json(Some(n))).into_response())
}

pub async fn get_function_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    Ok(Json(reserved_json(
        app.engine.get_function_concurrency(&function)?,
    ))
    .into_response())
}

pub async fn delete_function_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    app.engine.delete_function_concurrency(&function).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn provisioned_json(
    v: &invokd_engine::ProvisionedView,
    with_arn: bool,
) -> invokd_wire::concurrency::ProvisionedConcurrencyConfig {
    invokd_wire::concurrency::ProvisionedConcurrencyConfig {
        function_arn: with_arn.then(|| v.function_arn.clone()),
        requested_provisioned_concurrent_executions: v.requested,
        available_provisioned_concurrent_executions: v.ready,
        allocated_provisioned_concurrent_executions: v.ready,
        status: v.status,
        status_reason: v.status_reason.clone(),
        last_modified: invokd_wire::timestamp::format_millis(v.last_modified_ms),
    }
}

/// The `Qualifier` of the provisioned-concurrency operations (required; `(|[a-zA-Z0-9$_-]+)`).
fn provisioned_qualifier(q: &[(String, String)]) -> Result<String, ApiError> {
    let Some(qualifier) = param(q, "Qualifier") else {
        return Err(ApiError::Wire(invokd_wire::Error::Validation(
            FieldViolation::null("qualifier").into(),
        )));
    };
    let ok = !qualifier.is_empty()
        && qualifier.len() <= 128
        && qualifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"$_-".contains(&b));
    if !ok {
        return Err(ApiError::Wire(invokd_wire::Error::Validation(
            FieldViolation::new(
                "qualifier",
                qualifier,
                Constraint::Pattern("(|[a-zA-Z0-9$_-]+)"),
            )
            .into(),
        )));
    }
    Ok(qualifier.to_owned())
}

pub async fn put_provisioned_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: invokd_wire::concurrency::ProvisionedConcurrencyRequest = extract::json(
        &headers,
        body,
        CONTROL_LIMIT,
        "PutProvisionedConcurrencyConfig",
    )
    .await?;
    let q = query(&uri);
    let qualifier = provisioned_qualifier(&q)?;
    let n = concurrency_count(
        "provisionedConcurrentExecutions",
        req.provisioned_concurrent_executions,
        1,
    )?;
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    let view = app
        .engine
        .put_provisioned_concurrency(&function, &qualifier, n)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(provisioned_json(&view, false))).into_response())
}

pub async fn get_provisioned_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    if param(&q, "List") == Some("ALL") {
        let page = Page {
            marker: param(&q, "Marker").map(str::to_owned),
            max_items: max_items(param(&q, "MaxItems"))?,
        };
        let (views, next_marker) = app.engine.list_provisioned_concurrency(&function, &page)?;
        let configs = views.iter().map(|v| provisioned_json(v, true)).collect();
        return Ok(Json(
            invokd_wire::concurrency::ListProvisionedConcurrencyConfigs {
                provisioned_concurrency_configs: configs,
                next_marker,
            },
        )
        .into_response());
    }
    let qualifier = provisioned_qualifier(&q)?;
    let view = app
        .engine
        .get_provisioned_concurrency(&function, &qualifier)?;
    Ok(Json(provisioned_json(&view, false)).into_response())
}

pub async fn delete_provisioned_concurrency(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let qualifier = provisioned_qualifier(&q)?;
    let (function, _) = function_and_qualifier(&name, None, NameShape::Plain)?;
    app.engine
        .delete_provisioned_concurrency(&function, &qualifier)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RecursionConfig {
    recursive_loop: Option<String>,
}

pub async fn put_recursion_config(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: RecursionConfig =
        extract::json(&headers, body, CONTROL_LIMIT, "PutFunctionRecursionConfig").await?;
    let (function, _) = function_and_qualifier(&name, None, NameShape::Unqualified)?;
    let value = match req.recursive_loop.as_deref() {
        None => {
            return Err(ApiError::Wire(invokd_wire::Error::Validation(
                FieldViolation::null("recursiveLoop").into(),
            )));
        }
        Some(v) => invokd_model::RecursiveLoop::parse(v).ok_or_else(|| {
            ApiError::Wire(invokd_wire::Error::Validation(
                FieldViolation::new(
                    "recursiveLoop",
                    v,
                    Constraint::Enum(invokd_model::RecursiveLoop::VALUES),
                )
                .into(),
            ))
        })?,
    };
    let value = app.engine.put_recursion_config(&function, value).await?;
    Ok(Json(RecursionConfig {
        recursive_loop: Some(value.as_str().to_owned()),
    })
    .into_response())
}

pub async fn get_recursion_config(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (function, _) = function_and_qualifier(&name, None, NameShape::Unqualified)?;
    let value = app.engine.get_recursion_config(&function)?;
    Ok(Json(RecursionConfig {
        recursive_loop: Some(value.as_str().to_owned()),
    })
    .into_response())
}

/// A required count of environments of at least `min`, with AWS's validation errors.
fn concurrency_count(field: &str, value: Option<i64>, min: i64) -> Result<u32, ApiError> {
    let violation = match value {
        None => FieldViolation::null(field),
        Some(n) if n < min => FieldViolation::new(field, n.to_string(), Constraint::MinValue(min)),
        Some(n) => return Ok(u32::try_from(n).unwrap_or(u32::MAX)),
    };
    Err(ApiError::Wire(invokd_wire::Error::Validation(
        violation.into(),
    )))
}
