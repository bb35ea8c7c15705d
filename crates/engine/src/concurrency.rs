//! Put/Get/DeleteFunctionConcurrency and the provisioned-concurrency operations.
//!
//! Reserved concurrency is function-wide; provisioned concurrency belongs to a published version
//! or an alias and keeps that many environments initialised ahead of invocations (see
//! [`crate::pool::Pool::provision`]). Both are carved out of the account's unreserved pool, which
//! may never drop below the configured minimum.

use std::sync::Arc;

use invokd_model::spec::Page;
use invokd_model::{Function, FunctionRef, ProvisionedConfig, Qualifier, VersionId};

use crate::Engine;
use crate::error::{Error, Result};
use crate::functions::paginate;
use crate::ids::now_ms;
use crate::pool::Pool;

/// One provisioned-concurrency configuration with its live status.
#[derive(Debug, Clone)]
pub struct ProvisionedView {
    pub function_arn: String,
    pub requested: u32,
    /// Environments initialised and kept warm (`Allocated` and `Available`).
    pub ready: u32,
    /// `IN_PROGRESS`, `READY` or `FAILED`.
    pub status: &'static str,
    pub status_reason: Option<String>,
    pub last_modified_ms: i64,
}

const QUALIFIED: &str = "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.";

impl Engine {
    fn unqualified_function(&self, r: &FunctionRef) -> Result<Arc<Function>> {
        if r.qualifier.is_some() {
            return Err(Error::InvalidParameter(QUALIFIED.into()));
        }
        self.check_scope(r)?;
        let scope = self.scope();
        self.inner
            .registry
            .function(&r.name)
            .ok_or_else(|| Error::FunctionNotFound(scope.qualified_arn(&r.name, "$LATEST")))
    }

    /// The unreserved concurrency the account would have if `f` carved `carve`.
    fn unreserved_if(&self, f: &Function, carve: u32) -> u32 {
        let admission = &self.inner.pools.admission;
        let others = self.carved_total().saturating_sub(f.carved_concurrency());
        admission.limit().saturating_sub(others + carve)
    }

