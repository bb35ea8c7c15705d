//! Control-plane shapes: what CreateFunction, GetFunction, ListFunctions, ... carry.
//!
//! Request shapes deserialize leniently (unknown members are ignored, as AWS does) and convert
//! into `invokd_model::spec` inputs with [`CreateFunctionRequest::into_input`] and friends, which
//! report every broken model constraint as one `ValidationException`. Response shapes serialize
//! model records exactly as AWS spells them: members AWS omits stay absent rather than `null`.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use invokd_model::name::{FunctionRef, NameShape};
use invokd_model::spec::{
    CodeInput, ConfigInput, CreateFunctionInput, UpdateCodeInput, UpdateConfigInput,
};
use invokd_model::validation::{in_range, length_in};
use invokd_model::{
    Alias, Architecture, Constraint, FieldViolation, Function, FunctionConfig, LogFormat,
    LoggingConfig, Scope, TenantIsolationMode, TracingMode, VersionId, VersionRecord, Violations,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::timestamp::format_millis;

/// Parses a JSON request body; an empty body reads as `{}`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| Error::Json(e.to_string()))
}

const HANDLER_PATTERN: &str = r"[^\s]+";
const ENV_KEY_PATTERN: &str = "[a-zA-Z]([a-zA-Z0-9_])+";
const KMS_KEY_ARN_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
const RESOURCE_ARN_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()";
const LOG_GROUP_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";
const APPLICATION_LOG_LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const SYSTEM_LOG_LEVELS: &[&str] = &["DEBUG", "INFO", "WARN"];
const PACKAGE_TYPES: &[&str] = &["Zip", "Image"];

