//! AddPermission, RemovePermission and GetPolicy: the resource-based policy of a function,
//! version or alias.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, Uri};
use invokd_model::NameShape;
use invokd_model::{FieldViolation, Violations};
use invokd_wire::invoke::function_and_qualifier;
use invokd_wire::policy::{
    AddPermissionRequest, AddPermissionResponse, GetPolicyResponse, check_statement_id, policy_len,
    render_policy, render_statement,
};

use crate::App;
use crate::error::ApiError;
use crate::extract::{self, param, query};

const POLICY_LIMIT: usize = 1 << 20;

pub async fn add_permission(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let req: AddPermissionRequest =
        extract::json(&headers, body, POLICY_LIMIT, "AddPermission").await?;
    let q = query(&uri);
    let input = req.into_input(&name, param(&q, "Qualifier"))?;
    let added = app.engine.add_permission(input, policy_len).await?;
    let body = AddPermissionResponse {
        statement: render_statement(&added),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn remove_permission(
    State(app): State<App>,
    Path((name, sid)): Path<(String, String)>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = query(&uri);
    let (function, qualifier) =
        match function_and_qualifier(&name, param(&q, "Qualifier"), NameShape::Namespaced) {
            Ok(parsed) => parsed,
            Err(invokd_wire::Error::Validation(mut v)) => {
                // The statement id is checked with the other members, so all are reported.
                if let Err(c) = check_statement_id(&sid, true) {
                    v.push(FieldViolation::new("statementId", &sid, c));
                }
                return Err(invokd_wire::Error::Validation(v).into());
            }
            Err(e) => return Err(e.into()),
        };
    if let Err(c) = check_statement_id(&sid, true) {
        let v: Violations = FieldViolation::new("statementId", &sid, c).into();
        return Err(invokd_wire::Error::Validation(v).into());
    }
    app.engine
        .remove_permission(
            &function,
            &sid,
            qualifier.as_deref(),
            param(&q, "RevisionId"),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_policy(
    State(app): State<App>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (function, qualifier) = extract::qualified_function(&name, &uri)?;
    let view = app.engine.get_policy(&function, qualifier.as_deref())?;
    Ok(Json(GetPolicyResponse {
        policy: render_policy(&view.statements),
        revision_id: view.revision_id,
    })
    .into_response())
}
