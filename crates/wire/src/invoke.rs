//! Invoke's parameters: the path, the `Qualifier` query parameter and the `X-Amz-*` headers,
//! checked against the service model and turned into a model [`InvokeRequest`].

use bytes::Bytes;
use invokd_model::name::{FunctionRef, NameShape, check_qualifier};
use invokd_model::validation::length_in;
use invokd_model::{
    Constraint, FieldViolation, InvocationType, InvokeRequest, LogType, Violations,
};

use crate::control::check_function_name;
use crate::error::Error;

const TENANT_ID_PATTERN: &str = r"[a-zA-Z0-9\._:\/=+\-@ ]+";
const DURABLE_NAME_PATTERN: &str = "[a-zA-Z0-9-_]+";

/// The raw parts of an Invoke call.
#[derive(Debug, Default)]
pub struct InvokeParts<'a> {
    pub function_name: &'a str,
    pub qualifier: Option<&'a str>,
    pub invocation_type: Option<&'a str>,
    pub log_type: Option<&'a str>,
    pub client_context: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub durable_execution_name: Option<&'a str>,
    pub trace_header: Option<&'a str>,
    /// InvokeWithResponseStream: only `RequestResponse` and `DryRun` are invocation types.
    pub streaming: bool,
}

impl InvokeParts<'_> {
    /// Validates every parameter, reporting all broken constraints at once.
    pub fn into_request(self, payload: Bytes) -> Result<InvokeRequest, Error> {
        let mut v = Violations::new();
        if let Some(q) = self.qualifier {
            v.check("qualifier", q, check_qualifier(q));
        }
        let function = check_function_name(Some(self.function_name), NameShape::Namespaced, &mut v);
        let invocation_type = match self.invocation_type {
            None => Some(InvocationType::RequestResponse),
            Some(s) => {
                let allowed = if self.streaming {
                    InvocationType::STREAMING_VALUES
                } else {
                    InvocationType::VALUES
                };
                let parsed = InvocationType::parse(s)
                    .filter(|t| !(self.streaming && *t == InvocationType::Event));
                v.check("invocationType", s, parsed.ok_or(Constraint::Enum(allowed)))
            }
        };
        let log_type = match self.log_type {
            None => Some(LogType::None),
            Some(s) => v.check(
                "logType",
                s,
                LogType::parse(s).ok_or(Constraint::Enum(LogType::VALUES)),
            ),
        };
        if let Some(t) = self.tenant_id {
            let r = length_in(t, 1, 256).and_then(|()| {
                if t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:/=+-@ ".contains(&b))
                {
                    Ok(())
                } else {
                    Err(Constraint::Pattern(TENANT_ID_PATTERN))
                }
            });
            v.check("tenantId", t, r);
        }
        if let Some(d) = self.durable_execution_name {
            let r = length_in(d, 1, 64).and_then(|()| {
                if d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    Ok(())
                } else {
                    Err(Constraint::Pattern(DURABLE_NAME_PATTERN))
                }
            });
            v.check("durableExecutionName", d, r);
        }
        v.into_result()?;
        Ok(InvokeRequest {
            function: function.expect("checked above"),
            qualifier: self.qualifier.map(str::to_owned),
            invocation_type: invocation_type.expect("checked above"),
            log_type: log_type.expect("checked above"),
            client_context: self.client_context.map(str::to_owned),
            tenant_id: self.tenant_id.map(str::to_owned),
            durable_execution_name: self.durable_execution_name.map(str::to_owned),
            trace_header: self.trace_header.map(str::to_owned),
            payload,
        })
    }
}

/// Parses a `FunctionName` path parameter of the given shape with an optional `Qualifier`.
pub fn function_and_qualifier(
    name: &str,
    qualifier: Option<&str>,
    shape: NameShape,
) -> Result<(FunctionRef, Option<String>), Error> {
    let mut v = Violations::new();
    if let Some(q) = qualifier {
        v.check("qualifier", q, check_qualifier(q));
    }
    let function = check_function_name(Some(name), shape, &mut v);
    v.into_result()?;
    Ok((
        function.expect("checked above"),
        qualifier.map(str::to_owned),
    ))
}

/// Checks a `MaxItems` query parameter (1-10000).
pub fn max_items(raw: Option<&str>) -> Result<Option<usize>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let n: i64 = raw.parse().map_err(|_| {
        Error::Validation(FieldViolation::new("maxItems", raw, Constraint::MinValue(1)).into())
    })?;
    invokd_model::validation::in_range(n, 1, 10_000)
        .map(|n| Some(n as usize))
        .map_err(|c| Error::Validation(FieldViolation::new("maxItems", raw, c).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifier_violations_come_first() {
        let long = format!(
            "arn:aws:lambda:invalid-region:123456789012:function:my-function-{}",
            "a".repeat(170)
        );
        let q = "a".repeat(129);
        let parts = InvokeParts {
            function_name: &long,
            qualifier: Some(&q),
            ..Default::default()
        };
        let e = parts.into_request(Bytes::new()).unwrap_err().to_string();
        assert!(
            e.starts_with("2 validation errors detected: Value 'aaaa"),
            "{e}"
        );
        assert!(e.contains("at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128; Value 'arn:aws:lambda:invalid-region"), "{e}");
    }

    #[test]
    fn bad_invocation_type() {
        let parts = InvokeParts {
            function_name: "f",
            invocation_type: Some("Sync"),
            ..Default::default()
        };
        assert_eq!(
            parts.into_request(Bytes::new()).unwrap_err().to_string(),
            "1 validation error detected: Value 'Sync' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        );
    }
}
