//! Inputs of the control-plane operations, after syntactic validation.
//!
//! `wire` fills these from AWS request shapes (checking patterns, lengths and ranges, the
//! `ValidationException` layer); the engine applies them to a function (the semantic layer:
//! defaults, runtime support, reserved variables, package validity).

use std::collections::BTreeMap;

use crate::function::{Architecture, LoggingConfig, TenantIsolationMode, TracingMode};
use crate::name::FunctionRef;

/// Configuration fields a create or an update may set; `None` means "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigInput {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub role: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<u32>,
    pub memory_size: Option<u32>,
    pub environment: Option<BTreeMap<String, String>>,
    pub ephemeral_storage: Option<u32>,
    /// `Some(None)` clears the dead-letter target (an empty `TargetArn`).
    pub dead_letter_target: Option<Option<String>>,
    pub tracing_mode: Option<TracingMode>,
    pub logging: Option<LoggingConfig>,
    pub kms_key_arn: Option<String>,
    pub tenancy: Option<TenantIsolationMode>,
    pub layers: Option<Vec<String>>,
    /// Features the caller asked for that invokd does not implement (`VpcConfig` with subnets,
    /// `FileSystemConfigs`, ...), by AWS member name, so the engine can refuse them clearly.
    pub unsupported: Vec<&'static str>,
    /// `DurableConfig` was given.
    pub durable: bool,
}

/// Where a deployment package comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeInput {
    /// `ZipFile`, decoded from base64.
    Zip(Vec<u8>),
    /// `S3Bucket`/`S3Key`: not served by invokd.
    S3 { bucket: String, key: String },
    /// `ImageUri`: container images are not served by invokd.
    Image(String),
    /// No code member at all.
    Missing,
}

/// CreateFunction.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateFunctionInput {
    pub function: FunctionRef,
    pub config: ConfigInput,
    pub architecture: Option<crate::function::Architecture>,
    pub code: CodeInput,
    pub package_type: Option<String>,
    pub publish: bool,
    pub tags: BTreeMap<String, String>,
}

/// UpdateFunctionCode.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateCodeInput {
    pub function: FunctionRef,
    pub code: CodeInput,
    pub architecture: Option<Architecture>,
    pub publish: bool,
    pub dry_run: bool,
    pub revision_id: Option<String>,
}

/// UpdateFunctionConfiguration.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateConfigInput {
    pub function: FunctionRef,
    pub config: ConfigInput,
    pub revision_id: Option<String>,
}

/// One page request of a list operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub marker: Option<String>,
    pub max_items: Option<usize>,
}

/// CreateAlias / UpdateAlias, after syntactic validation. For an update, `None` keeps a field.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasInput {
    pub function: FunctionRef,
    pub name: String,
    /// `$LATEST` or a version number.
    pub function_version: Option<crate::name::VersionId>,
    pub description: Option<String>,
    /// `RoutingConfig.AdditionalVersionWeights`; `Some(empty)` clears the routing.
    pub weights: Option<BTreeMap<u64, f64>>,
    pub revision_id: Option<String>,
}

/// Put/UpdateFunctionEventInvokeConfig, after syntactic validation. `None` leaves a field unset
/// (Put) or unchanged (Update); `Some(None)` for a destination clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInvokeConfigInput {
    pub function: FunctionRef,
    pub qualifier: Option<String>,
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age: Option<u32>,
    pub destination_config_given: bool,
    pub on_success: Option<Option<String>>,
    pub on_failure: Option<Option<String>>,
}

/// AddPermission: one statement to add to the resource-based policy of a function, version or
/// alias. `principal` is as given; the engine decides what it designates.
#[derive(Debug, Clone, PartialEq)]
pub struct AddPermissionInput {
    pub function: FunctionRef,
    pub qualifier: Option<String>,
    pub statement_id: String,
    pub action: String,
    pub principal: String,
    pub source_arn: Option<String>,
    pub source_account: Option<String>,
    pub event_source_token: Option<String>,
    pub principal_org_id: Option<String>,
    pub function_url_auth_type: Option<String>,
    pub invoked_via_function_url: Option<bool>,
    pub revision_id: Option<String>,
}