/// `FunctionCode`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FunctionCode {
    pub zip_file: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_key: Option<String>,
    pub s3_object_version: Option<String>,
    pub image_uri: Option<String>,
    #[serde(rename = "SourceKMSKeyArn")]
    pub source_kms_key_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Environment {
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeadLetterConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EphemeralStorage {
    pub size: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TracingConfig {
    pub mode: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LoggingConfigShape {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TenancyConfig {
    pub tenant_isolation_mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VpcConfig {
    pub subnet_ids: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    pub ipv6_allowed_for_dual_stack: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SnapStart {
    pub apply_on: Option<String>,
}

/// The configuration members CreateFunction and UpdateFunctionConfiguration share.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigMembers {
    pub runtime: Option<String>,
    pub role: Option<String>,
    pub handler: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub vpc_config: Option<VpcConfig>,
    pub dead_letter_config: Option<DeadLetterConfig>,
    pub environment: Option<Environment>,
    #[serde(rename = "KMSKeyArn")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: Option<TracingConfig>,
    pub layers: Option<Vec<String>>,
    pub file_system_configs: Option<Vec<Value>>,
    pub image_config: Option<Value>,
    pub ephemeral_storage: Option<EphemeralStorage>,
    pub snap_start: Option<SnapStart>,
    pub logging_config: Option<LoggingConfigShape>,
    pub capacity_provider_config: Option<Value>,
    pub durable_config: Option<Value>,
}

impl ConfigMembers {
    /// Checks every member against the model and collects what it sets.
    fn check(self, v: &mut Violations) -> ConfigInput {
        let mut input = ConfigInput {
            runtime: self.runtime,
            ..ConfigInput::default()
        };
        if let Some(role) = self.role {
            if !invokd_model::arn::is_role_arn(&role) {
                v.push(FieldViolation::new(
                    "role",
                    &role,
                    Constraint::Pattern(invokd_model::arn::ROLE_ARN_PATTERN),
                ));
            }
            input.role = Some(role);
        }
        if let Some(h) = self.handler {
            let r = length_in(&h, 0, 128).and_then(|()| {
                if !h.is_empty() && !h.chars().any(char::is_whitespace) {
                    Ok(())
                } else {
                    Err(Constraint::Pattern(HANDLER_PATTERN))
                }
            });
            v.check("handler", &h, r);
            input.handler = Some(h);
        }
        if let Some(d) = self.description {
            v.check("description", &d, length_in(&d, 0, 256));
            input.description = Some(d);
        }
        if let Some(t) = self.timeout {
            input.timeout = v
                .check(
                    "timeout",
                    &t.to_string(),
                    in_range(t, 1, i64::from(FunctionConfig::MAX_TIMEOUT)),
                )
                .map(|t| t as u32);
        }
        if let Some(m) = self.memory_size {
            let r = in_range(
                m,
                i64::from(FunctionConfig::MIN_MEMORY),
                i64::from(FunctionConfig::MAX_MEMORY),
            );
            input.memory_size = v.check("memorySize", &m.to_string(), r).map(|m| m as u32);
        }
        if let Some(env) = self.environment {
            let vars = env.variables.unwrap_or_default();
            if vars.keys().any(|k| !is_env_key(k)) {
                v.push(FieldViolation::hidden(
                    "environment.variables",
                    Constraint::Phrase(format!(
                        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: {ENV_KEY_PATTERN}]"
                    )),
                ));
            }
            input.environment = Some(vars);
        }
        if let Some(es) = self.ephemeral_storage {
            match es.size {
                Some(size) => {
                    let r = in_range(
                        size,
                        i64::from(FunctionConfig::MIN_EPHEMERAL),
                        i64::from(FunctionConfig::MAX_EPHEMERAL),
                    );
                    input.ephemeral_storage = v
                        .check("ephemeralStorage.size", &size.to_string(), r)
                        .map(|s| s as u32);
                }
                None => v.push(FieldViolation::null("ephemeralStorage.size")),
            }
        }
        if let Some(dlc) = self.dead_letter_config {
            match dlc.target_arn {
                Some(arn) if arn.is_empty() => input.dead_letter_target = Some(None),
                Some(arn) => {
                    if !arn.starts_with("arn:") {
                        v.push(FieldViolation::new(
                            "deadLetterConfig.targetArn",
                            &arn,
                            Constraint::Pattern(RESOURCE_ARN_PATTERN),
                        ));
                    }
                    input.dead_letter_target = Some(Some(arn));
                }
                None => input.dead_letter_target = Some(None),
            }
        }
        if let Some(tc) = self.tracing_config
            && let Some(mode) = tc.mode
        {
            input.tracing_mode = v.check(
                "tracingConfig.mode",
                &mode,
                TracingMode::parse(&mode).ok_or(Constraint::Enum(TracingMode::VALUES)),
            );
        }
        if let Some(lc) = self.logging_config {
            input.logging = Some(check_logging(lc, v));
        }
        if let Some(kms) = self.kms_key_arn {
            if !(kms.is_empty() || kms.starts_with("arn:")) {
                v.push(FieldViolation::new(
                    "kMSKeyArn",
                    &kms,
                    Constraint::Pattern(KMS_KEY_ARN_PATTERN),
                ));
            }
            input.kms_key_arn = Some(kms).filter(|k| !k.is_empty());
        }
        if let Some(layers) = self.layers {
            input.layers = Some(layers);
        }
        if let Some(vpc) = self.vpc_config {
            let has_subnets = vpc.subnet_ids.as_ref().is_some_and(|s| !s.is_empty());
            let has_groups = vpc
                .security_group_ids
                .as_ref()
                .is_some_and(|s| !s.is_empty());
            if has_subnets || has_groups {
                input.unsupported.push("VpcConfig");
            }
        }
        if self
            .file_system_configs
            .as_ref()
            .is_some_and(|f| !f.is_empty())
        {
            input.unsupported.push("FileSystemConfigs");
        }
        if self.image_config.is_some() {
            input.unsupported.push("ImageConfig");
        }
        if self
            .snap_start
            .and_then(|s| s.apply_on)
            .is_some_and(|a| a != "None")
        {
            input.unsupported.push("SnapStart");
        }
        if self.capacity_provider_config.is_some() {
            input.unsupported.push("CapacityProviderConfig");
        }
        input.durable = self.durable_config.is_some();
        input
    }
}

fn check_logging(lc: LoggingConfigShape, v: &mut Violations) -> LoggingConfig {
    let mut out = LoggingConfig::default();
    if let Some(f) = lc.log_format {
        out.log_format = v
            .check(
                "loggingConfig.logFormat",
                &f,
                LogFormat::parse(&f).ok_or(Constraint::Enum(LogFormat::VALUES)),
            )
            .unwrap_or_default();
    }
    if let Some(l) = lc.application_log_level {
        let ok = APPLICATION_LOG_LEVELS.contains(&l.as_str());
        v.check(
            "loggingConfig.applicationLogLevel",
            &l,
            if ok {
                Ok(())
            } else {
                Err(Constraint::Enum(APPLICATION_LOG_LEVELS))
            },
        );
        out.application_log_level = Some(l);
    }
    if let Some(l) = lc.system_log_level {
        let ok = SYSTEM_LOG_LEVELS.contains(&l.as_str());
        v.check(
            "loggingConfig.systemLogLevel",
            &l,
            if ok {
                Ok(())
            } else {
                Err(Constraint::Enum(SYSTEM_LOG_LEVELS))
            },
        );
        out.system_log_level = Some(l);
    }
    if let Some(g) = lc.log_group {
        let r = length_in(&g, 1, 512).and_then(|()| {
            if g.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b))
            {
                Ok(())
            } else {
                Err(Constraint::Pattern(LOG_GROUP_PATTERN))
            }
        });
        v.check("loggingConfig.logGroup", &g, r);
        out.log_group = Some(g);
    }
    out
}

fn is_env_key(k: &str) -> bool {
    let mut b = k.bytes();
    k.len() >= 2
        && b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Parses a function-name member, recording violations at `functionName`.
pub fn check_function_name(
    name: Option<&str>,
    shape: NameShape,
    v: &mut Violations,
) -> Option<FunctionRef> {
    let Some(name) = name else {
        v.push(FieldViolation::null("functionName"));
        return None;
    };
    match FunctionRef::parse(name, shape) {
        Ok(r) => Some(r),
        Err(broken) => {
            for c in broken {
                v.push(FieldViolation::new("functionName", name, c));
            }
            None
        }
    }
}

fn check_architectures(archs: Option<Vec<String>>, v: &mut Violations) -> Option<Architecture> {
    let archs = archs?;
    let shown = format!("[{}]", archs.join(", "));
    if archs.len() > 1 {
        v.push(FieldViolation::new(
            "architectures",
            shown,
            Constraint::MaxLength(1),
        ));
        return None;
    }
    if archs.is_empty() {
        v.push(FieldViolation::new(
            "architectures",
            shown,
            Constraint::MinLength(1),
        ));
        return None;
    }
    match Architecture::parse(&archs[0]) {
        Some(a) => Some(a),
        None => {
            v.push(FieldViolation::new(
                "architectures",
                shown,
                Constraint::Phrase(
                    "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"
                        .into(),
                ),
            ));
            None
        }
    }
}

fn decode_code(code: FunctionCode) -> Result<CodeInput, Error> {
    if let Some(zip) = code.zip_file {
        let bytes = BASE64
            .decode(zip.as_bytes())
            .map_err(|_| Error::Json("ZipFile is not valid base64".into()))?;
        return Ok(CodeInput::Zip(bytes));
    }
    if let Some(uri) = code.image_uri {
        return Ok(CodeInput::Image(uri));
    }
    if code.s3_bucket.is_some() || code.s3_key.is_some() {
        return Ok(CodeInput::S3 {
            bucket: code.s3_bucket.unwrap_or_default(),
            key: code.s3_key.unwrap_or_default(),
        });
    }
    Ok(CodeInput::Missing)
}

/// `CreateFunctionRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateFunctionRequest {
    pub function_name: Option<String>,
    pub code: Option<FunctionCode>,
    pub publish: Option<bool>,
    pub package_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub architectures: Option<Vec<String>>,
    pub tenancy_config: Option<TenancyConfig>,
    pub publish_to: Option<String>,
    pub code_signing_config_arn: Option<String>,
    #[serde(flatten)]
    pub config: ConfigMembers,
}

impl CreateFunctionRequest {
    pub fn into_input(self) -> Result<CreateFunctionInput, Error> {
        let mut v = Violations::new();
        let function = check_function_name(self.function_name.as_deref(), NameShape::Plain, &mut v);
        if self.config.role.is_none() {
            v.push(FieldViolation::null("role"));
        }
        if self.code.is_none() {
            v.push(FieldViolation::null("code"));
        }
        if let Some(pt) = &self.package_type
            && !PACKAGE_TYPES.contains(&pt.as_str())
        {
            v.push(FieldViolation::new(
                "packageType",
                pt,
                Constraint::Enum(PACKAGE_TYPES),
            ));
        }
        let architecture = check_architectures(self.architectures, &mut v);
        let mut tenancy = None;
        if let Some(tc) = self.tenancy_config {
            match tc.tenant_isolation_mode.as_deref() {
                Some("PER_TENANT") => tenancy = Some(TenantIsolationMode::PerTenant),
                Some(other) => v.push(FieldViolation::new(
                    "tenancyConfig.tenantIsolationMode",
                    other,
                    Constraint::Enum(TenantIsolationMode::VALUES),
                )),
                None => v.push(FieldViolation::null("tenancyConfig.tenantIsolationMode")),
            }
        }
        let mut config = self.config.check(&mut v);
        config.tenancy = tenancy;
        if self.code_signing_config_arn.is_some() {
            config.unsupported.push("CodeSigningConfigArn");
        }
        if self.publish_to.is_some() {
            config.unsupported.push("PublishTo");
        }
        v.into_result()?;
        let code = match self.code {
            Some(code) => decode_code(code)?,
            None => CodeInput::Missing,
        };
        Ok(CreateFunctionInput {
            function: function.expect("checked above"),
            config,
            architecture,
            code,
            package_type: self.package_type,
            publish: self.publish.unwrap_or(false),
            tags: self.tags.unwrap_or_default(),
        })
    }
}

/// `UpdateFunctionCodeRequest` (the path carries the name).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateFunctionCodeRequest {
    #[serde(flatten)]
    pub code: FunctionCode,
    pub publish: Option<bool>,
    pub dry_run: Option<bool>,
    pub revision_id: Option<String>,
    pub architectures: Option<Vec<String>>,
    pub publish_to: Option<String>,
}

impl UpdateFunctionCodeRequest {
    pub fn into_input(self, name: &str) -> Result<UpdateCodeInput, Error> {
        let mut v = Violations::new();
        let function = check_function_name(Some(name), NameShape::Plain, &mut v);
        let architecture = check_architectures(self.architectures, &mut v);
        v.into_result()?;
        Ok(UpdateCodeInput {
            function: function.expect("checked above"),
            code: decode_code(self.code)?,
            architecture,
            publish: self.publish.unwrap_or(false),
            dry_run: self.dry_run.unwrap_or(false),
            revision_id: self.revision_id,
        })
    }
}

/// `UpdateFunctionConfigurationRequest` (the path carries the name).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateFunctionConfigurationRequest {
    pub revision_id: Option<String>,
    pub tenancy_config: Option<Value>,
    #[serde(flatten)]
    pub config: ConfigMembers,
}

