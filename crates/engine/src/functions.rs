//! Control-plane operations: create, read, update, delete, publish, tag.
//!
//! Each write follows the same pattern under the engine's write lock: read the current snapshot,
//! compute the new function document, commit it to the store, then swap a new registry entry in.
//! A failure before the commit changes nothing; the registry never shows an uncommitted change.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use invokd_model::name::NameShape;
use invokd_model::runtime::{RuntimeError, SUPPORTED_RUNTIMES};
use invokd_model::spec::{
    CodeInput, ConfigInput, CreateFunctionInput, Page, UpdateCodeInput, UpdateConfigInput,
};
use invokd_model::{
    CodeRef, Constraint, FieldViolation, Function, FunctionConfig, FunctionName, FunctionRef,
    Qualifier, Runtime, VersionId, VersionRecord, Violations,
};

use crate::error::{Error, Result};
use crate::ids::{now_ms, uuid};
use crate::registry::{FunctionEntry, Registry};
use crate::{Engine, pool::RESERVED_VARIABLES};

/// AWS's limits on packages and tags.
pub const MAX_ZIPPED_BYTES: usize = 52_428_800;
pub const MAX_UNZIPPED_BYTES: u64 = 262_144_000;
pub const TOTAL_CODE_SIZE_LIMIT: u64 = 80_530_636_800;
pub const MAX_TAGS: usize = 50;
const ENV_VARS_LIMIT: usize = 4096;

/// One version of a function, as responses render it.
#[derive(Debug, Clone)]
pub struct VersionView {
    pub function: Arc<Function>,
    pub version: VersionId,
    /// The qualifier the ARN shows when it differs from the version (an alias, or `$LATEST`
    /// asked for explicitly).
    pub alias: Option<String>,
}

impl VersionView {
    pub fn record(&self) -> &VersionRecord {
        self.function
            .version(self.version)
            .expect("a view names an existing version")
    }
}

/// What GetAccountSettings reports.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub total_code_size_limit: u64,
    pub code_size_unzipped: u64,
    pub code_size_zipped: u64,
    pub concurrent_executions: u32,
    pub unreserved_concurrent_executions: u32,
    pub total_code_size: u64,
    pub function_count: u64,
}

impl Engine {
    /// Checks that a referenced function lives in this region and account.
    pub(crate) fn check_scope(&self, r: &FunctionRef) -> Result<()> {
        let scope = self.scope();
        if let Some(region) = &r.region
            && region != &scope.region
        {
            return Err(Error::WrongRegion {
                arn_region: region.clone(),
                region: scope.region.clone(),
            });
        }
        if let Some(account) = &r.account
            && account != &scope.account_id
        {
            return Err(Error::OtherAccount(
                scope
                    .function_arn(&r.name)
                    .replace(&scope.account_id, account),
            ));
        }
        Ok(())
    }

    /// Combines the qualifier in a name with the `Qualifier` parameter (they must agree).
    pub(crate) fn effective_qualifier(
        r: &FunctionRef,
        param: Option<&str>,
    ) -> Result<Option<String>> {
        match (r.qualifier.as_deref(), param) {
            (Some(a), Some(b)) if a != b => Err(Error::InvalidParameter(
                "The derived qualifier from the function name does not match the specified qualifier.".into(),
            )),
            (Some(a), _) => Ok(Some(a.to_owned())),
            (None, b) => Ok(b.map(str::to_owned)),
        }
    }

    fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn entry(
        &self,
        r: &FunctionRef,
        not_found_arn: impl FnOnce() -> String,
    ) -> Result<Arc<FunctionEntry>> {
        self.check_scope(r)?;
        self.registry()
            .get(&r.name)
            .ok_or_else(|| Error::FunctionNotFound(not_found_arn()))
    }

    /// Resolves a qualifier of an existing function to the version it designates.
    pub(crate) fn resolve_qualifier(function: &Function, q: &Qualifier) -> Option<VersionId> {
        match q {
            Qualifier::Latest => Some(VersionId::Latest),
            Qualifier::Version(n) => function
                .versions
                .contains_key(n)
                .then_some(VersionId::Published(*n)),
            Qualifier::Alias(a) => function.aliases.get(a).map(|a| a.function_version),
        }
    }