    /// PutFunctionConcurrency.
    pub async fn put_function_concurrency(&self, r: &FunctionRef, reserved: u32) -> Result<u32> {
        let f = self.unqualified_function(r)?;
        let min = self.inner.pools.admission.min_unreserved();
        let provisioned = f.provisioned_total();
        if self.unreserved_if(&f, reserved.max(provisioned)) < min {
            return Err(Error::InvalidParameter(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{min}]."
            )));
        }
        if reserved < provisioned {
            return Err(Error::InvalidParameter(format!(
                " ReservedConcurrentExecutions  {reserved} should not be lower than function's total provisioned concurrency [{provisioned}]."
            )));
        }
        self.modify(f.name.as_str(), None, false, |f| {
            f.reserved_concurrency = Some(reserved);
            Ok(None)
        })
        .await?;
        Ok(reserved)
    }

    /// GetFunctionConcurrency.
    pub fn get_function_concurrency(&self, r: &FunctionRef) -> Result<Option<u32>> {
        Ok(self.unqualified_function(r)?.reserved_concurrency)
    }

    /// DeleteFunctionConcurrency.
    pub async fn delete_function_concurrency(&self, r: &FunctionRef) -> Result<()> {
        let f = self.unqualified_function(r)?;
        self.modify(f.name.as_str(), None, false, |f| {
            f.reserved_concurrency = None;
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// The function and the version a provisioned-concurrency qualifier designates, with AWS's
    /// errors for each way it can be wrong. `put` selects the `$LATEST` wording of Put.
    fn provisioned_target(
        &self,
        r: &FunctionRef,
        qualifier: &str,
        put: bool,
    ) -> Result<(Arc<Function>, VersionId)> {
        let q = Self::effective_qualifier(r, Some(qualifier))?.unwrap_or_default();
        self.check_scope(r)?;
        let scope = self.scope();
        let missing = |q: &Qualifier| match q {
            Qualifier::Alias(a) => Error::FunctionNotFoundAs(format!(
                "Cannot find alias arn: {}",
                scope.qualified_arn(&r.name, a)
            )),
            other => Error::FunctionNotFound(scope.qualified_arn(&r.name, other)),
        };
        let parsed = Qualifier::interpret(&q);
        if parsed == Qualifier::Latest {
            return Err(Error::InvalidParameter(if put {
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".into()
            } else {
                "The function resource provided must be an alias or a published version.".into()
            }));
        }
        let f = self
            .inner
            .registry
            .function(&r.name)
            .ok_or_else(|| missing(&parsed))?;
        let version = Self::resolve_qualifier(&f, &parsed).ok_or_else(|| missing(&parsed))?;
        Ok((f, version))
    }

    fn pool_of(&self, f: &Function, version: VersionId) -> Option<Arc<Pool>> {
        self.inner
            .registry
            .get(f.name.as_str())
            .and_then(|e| e.pools.get(&version).cloned())
    }

    fn provisioned_view(
        &self,
        f: &Function,
        qualifier: &str,
        config: &ProvisionedConfig,
    ) -> ProvisionedView {
        let version = Self::resolve_qualifier(f, &Qualifier::interpret(qualifier));
        let status = version
            .and_then(|v| self.pool_of(f, v))
            .map(|p| p.provision_status());
        let (ready, failure) = status.map(|s| (s.ready, s.failure)).unwrap_or((0, None));
        let status = if failure.is_some() {
            "FAILED"
        } else if ready >= config.requested {
            "READY"
        } else {
            "IN_PROGRESS"
        };
        ProvisionedView {
            function_arn: self.scope().qualified_arn(f.name.as_str(), qualifier),
            requested: config.requested,
            ready,
            status,
            status_reason: failure,
            last_modified_ms: config.last_modified_ms,
        }
    }

    /// PutProvisionedConcurrencyConfig.
    pub async fn put_provisioned_concurrency(
        &self,
        r: &FunctionRef,
        qualifier: &str,
        n: u32,
    ) -> Result<ProvisionedView> {
        let (f, version) = self.provisioned_target(r, qualifier, true)?;
        // Provisioned environments are made before any tenant is known, so they cannot be
        // dedicated to one: AWS does not offer the two together.
        if f.latest.config.tenancy.is_some() {
            return Err(Error::InvalidParameter(
                "Provisioned Concurrency is not supported for functions with tenant isolation mode enabled.".into(),
            ));
        }
        let conflict = f
            .provisioned
            .keys()
            .filter(|k| k.as_str() != qualifier)
            .find_map(|other| {
                let other_version = Self::resolve_qualifier(&f, &Qualifier::interpret(other))?;
                (other_version == version)
                    .then(|| matches!(Qualifier::interpret(other), Qualifier::Alias(_)))
            });
        match (conflict, Qualifier::interpret(qualifier)) {
            (Some(false), Qualifier::Alias(_)) => {
                return Err(Error::Conflict(
                    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version".into(),
                ));
            }
            (Some(true), _) => {
                return Err(Error::Conflict(
                    "Version is pointed by a Provisioned Concurrency alias".into(),
                ));
            }
            _ => {}
        }
        let total =
            f.provisioned_total() - f.provisioned.get(qualifier).map_or(0, |p| p.requested) + n;
        match f.reserved_concurrency {
            Some(reserved) if total > reserved => {
                return Err(Error::InvalidParameter(
                    "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function".into(),
                ));
            }
            Some(_) => {}
            None => {
                let unreserved = self.unreserved_if(&f, 0);
                if total > unreserved {
                    return Err(Error::InvalidParameter(format!(
                        "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}]."
                    )));
                }
                let min = self.inner.pools.admission.min_unreserved();
                if unreserved - total < min {
                    return Err(Error::InvalidParameter(format!(
                        "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{min}]."
                    )));
                }
            }
        }
        let config = ProvisionedConfig {
            requested: n,
            last_modified_ms: now_ms(),
        };
        let view = self
            .modify(f.name.as_str(), None, false, |f| {
                f.provisioned.insert(qualifier.to_owned(), config.clone());
                Ok(None)
            })
            .await?;
        if let Some(pool) = self.pool_of(&view.function, version) {
            pool.provision(n);
        }
        Ok(self.provisioned_view(&view.function, qualifier, &config))
    }

    /// GetProvisionedConcurrencyConfig.
    pub fn get_provisioned_concurrency(
        &self,
        r: &FunctionRef,
        qualifier: &str,
    ) -> Result<ProvisionedView> {
        let (f, _) = self.provisioned_target(r, qualifier, false)?;
        let config = f
            .provisioned
            .get(qualifier)
            .ok_or(Error::ProvisionedConfigNotFound)?;
        Ok(self.provisioned_view(&f, qualifier, config))
    }

    /// DeleteProvisionedConcurrencyConfig (deleting what does not exist succeeds, as on AWS).
    pub async fn delete_provisioned_concurrency(
        &self,
        r: &FunctionRef,
        qualifier: &str,
    ) -> Result<()> {
        let (f, version) = self.provisioned_target(r, qualifier, false)?;
        if !f.provisioned.contains_key(qualifier) {
            return Ok(());
        }
        self.modify(f.name.as_str(), None, false, |f| {
            f.provisioned.remove(qualifier);
            Ok(None)
        })
        .await?;
        if let Some(pool) = self.pool_of(&f, version) {
            pool.provision(0);
        }
        Ok(())
    }

    /// ListProvisionedConcurrencyConfigs.
    pub fn list_provisioned_concurrency(
        &self,
        r: &FunctionRef,
        page: &Page,
    ) -> Result<(Vec<ProvisionedView>, Option<String>)> {
        self.check_scope(r)?;
        let scope = self.scope();
        let f = self
            .inner
            .registry
            .function(&r.name)
            .ok_or_else(|| Error::FunctionNotFound(scope.function_arn(&r.name)))?;
        let views = f
            .provisioned
            .iter()
            .map(|(q, c)| self.provisioned_view(&f, q, c))
            .collect();
        paginate(views, page, |v| v.function_arn.clone())
    }

    /// Starts the provisioned environments every stored configuration asks for (at start-up).
    pub(crate) fn provision_all(&self) {
        for entry in self.inner.registry.all() {
            let f = &entry.function;
            for (q, config) in &f.provisioned {
                if let Some(pool) = Self::resolve_qualifier(f, &Qualifier::interpret(q))
                    .and_then(|v| entry.pools.get(&v))
                {
                    pool.provision(config.requested);
                }
            }
        }
    }
}

impl Engine {
    /// PutFunctionRecursionConfig.
    pub async fn put_recursion_config(
        &self,
        r: &FunctionRef,
        value: invokd_model::RecursiveLoop,
    ) -> Result<invokd_model::RecursiveLoop> {
        let f = self.function_snapshot(r)?;
        self.modify(f.name.as_str(), None, false, |f| {
            f.recursive_loop = value;
            Ok(None)
        })
        .await?;
        Ok(value)
    }

    /// GetFunctionRecursionConfig.
    pub fn get_recursion_config(&self, r: &FunctionRef) -> Result<invokd_model::RecursiveLoop> {
        Ok(self.function_snapshot(r)?.recursive_loop)
    }
}