impl UpdateFunctionConfigurationRequest {
    pub fn into_input(self, name: &str) -> Result<UpdateConfigInput, Error> {
        let mut v = Violations::new();
        let function = check_function_name(Some(name), NameShape::Plain, &mut v);
        let mut config = self.config.check(&mut v);
        v.into_result()?;
        if self.tenancy_config.is_some() {
            config.unsupported.push("TenancyConfig");
        }
        Ok(UpdateConfigInput {
            function: function.expect("checked above"),
            config,
            revision_id: self.revision_id,
        })
    }
}

/// `TagResourceRequest` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TagResourceRequest {
    pub tags: Option<BTreeMap<String, String>>,
}

// ---------------------------------------------------------------------------------------------
// Responses

/// How a function's ARN and members are rendered in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// GetFunction / CreateFunction / Update*: full detail; `$LATEST`'s ARN is unqualified.
    Detail,
    /// CreateFunction / UpdateFunctionCode with `Publish`: the new version in full detail under
    /// the unqualified ARN, as AWS answers.
    DetailUnqualified,
    /// ListFunctions: no state members; `$LATEST`'s ARN is unqualified.
    Listing,
    /// ListFunctions with `FunctionVersion=ALL` and ListVersionsByFunction: no state members,
    /// every ARN qualified (`…:$LATEST`).
    ListingQualified,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnvironmentResponse {
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SizeShape {
    pub size: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ModeShape {
    pub mode: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapStartResponse {
    pub apply_on: &'static str,
    pub optimization_status: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeVersionConfig {
    pub runtime_version_arn: String,
}

/// `FunctionConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionConfiguration {
    pub function_name: String,
    pub function_arn: String,
    pub runtime: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    pub code_size: u64,
    pub description: String,
    pub timeout: u32,
    pub memory_size: u32,
    pub last_modified: String,
    pub code_sha256: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentResponse>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(rename = "KMSKeyArn", skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    pub tracing_config: ModeShape,
    pub revision_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update_status: Option<&'static str>,
    pub package_type: &'static str,
    pub architectures: [&'static str; 1],
    pub ephemeral_storage: SizeShape,
    pub snap_start: SnapStartResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_version_config: Option<RuntimeVersionConfig>,
    pub logging_config: LoggingConfigShape,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenancy_config: Option<TenancyConfig>,
}

impl FunctionConfiguration {
    /// Renders `version`; `alias` names the alias it was addressed through, whose ARN AWS shows.
    pub fn render(
        scope: &Scope,
        function: &Function,
        version: &VersionRecord,
        view: View,
        alias: Option<&str>,
    ) -> Self {
        let name = function.name.as_str();
        let arn = match (alias, version.version, view) {
            (Some(alias), _, _) => scope.qualified_arn(name, alias),
            (None, VersionId::Latest, View::Detail | View::Listing)
            | (None, _, View::DetailUnqualified) => scope.function_arn(name),
            (None, v, _) => scope.qualified_arn(name, v),
        };
        let c = &version.config;
        let detail = matches!(view, View::Detail | View::DetailUnqualified);
        FunctionConfiguration {
            function_name: name.to_owned(),
            function_arn: arn,
            runtime: c.runtime.to_string(),
            role: c.role.clone(),
            handler: c.handler.clone(),
            code_size: version.code.size,
            description: c.description.clone(),
            timeout: c.timeout,
            memory_size: c.memory_size,
            last_modified: format_millis(version.last_modified_ms),
            code_sha256: version.code.sha256.clone(),
            version: version.version.to_string(),
            environment: c.environment.as_ref().map(|vars| EnvironmentResponse {
                variables: vars.clone(),
            }),
            dead_letter_config: c.dead_letter_target.as_ref().map(|t| DeadLetterConfig {
                target_arn: Some(t.clone()),
            }),
            kms_key_arn: c.kms_key_arn.clone(),
            tracing_config: ModeShape {
                mode: c.tracing_mode.as_str(),
            },
            revision_id: version.revision_id.clone(),
            state: detail.then_some("Active"),
            last_update_status: detail.then_some("Successful"),
            package_type: "Zip",
            architectures: [c.architecture.as_str()],
            ephemeral_storage: SizeShape {
                size: c.ephemeral_storage,
            },
            snap_start: SnapStartResponse {
                apply_on: "None",
                optimization_status: "Off",
            },
            runtime_version_config: detail.then(|| RuntimeVersionConfig {
                runtime_version_arn: format!(
                    "arn:{}:lambda:{}::runtime:invokd-{}",
                    scope.partition, scope.region, c.runtime
                ),
            }),
            logging_config: LoggingConfigShape {
                log_format: Some(c.logging.log_format.as_str().to_owned()),
                application_log_level: c.logging.application_log_level.clone(),
                system_log_level: c.logging.system_log_level.clone(),
                log_group: Some(
                    c.logging
                        .log_group
                        .clone()
                        .unwrap_or_else(|| format!("/aws/lambda/{name}")),
                ),
            },
            tenancy_config: c.tenancy.map(|t| TenancyConfig {
                tenant_isolation_mode: Some(t.as_str().to_owned()),
            }),
        }
    }
}

/// `FunctionCodeLocation`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionCodeLocation {
    pub repository_type: &'static str,
    pub location: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Concurrency {
    pub reserved_concurrent_executions: u32,
}

/// `GetFunctionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetFunctionResponse {
    pub configuration: FunctionConfiguration,
    pub code: FunctionCodeLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

/// `ListFunctionsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFunctionsResponse {
    pub functions: Vec<FunctionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// `ListVersionsByFunctionResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResponse {
    pub versions: Vec<FunctionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// `ListTagsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsResponse {
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountLimit {
    pub total_code_size: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountUsage {
    pub total_code_size: u64,
    pub function_count: u64,
}

/// `GetAccountSettingsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    pub account_limit: AccountLimit,
    pub account_usage: AccountUsage,
}

/// `AliasRoutingConfiguration`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AliasRoutingConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_version_weights: Option<BTreeMap<String, f64>>,
}

/// `AliasConfiguration`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasConfiguration {
    pub alias_arn: String,
    pub name: String,
    pub function_version: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: String,
}

impl AliasConfiguration {
    pub fn render(scope: &Scope, function: &Function, alias: &Alias) -> Self {
        AliasConfiguration {
            alias_arn: scope.qualified_arn(function.name.as_str(), &alias.name),
            name: alias.name.clone(),
            function_version: alias.function_version.to_string(),
            description: alias.description.clone(),
            routing_config: (!alias.additional_version_weights.is_empty()).then(|| {
                AliasRoutingConfiguration {
                    additional_version_weights: Some(
                        alias
                            .additional_version_weights
                            .iter()
                            .map(|(k, w)| (k.to_string(), *w))
                            .collect(),
                    ),
                }
            }),
            revision_id: alias.revision_id.clone(),
        }
    }
}

/// `CreateAliasRequest` / `UpdateAliasRequest` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AliasRequest {
    pub name: Option<String>,
    pub function_version: Option<String>,
    pub description: Option<String>,
    pub routing_config: Option<AliasRoutingConfiguration>,
    pub revision_id: Option<String>,
}

const VERSION_PATTERN: &str = r"(\$LATEST(\.PUBLISHED)?|[0-9]+)";
const WEIGHT_KEY_CONSTRAINT: &str = "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]";
const WEIGHT_VALUE_CONSTRAINT: &str = "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]";

/// A double as Java prints it (`2.0`, `0.5`), which is how AWS shows weights in messages.
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

impl AliasRequest {
    /// `name` is the alias name from the path (UpdateAlias) or `None` (CreateAlias: the body's).
    pub fn into_input(
        self,
        function_name: &str,
        path_alias: Option<&str>,
    ) -> Result<invokd_model::spec::AliasInput, Error> {
        let mut v = Violations::new();
        let function = check_function_name(Some(function_name), NameShape::Plain, &mut v);
        let name = path_alias.map(str::to_owned).or(self.name);
        match &name {
            Some(n) => {
                v.check("name", n, invokd_model::name::check_alias_name(n));
            }
            None => v.push(FieldViolation::null("name")),
        }
        let mut function_version = None;
        match &self.function_version {
            Some(fv) => {
                let parsed = if fv == "$LATEST" {
                    Some(VersionId::Latest)
                } else if !fv.is_empty()
                    && fv.len() <= 1024
                    && fv.bytes().all(|b| b.is_ascii_digit())
                {
                    fv.parse().ok().map(VersionId::Published)
                } else {
                    None
                };
                function_version = v.check(
                    "functionVersion",
                    fv,
                    parsed.ok_or(Constraint::Pattern(VERSION_PATTERN)),
                );
            }
            None if path_alias.is_none() => v.push(FieldViolation::null("functionVersion")),
            None => {}
        }
        if let Some(d) = &self.description {
            v.check("description", d, length_in(d, 0, 256));
        }
        let mut weights = None;
        if let Some(rc) = self.routing_config {
            let raw = rc.additional_version_weights.unwrap_or_default();
            let shown = format!(
                "{{{}}}",
                raw.iter()
                    .map(|(k, w)| format!("{k}={}", java_double(*w)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let mut parsed = BTreeMap::new();
            for (k, w) in &raw {
                if k.is_empty() || k.len() > 1024 || !k.bytes().all(|b| b.is_ascii_digit()) {
                    v.push(FieldViolation::new(
                        "routingConfig.additionalVersionWeights",
                        &shown,
                        Constraint::Phrase(WEIGHT_KEY_CONSTRAINT.into()),
                    ));
                    break;
                }
                if !(0.0..=1.0).contains(w) {
                    v.push(FieldViolation::new(
                        "routingConfig.additionalVersionWeights",
                        &shown,
                        Constraint::Phrase(WEIGHT_VALUE_CONSTRAINT.into()),
                    ));
                    break;
                }
                parsed.insert(k.parse::<u64>().unwrap_or(u64::MAX), *w);
            }
            weights = Some(parsed);
        }
        v.into_result()?;
        Ok(invokd_model::spec::AliasInput {
            function: function.expect("checked above"),
            name: name.expect("checked above"),
            function_version,
            description: self.description,
            weights,
            revision_id: self.revision_id,
        })
    }
}

/// `ListAliasesResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// `OnSuccess` / `OnFailure`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OnDestination {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// `DestinationConfig`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DestinationConfig {
    pub on_success: OnDestination,
    pub on_failure: OnDestination,
}

/// `PutFunctionEventInvokeConfigRequest` / `UpdateFunctionEventInvokeConfigRequest` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventInvokeConfigRequest {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destination_config: Option<DestinationConfigShape>,
}

/// The request's `DestinationConfig`, where a member may be absent.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DestinationConfigShape {
    pub on_success: Option<OnDestination>,
    pub on_failure: Option<OnDestination>,
}

const DESTINATION_PATTERN: &str = r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)";

/// Checks a destination against the service model's `DestinationArn` pattern.
fn is_destination(d: &str) -> bool {
    if d.is_empty() || d.starts_with("kafka://") {
        return true;
    }
    let parts: Vec<&str> = d.splitn(6, ':').collect();
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && word(parts[1])
        && !parts[2].is_empty()
        && word(parts[2])
        && (parts[3].is_empty() || (parts[3].contains('-') && word(parts[3])))
        && (parts[4].is_empty()
            || (parts[4].len() == 12 && parts[4].bytes().all(|b| b.is_ascii_digit())))
}

impl EventInvokeConfigRequest {
    pub fn into_input(
        self,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<invokd_model::spec::EventInvokeConfigInput, Error> {
        let mut v = Violations::new();
        if let Some(q) = qualifier {
            v.check("qualifier", q, invokd_model::name::check_qualifier(q));
        }
        let function = check_function_name(Some(function_name), NameShape::Namespaced, &mut v);
        let retries = self
            .maximum_retry_attempts
            .and_then(|n| v.check("maximumRetryAttempts", &n.to_string(), in_range(n, 0, 2)))
            .map(|n| n as u32);
        let age = self
            .maximum_event_age_in_seconds
            .and_then(|n| {
                v.check(
                    "maximumEventAgeInSeconds",
                    &n.to_string(),
                    in_range(n, 60, 21_600),
                )
            })
            .map(|n| n as u32);
        let given = self.destination_config.is_some();
        let dc = self.destination_config.unwrap_or_default();
        let mut dest = |field: &str, d: Option<OnDestination>| -> Option<Option<String>> {
            let d = d?;
            let target = d.destination.filter(|s| !s.is_empty());
            if let Some(t) = &target
                && !is_destination(t)
            {
                v.push(FieldViolation::new(
                    field,
                    t,
                    Constraint::Pattern(DESTINATION_PATTERN),
                ));
            }
            Some(target)
        };
        let on_success = dest("destinationConfig.onSuccess.destination", dc.on_success);
        let on_failure = dest("destinationConfig.onFailure.destination", dc.on_failure);
        v.into_result()?;
        Ok(invokd_model::spec::EventInvokeConfigInput {
            function: function.expect("checked above"),
            qualifier: qualifier.map(str::to_owned),
            maximum_retry_attempts: retries,
            maximum_event_age: age,
            destination_config_given: given,
            on_success: if given {
                Some(on_success.flatten())
            } else {
                None
            },
            on_failure: if given {
                Some(on_failure.flatten())
            } else {
                None
            },
        })
    }
}

/// `FunctionEventInvokeConfig`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionEventInvokeConfig {
    /// Epoch seconds, as REST-JSON timestamps are.
    pub last_modified: f64,
    pub function_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<u32>,
    pub destination_config: DestinationConfig,
}

impl FunctionEventInvokeConfig {
    pub fn render(function_arn: &str, c: &invokd_model::EventInvokeConfig) -> Self {
        FunctionEventInvokeConfig {
            last_modified: c.last_modified_ms as f64 / 1000.0,
            function_arn: function_arn.to_owned(),
            maximum_retry_attempts: c.maximum_retry_attempts,
            maximum_event_age_in_seconds: c.maximum_event_age,
            destination_config: DestinationConfig {
                on_success: OnDestination {
                    destination: c.on_success.clone(),
                },
                on_failure: OnDestination {
                    destination: c.on_failure.clone(),
                },
            },
        }
    }
}

/// `ListFunctionEventInvokeConfigsResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEventInvokeConfigsResponse {
    pub function_event_invoke_configs: Vec<FunctionEventInvokeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<CreateFunctionInput, Error> {
        parse_json::<CreateFunctionRequest>(json.as_bytes())?.into_input()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    #[test]
    fn minimal_create() {
        let input = create(&format!(
            r#"{{"FunctionName":"f","Role":"{ROLE}","Runtime":"python3.12","Handler":"h.h","Code":{{"ZipFile":"UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}}}"#
        ))
        .unwrap();
        assert_eq!(input.function.name, "f");
        assert_eq!(input.config.runtime.as_deref(), Some("python3.12"));
        assert!(matches!(input.code, CodeInput::Zip(ref z) if z.len() == 22));
    }

    #[test]
    fn collects_every_violation() {
        let err =
            create(r#"{"FunctionName":"f","Role":"r1","Timeout":901,"MemorySize":64,"Code":{}}"#)
                .unwrap_err();
        let Error::Validation(v) = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            v.to_string(),
            "3 validation errors detected: \
             Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+; \
             Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900; \
             Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"
        );
    }

    #[test]
    fn environment_keys_are_checked_without_showing_values() {
        let err = create(&format!(
            r#"{{"FunctionName":"f","Role":"{ROLE}","Code":{{}},"Environment":{{"Variables":{{"a":"secret"}}}}}}"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: \
             Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]"
        );
    }

    #[test]
    fn architectures() {
        let err = create(&format!(
            r#"{{"FunctionName":"f","Role":"{ROLE}","Code":{{}},"Architectures":["x86_64","arm64"]}}"#
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: \
             Member must have length less than or equal to 1"
        );
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        assert!(matches!(create("{"), Err(Error::Json(_))));
    }
}