    /// GetFunction / GetFunctionConfiguration.
    pub fn get_function(&self, r: &FunctionRef, qualifier: Option<&str>) -> Result<VersionView> {
        let q = Self::effective_qualifier(r, qualifier)?;
        let scope = self.scope();
        let arn = || match &q {
            Some(q) => scope.qualified_arn(&r.name, q),
            None => scope.function_arn(&r.name),
        };
        let entry = self.entry(r, arn)?;
        let (version, alias) = match q.as_deref().map(Qualifier::interpret) {
            None => (VersionId::Latest, None),
            Some(q) => {
                let v = Self::resolve_qualifier(&entry.function, &q)
                    .ok_or_else(|| Error::FunctionNotFound(arn()))?;
                // The ARN shows the qualifier the caller used: an alias, or an explicit $LATEST.
                let alias = match q {
                    Qualifier::Alias(a) => Some(a),
                    Qualifier::Latest => Some("$LATEST".to_owned()),
                    Qualifier::Version(_) => None,
                };
                (v, alias)
            }
        };
        Ok(VersionView {
            function: entry.function.clone(),
            version,
            alias,
        })
    }

    /// ListFunctions: `$LATEST` of every function, or every version with `all_versions`.
    pub fn list_functions(
        &self,
        all_versions: bool,
        page: &Page,
    ) -> Result<(Vec<VersionView>, Option<String>)> {
        let mut views = Vec::new();
        for entry in self.registry().all() {
            let f = &entry.function;
            views.push(VersionView {
                function: f.clone(),
                version: VersionId::Latest,
                alias: None,
            });
            if all_versions {
                views.extend(f.versions.keys().map(|n| VersionView {
                    function: f.clone(),
                    version: VersionId::Published(*n),
                    alias: None,
                }));
            }
        }
        paginate(views, page, |v| version_key(&v.function.name, v.version))
    }

    /// The path of a stored package, for GetFunction's download link.
    pub fn code_package(&self, sha256_hex: &str) -> Option<std::path::PathBuf> {
        if sha256_hex.len() != 64 || !sha256_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.inner.pools.code_store.path(sha256_hex);
        path.is_file().then_some(path)
    }

    /// CreateFunction.
    pub async fn create_function(&self, input: CreateFunctionInput) -> Result<VersionView> {
        self.check_scope(&input.function)?;
        let name = FunctionName::try_new(input.function.name.clone()).map_err(|c| {
            let v: Violations = FieldViolation::new("functionName", &input.function.name, c).into();
            // AWS reports an over-long bare name as InvalidParameterValue, in validation wording.
            Error::InvalidParameter(v.to_string())
        })?;
        if input.package_type.as_deref() == Some("Image")
            || matches!(input.code, CodeInput::Image(_))
        {
            return Err(Error::InvalidParameter(
                "invokd runs .zip deployment packages only: PackageType Image is not supported. Provide Code.ZipFile.".into(),
            ));
        }
        let zip = code_bytes(input.code)?;
        let config = build_config(&name, input.config, None, input.architecture)?;
        if input.tags.len() > MAX_TAGS {
            return Err(Error::InvalidParameter(
                "Number of tags exceeds resource tag limit.".into(),
            ));
        }
        let code = self.store_code(zip).await?;
        let _write = self.inner.writes.lock().await;
        if self.registry().get(name.as_str()).is_some() {
            return Err(Error::FunctionExists(name.to_string()));
        }
        let now = now_ms();
        let latest = VersionRecord {
            version: VersionId::Latest,
            config,
            code,
            revision_id: uuid(),
            last_modified_ms: now,
        };
        let mut function = Function {
            name: name.clone(),
            latest,
            versions: BTreeMap::new(),
            aliases: BTreeMap::new(),
            tags: input.tags,
            last_published: 0,
            reserved_concurrency: None,
            event_invoke_configs: Default::default(),
            provisioned: Default::default(),
            recursive_loop: Default::default(),
            published_description: None,
            policy: Vec::new(),
            qualified_policies: BTreeMap::new(),
        };
        let published = if input.publish {
            Some(publish(&mut function, None))
        } else {
            None
        };
        if !self.inner.store.insert_function(&function).await? {
            return Err(Error::FunctionExists(name.to_string()));
        }
        let entry = self.install(function, None);
        Ok(VersionView {
            function: entry.function.clone(),
            version: published.unwrap_or(VersionId::Latest),
            alias: None,
        })
    }

