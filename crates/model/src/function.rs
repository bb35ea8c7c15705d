//! A function: its versions (each an immutable snapshot of configuration and code), its aliases
//! and its function-wide settings.
//!
//! `$LATEST` is the only mutable version. Publishing copies it into a numbered
//! [`VersionRecord`] that never changes again; aliases point at versions. Function-wide settings
//! (tags, reserved concurrency) are shared by every version, as on AWS.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::name::{FunctionName, Qualifier, VersionId};
use crate::policy::Permission;
use crate::runtime::Runtime;

/// Instruction-set architecture of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Architecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    pub const VALUES: &'static [&'static str] = &["x86_64", "arm64"];

    pub fn parse(s: &str) -> Option<Architecture> {
        match s {
            "x86_64" => Some(Architecture::X86_64),
            "arm64" => Some(Architecture::Arm64),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// X-Ray tracing mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TracingMode {
    #[default]
    PassThrough,
    Active,
}

impl TracingMode {
    pub const VALUES: &'static [&'static str] = &["Active", "PassThrough"];

    pub fn parse(s: &str) -> Option<TracingMode> {
        match s {
            "Active" => Some(TracingMode::Active),
            "PassThrough" => Some(TracingMode::PassThrough),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TracingMode::PassThrough => "PassThrough",
            TracingMode::Active => "Active",
        }
    }
}

/// Log format of the function's log stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LogFormat {
    #[default]
    Text,
    #[serde(rename = "JSON")]
    Json,
}

impl LogFormat {
    pub const VALUES: &'static [&'static str] = &["JSON", "Text"];

    pub fn parse(s: &str) -> Option<LogFormat> {
        match s {
            "Text" => Some(LogFormat::Text),
            "JSON" => Some(LogFormat::Json),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "Text",
            LogFormat::Json => "JSON",
        }
    }
}

/// Logging configuration (`LoggingConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LoggingConfig {
    pub log_format: LogFormat,
    /// `None` means the default group `/aws/lambda/<name>`.
    pub log_group: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
}

/// Tenant isolation of a multi-tenant function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TenantIsolationMode {
    #[serde(rename = "PER_TENANT")]
    PerTenant,
}

impl TenantIsolationMode {
    pub const VALUES: &'static [&'static str] = &["PER_TENANT"];

    pub fn as_str(self) -> &'static str {
        "PER_TENANT"
    }
}

/// Everything about a version that a version snapshot freezes, except its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub runtime: Runtime,
    pub handler: Option<String>,
    pub role: String,
    pub description: String,
    /// Seconds, 1..=900.
    pub timeout: u32,
    /// MB, 128..=10240.
    pub memory_size: u32,
    /// `None` when the caller never set `Environment` (AWS then omits it from responses).
    pub environment: Option<BTreeMap<String, String>>,
    pub architecture: Architecture,
    /// MB of /tmp, 512..=10240.
    pub ephemeral_storage: u32,
    pub dead_letter_target: Option<String>,
    pub tracing_mode: TracingMode,
    pub logging: LoggingConfig,
    pub tenancy: Option<TenantIsolationMode>,
    pub kms_key_arn: Option<String>,
}

impl FunctionConfig {
    pub const DEFAULT_TIMEOUT: u32 = 3;
    pub const MAX_TIMEOUT: u32 = 900;
    pub const DEFAULT_MEMORY: u32 = 128;
    pub const MIN_MEMORY: u32 = 128;
    pub const MAX_MEMORY: u32 = 10240;
    pub const DEFAULT_EPHEMERAL: u32 = 512;
    pub const MIN_EPHEMERAL: u32 = 512;
    pub const MAX_EPHEMERAL: u32 = 10240;

    /// Whether two configurations are the same for publishing purposes: a new description alone
    /// does not make a new version.
    pub fn same_but_description(&self, other: &FunctionConfig) -> bool {
        FunctionConfig {
            description: String::new(),
            ..self.clone()
        } == FunctionConfig {
            description: String::new(),
            ..other.clone()
        }
    }
}

/// A function's deployment package, stored content-addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRef {
    /// Base64 of the SHA-256 of the zip, as AWS reports `CodeSha256`.
    pub sha256: String,
    /// Lower-case hex of the same digest: the storage key.
    pub sha256_hex: String,
    /// Bytes of the zip.
    pub size: u64,
}

/// One version of a function: `$LATEST` or an immutable published snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub version: VersionId,
    pub config: FunctionConfig,
    pub code: CodeRef,
    pub revision_id: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

/// A named pointer at a version, optionally splitting traffic with a second version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub function_version: VersionId,
    pub description: String,
    /// `AdditionalVersionWeights`: version -> share of traffic in 0.0..=1.0.
    pub additional_version_weights: BTreeMap<u64, f64>,
    pub revision_id: String,
}