    /// UpdateFunctionCode.
    pub async fn update_function_code(&self, input: UpdateCodeInput) -> Result<VersionView> {
        let scope = self.scope().clone();
        self.entry(&input.function, || scope.function_arn(&input.function.name))?;
        let zip = code_bytes(input.code)?;
        let code = self.store_code(zip).await?;
        self.modify(
            &input.function.name,
            input.revision_id.as_deref(),
            input.dry_run,
            |f| {
                f.latest.code = code;
                if let Some(a) = input.architecture {
                    f.latest.config.architecture = a;
                }
                touch(&mut f.latest);
                Ok(if input.publish {
                    Some(publish(f, None))
                } else {
                    None
                })
            },
        )
        .await
    }

    /// UpdateFunctionConfiguration.
    pub async fn update_function_configuration(
        &self,
        input: UpdateConfigInput,
    ) -> Result<VersionView> {
        let scope = self.scope().clone();
        let name = input.function.name.clone();
        let entry = self.entry(&input.function, || scope.function_arn(&name))?;
        let fname = entry.function.name.clone();
        self.modify(&name, input.revision_id.as_deref(), false, |f| {
            let config = build_config(&fname, input.config, Some(&f.latest.config), None)?;
            f.latest.config = config;
            touch(&mut f.latest);
            Ok(None)
        })
        .await
    }

    /// PublishVersion.
    pub async fn publish_version(
        &self,
        r: &FunctionRef,
        code_sha256: Option<&str>,
        description: Option<String>,
        revision_id: Option<&str>,
    ) -> Result<VersionView> {
        let scope = self.scope().clone();
        self.entry(r, || scope.function_arn(&r.name))?;
        self.modify(&r.name, revision_id, false, |f| {
            if let Some(sha) = code_sha256
                && sha != f.latest.code.sha256 {
                    return Err(Error::InvalidParameter(format!(
                        "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
                        f.latest.code.sha256
                    )));
                }
            Ok(Some(publish(f, description)))
        })
        .await
    }

    /// DeleteFunction: the whole function, or one published version.
    pub async fn delete_function(&self, r: &FunctionRef, qualifier: Option<&str>) -> Result<()> {
        let q = Self::effective_qualifier(r, qualifier)?;
        let scope = self.scope().clone();
        let entry = self.entry(r, || scope.function_arn(&r.name))?;
        match q.as_deref().map(Qualifier::interpret) {
            None => {
                let _write = self.inner.writes.lock().await;
                self.inner
                    .store
                    .delete_function(&entry.function.name)
                    .await?;
                if let Some(entry) = self.registry().remove(entry.function.name.as_str()) {
                    entry.retire();
                }
                self.inner
                    .pools
                    .admission
                    .remove(entry.function.name.as_str(), self.carved_total());
                Ok(())
            }
            Some(Qualifier::Latest) => Err(Error::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            )),
            Some(Qualifier::Alias(_)) => Err(Error::InvalidParameter(
                "Deletion of aliases is not currently supported.".into(),
            )),
            Some(Qualifier::Version(n)) => {
                self.modify(&r.name, None, false, |f| {
                    if f.versions.remove(&n).is_none() {
                        return Err(Error::FunctionNotFound(scope.function_arn(&r.name)));
                    }
                    // The version's resource-based policy goes with it.
                    f.qualified_policies.remove(&n.to_string());
                    let users: Vec<&str> = f
                        .aliases
                        .values()
                        .filter(|a| {
                            a.function_version == VersionId::Published(n) || a.additional_version_weights.contains_key(&n)
                        })
                        .map(|a| a.name.as_str())
                        .collect();
                    if !users.is_empty() {
                        return Err(Error::Conflict(format!(
                            "Unable to delete version because the following aliases reference it: [{}]",
                            users.join(", ")
                        )));
                    }
                    Ok(None)
                })
                .await
                .map(|_| ())
            }
        }
    }

    /// TagResource.
    pub async fn tag_resource(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<()> {
        let r = self.tag_target(arn)?;
        if tags.is_empty() {
            return Err(Error::InvalidParameter(
                "An error occurred and the request cannot be processed.".into(),
            ));
        }
        self.modify(&r.name, None, false, |f| {
            f.tags.extend(tags);
            if f.tags.len() > MAX_TAGS {
                return Err(Error::InvalidParameter(
                    "Number of tags exceeds resource tag limit.".into(),
                ));
            }
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// UntagResource.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let r = self.tag_target(arn)?;
        self.modify(&r.name, None, false, |f| {
            for k in keys {
                f.tags.remove(k);
            }
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// ListTags.
    pub fn list_tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let r = self.tag_target(arn)?;
        let scope = self.scope().clone();
        Ok(self
            .entry(&r, || scope.function_arn(&r.name))?
            .function
            .tags
            .clone())
    }

    fn tag_target(&self, arn: &str) -> Result<FunctionRef> {
        let violation = || {
            Error::Validation(
                FieldViolation::new(
                    "resource",
                    arn,
                    Constraint::Pattern(TAGGABLE_RESOURCE_PATTERN),
                )
                .into(),
            )
        };
        if !arn.starts_with("arn:") {
            return Err(violation());
        }
        let r = FunctionRef::parse(arn, NameShape::Plain).map_err(|_| violation())?;
        if r.region.is_none() || r.account.is_none() {
            return Err(violation());
        }
        if r.qualifier.is_some() {
            return Err(Error::InvalidParameter(
                "Tags on function aliases and versions are not supported. Please specify a function ARN.".into(),
            ));
        }
        self.check_scope(&r)?;
        let scope = self.scope().clone();
        self.entry(&r, || scope.function_arn(&r.name))?;
        Ok(r)
    }

    /// GetAccountSettings.
    pub fn account_settings(&self) -> AccountSettings {
        let all = self.registry().all();
        let reserved: u32 = all
            .iter()
            .filter_map(|e| e.function.reserved_concurrency)
            .sum();
        let concurrency = self.inner.config.account_concurrency;
        AccountSettings {
            total_code_size_limit: TOTAL_CODE_SIZE_LIMIT,
            code_size_unzipped: MAX_UNZIPPED_BYTES,
            code_size_zipped: MAX_ZIPPED_BYTES as u64,
            concurrent_executions: concurrency,
            unreserved_concurrent_executions: concurrency.saturating_sub(reserved),
            total_code_size: all.iter().map(|e| e.function.code_size()).sum(),
            function_count: all.len() as u64,
        }
    }

    /// Makes a committed function document live: a registry entry (keeping the environments of
    /// unchanged versions from `previous`) and its concurrency settings.
    pub(crate) fn install(
        &self,
        function: Function,
        previous: Option<&FunctionEntry>,
    ) -> Arc<FunctionEntry> {
        let entry =
            self.registry()
                .put(FunctionEntry::build(&self.inner.pools, function, previous));
        let f = &entry.function;
        let carved = self.carved_total();
        self.inner.pools.admission.configure(
            f.name.as_str(),
            f.reserved_concurrency,
            f.provisioned_total(),
            carved,
        );
        entry
    }

    /// Concurrency carved out of the account pool by every function's reservations.
    pub(crate) fn carved_total(&self) -> u32 {
        self.registry()
            .all()
            .iter()
            .map(|e| e.function.carved_concurrency())
            .sum()
    }

    /// Validates and stores a package; returns its reference.
    async fn store_code(&self, zip: Vec<u8>) -> Result<CodeRef> {
        if zip.len() > MAX_ZIPPED_BYTES {
            return Err(Error::TooLarge(format!(
                "Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes"
            )));
        }
        let store = self.inner.pools.code_store.clone();
        let code = tokio::task::spawn_blocking(move || -> Result<CodeRef> {
            invokd_supervisor::unpack::validate_zip(&zip).map_err(|e| match e {
                invokd_supervisor::ZipError::TooLarge(_) => {
                    Error::InvalidParameter(format!("Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"))
                }
                _ => Error::InvalidParameter(
                    "Could not unzip uploaded file. Please check your file, then try to upload again.".into(),
                ),
            })?;
            Ok(store.put(&zip)?)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        self.inner
            .store
            .record_code(&code.sha256_hex, code.size)
            .await?;
        Ok(code)
    }

    /// Applies `change` to the current document of `name` and commits it. `change` returns the
    /// version the response should show (`None`: `$LATEST`). With `dry_run`, nothing is stored.
    pub(crate) async fn modify(
        &self,
        name: &str,
        revision_id: Option<&str>,
        dry_run: bool,
        change: impl FnOnce(&mut Function) -> Result<Option<VersionId>>,
    ) -> Result<VersionView> {
        let _write = self.inner.writes.lock().await;
        let scope = self.scope();
        let entry = self
            .registry()
            .get(name)
            .ok_or_else(|| Error::FunctionNotFound(scope.function_arn(name)))?;
        if let Some(rev) = revision_id
            && rev != entry.function.latest.revision_id
        {
            return Err(Error::RevisionMismatch);
        }
        let mut function = (*entry.function).clone();
        let shown = change(&mut function)?.unwrap_or(VersionId::Latest);
        if dry_run {
            return Ok(VersionView {
                function: Arc::new(function),
                version: shown,
                alias: None,
            });
        }
        self.inner.store.update_function(&function).await?;
        let entry = self.install(function, Some(&entry));
        Ok(VersionView {
            function: entry.function.clone(),
            version: shown,
            alias: None,
        })
    }
}

const TAGGABLE_RESOURCE_PATTERN: &str = r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)";

/// A new revision of `$LATEST`.
pub(crate) fn touch(latest: &mut VersionRecord) {
    latest.revision_id = uuid();
    latest.last_modified_ms = now_ms();
}

/// Publishes `$LATEST` as a new version, or returns the newest version when nothing changed.
pub(crate) fn publish(f: &mut Function, description: Option<String>) -> VersionId {
    if let Some((n, last)) = f.versions.iter().next_back()
        && last.code == f.latest.code
        && last.config.same_but_description(&f.latest.config)
        && f.published_description
            .as_ref()
            .unwrap_or(&last.config.description)
            == &f.latest.config.description
    {
        return VersionId::Published(*n);
    }
    f.published_description = Some(f.latest.config.description.clone());
    let n = f.last_published + 1;
    f.last_published = n;
    let mut record = f.latest.clone();
    record.version = VersionId::Published(n);
    record.revision_id = uuid();
    record.last_modified_ms = now_ms();
    if let Some(d) = description {
        record.config.description = d;
    }
    f.versions.insert(n, record);
    // Publishing changes $LATEST's revision, as on AWS.
    f.latest.revision_id = uuid();
    VersionId::Published(n)
}

fn code_bytes(code: CodeInput) -> Result<Vec<u8>> {
    match code {
        CodeInput::Zip(z) => Ok(z),
        CodeInput::S3 { .. } => Err(Error::InvalidParameter(
            "invokd does not fetch code from Amazon S3: upload the .zip package in Code.ZipFile instead.".into(),
        )),
        CodeInput::Image(_) => Err(Error::InvalidParameter(
            "invokd runs .zip deployment packages only: container images (ImageUri) are not supported.".into(),
        )),
        CodeInput::Missing => Err(Error::InvalidParameter("Please provide a source for function code.".into())),
    }
}

fn runtime(s: &str) -> Result<Runtime> {
    Runtime::try_new(s).map_err(|e| match e {
        RuntimeError::Unknown(s) => Error::InvalidParameter(format!(
            "Value {s} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
            SUPPORTED_RUNTIMES.join(", ")
        )),
        RuntimeError::Deprecated(s) => Error::InvalidParameter(format!(
            "The runtime parameter of {s} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )),
    })
}

/// Applies a configuration input to `base` (or to the defaults for a new function), with the
/// service's semantic checks.
fn build_config(
    name: &FunctionName,
    input: ConfigInput,
    base: Option<&FunctionConfig>,
    architecture: Option<invokd_model::Architecture>,
) -> Result<FunctionConfig> {
    if let Some(feature) = input.unsupported.first() {
        return Err(Error::InvalidParameter(format!(
            "invokd does not support {feature} yet."
        )));
    }
    if input.durable {
        return Err(Error::InvalidParameter(
            "Durable functions (DurableConfig) are not supported by invokd yet.".into(),
        ));
    }
    if input.layers.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(Error::InvalidParameter(
            "invokd does not support Layers yet.".into(),
        ));
    }
    let runtime = match (input.runtime.as_deref(), base) {
        (Some(r), _) => runtime(r)?,
        (None, Some(b)) => b.runtime.clone(),
        (None, None) => return Err(mandatory()),
    };
    let handler = input
        .handler
        .or_else(|| base.and_then(|b| b.handler.clone()));
    if base.is_none() && handler.is_none() {
        return Err(mandatory());
    }
    if let Some(env) = &input.environment {
        let reserved: Vec<&str> = env
            .keys()
            .map(String::as_str)
            .filter(|k| RESERVED_VARIABLES.contains(k))
            .collect();
        if !reserved.is_empty() {
            return Err(Error::InvalidParameter(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
                reserved.join(", ")
            )));
        }
        let measured = serde_json::to_string(env).unwrap_or_default();
        if measured.len() > ENV_VARS_LIMIT {
            return Err(Error::InvalidParameter(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {measured}"
            )));
        }
    }
    let defaults = FunctionConfig {
        runtime: runtime.clone(),
        handler: None,
        role: String::new(),
        description: String::new(),
        timeout: FunctionConfig::DEFAULT_TIMEOUT,
        memory_size: FunctionConfig::DEFAULT_MEMORY,
        environment: None,
        architecture: Default::default(),
        ephemeral_storage: FunctionConfig::DEFAULT_EPHEMERAL,
        dead_letter_target: None,
        tracing_mode: Default::default(),
        logging: Default::default(),
        tenancy: None,
        kms_key_arn: None,
    };
    let b = base.cloned().unwrap_or(defaults);
    if base.is_some_and(|b| input.tenancy.is_some() && input.tenancy != b.tenancy) {
        return Err(Error::InvalidParameter(
            "TenancyConfig cannot be changed after the function is created.".into(),
        ));
    }
    let _ = name;
    Ok(FunctionConfig {
        runtime,
        handler,
        role: input.role.unwrap_or(b.role),
        description: input.description.unwrap_or(b.description),
        timeout: input.timeout.unwrap_or(b.timeout),
        memory_size: input.memory_size.unwrap_or(b.memory_size),
        environment: input.environment.or(b.environment),
        architecture: architecture.unwrap_or(b.architecture),
        ephemeral_storage: input.ephemeral_storage.unwrap_or(b.ephemeral_storage),
        dead_letter_target: match input.dead_letter_target {
            Some(t) => t,
            None => b.dead_letter_target,
        },
        tracing_mode: input.tracing_mode.unwrap_or(b.tracing_mode),
        logging: input.logging.unwrap_or(b.logging),
        tenancy: input.tenancy.or(b.tenancy),
        kms_key_arn: input.kms_key_arn.or(b.kms_key_arn),
    })
}

fn mandatory() -> Error {
    Error::InvalidParameter("Runtime and Handler are mandatory parameters for functions created with deployment packages.".into())
}

/// A key that sorts versions of a function in listing order: `$LATEST`, then 1, 2, ... 10.
pub(crate) fn version_key(name: &FunctionName, v: VersionId) -> String {
    match v {
        VersionId::Latest => format!("{name}\u{0}0"),
        VersionId::Published(n) => format!("{name}\u{0}1{n:020}"),
    }
}

/// Cuts one page out of `items` in order; markers are opaque to clients (base64 of a key).
pub(crate) fn paginate<T>(
    items: Vec<T>,
    page: &Page,
    key: impl Fn(&T) -> String,
) -> Result<(Vec<T>, Option<String>)> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let start = match &page.marker {
        None => 0,
        Some(m) => {
            let after = b64
                .decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::InvalidParameter("Invalid marker provided.".into()))?;
            items
                .iter()
                .position(|i| key(i) > after)
                .unwrap_or(items.len())
        }
    };
    let max = page.max_items.unwrap_or(50);
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = if rest.len() > max {
        rest.truncate(max);
        rest.last().map(|last| b64.encode(key(last)))
    } else {
        None
    };
    Ok((rest, next))
}

impl Engine {
    /// ListVersionsByFunction: `$LATEST` then every published version.
    pub fn list_versions(
        &self,
        r: &FunctionRef,
        page: &Page,
    ) -> Result<(Vec<VersionView>, Option<String>)> {
        let scope = self.scope().clone();
        let entry = self.entry(r, || scope.function_arn(&r.name))?;
        let f = &entry.function;
        let views: Vec<VersionView> = std::iter::once(VersionId::Latest)
            .chain(f.versions.keys().map(|n| VersionId::Published(*n)))
            .map(|version| VersionView {
                function: f.clone(),
                version,
                alias: None,
            })
            .collect();
        paginate(views, page, |v| version_key(&v.function.name, v.version))
    }
}