/// A function and everything that belongs to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: FunctionName,
    pub latest: VersionRecord,
    pub versions: BTreeMap<u64, VersionRecord>,
    pub aliases: BTreeMap<String, Alias>,
    pub tags: BTreeMap<String, String>,
    /// Highest version number ever published; numbers are never reused.
    pub last_published: u64,
    pub reserved_concurrency: Option<u32>,
    /// Asynchronous invocation settings, per qualifier (`$LATEST`, a version or an alias).
    #[serde(default)]
    pub event_invoke_configs: BTreeMap<String, EventInvokeConfig>,
    /// Provisioned concurrency, per qualifier (a version or an alias).
    #[serde(default)]
    pub provisioned: BTreeMap<String, ProvisionedConfig>,
    /// Whether recursive loops are allowed (`PutFunctionRecursionConfig`); AWS's default stops them.
    #[serde(default)]
    pub recursive_loop: RecursiveLoop,
    /// `$LATEST`'s description when the last version was published (PublishVersion's own
    /// `Description` may have replaced it in the version), so that changing it is a change.
    #[serde(default)]
    pub published_description: Option<String>,
    /// The resource-based policy of the unqualified function (AddPermission without
    /// `Qualifier`); it also governs `$LATEST`, which cannot have a policy of its own.
    #[serde(default)]
    pub policy: Vec<Permission>,
    /// Resource-based policies of versions (by number) and aliases (by name), each granting
    /// only invocations through that qualified ARN.
    #[serde(default)]
    pub qualified_policies: BTreeMap<String, Vec<Permission>>,
}

/// `RecursiveLoop`: what happens when an event loops back to the function too often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum RecursiveLoop {
    Allow,
    #[default]
    Terminate,
}

impl RecursiveLoop {
    /// In the order AWS lists them in its error message.
    pub const VALUES: &'static [&'static str] = &["Terminate", "Allow"];

    pub fn parse(s: &str) -> Option<RecursiveLoop> {
        match s {
            "Allow" => Some(RecursiveLoop::Allow),
            "Terminate" => Some(RecursiveLoop::Terminate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecursiveLoop::Allow => "Allow",
            RecursiveLoop::Terminate => "Terminate",
        }
    }
}

/// A request to keep environments of a version initialised ahead of invocations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedConfig {
    pub requested: u32,
    pub last_modified_ms: i64,
}

/// How asynchronous invocations of one qualifier are retried and where their records go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventInvokeConfig {
    /// 0..=2; `None` means AWS's default (2).
    pub maximum_retry_attempts: Option<u32>,
    /// Seconds, 60..=21600; `None` means AWS's default (6 hours).
    pub maximum_event_age: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    pub last_modified_ms: i64,
}

impl EventInvokeConfig {
    pub const DEFAULT_RETRY_ATTEMPTS: u32 = 2;
    pub const DEFAULT_EVENT_AGE: u32 = 21_600;

    pub fn retry_attempts(&self) -> u32 {
        self.maximum_retry_attempts
            .unwrap_or(Self::DEFAULT_RETRY_ATTEMPTS)
    }

    pub fn event_age_secs(&self) -> u32 {
        self.maximum_event_age.unwrap_or(Self::DEFAULT_EVENT_AGE)
    }
}

impl Function {
    pub fn version(&self, v: VersionId) -> Option<&VersionRecord> {
        match v {
            VersionId::Latest => Some(&self.latest),
            VersionId::Published(n) => self.versions.get(&n),
        }
    }

    /// The resource-based policy that governs calls through `qualifier` (`None`: the
    /// unqualified function, whose policy `$LATEST` shares).
    pub fn policy_for(&self, qualifier: Option<&Qualifier>) -> &[Permission] {
        let key = match qualifier {
            None | Some(Qualifier::Latest) => return &self.policy,
            Some(Qualifier::Version(n)) => n.to_string(),
            Some(Qualifier::Alias(a)) => a.clone(),
        };
        self.qualified_policies
            .get(&key)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Sum of provisioned concurrency over every qualifier.
    pub fn provisioned_total(&self) -> u32 {
        self.provisioned.values().map(|p| p.requested).sum()
    }

    /// Concurrency the function takes out of the account's unreserved pool.
    pub fn carved_concurrency(&self) -> u32 {
        self.reserved_concurrency
            .unwrap_or(0)
            .max(self.provisioned_total())
    }

    /// Total bytes of code this function keeps (every distinct package counted once).
    pub fn code_size(&self) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        std::iter::once(&self.latest)
            .chain(self.versions.values())
            .filter(|v| seen.insert(v.code.sha256_hex.as_str()))
            .map(|v| v.code.size)
            .sum()
    }
}
