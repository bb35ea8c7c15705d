//! Aliases: named pointers at a version, optionally splitting traffic with one more version.

use std::sync::Arc;

use invokd_model::spec::{AliasInput, Page};
use invokd_model::{Alias, Function, FunctionRef, VersionId};

use crate::Engine;
use crate::error::{Error, Result};
use crate::functions::paginate;
use crate::ids::uuid;

/// An alias with the function it belongs to.
#[derive(Debug, Clone)]
pub struct AliasView {
    pub function: Arc<Function>,
    pub alias: String,
}

impl AliasView {
    pub fn alias(&self) -> &Alias {
        &self.function.aliases[&self.alias]
    }
}

impl Engine {
    /// CreateAlias.
    pub async fn create_alias(&self, input: AliasInput) -> Result<AliasView> {
        let scope = self.scope().clone();
        let r = &input.function;
        self.check_scope(r)?;
        let name = input.name.clone();
        let version = input.function_version.unwrap_or(VersionId::Latest);
        if self.inner.registry.get(&r.name).is_none() {
            // AWS names the version the alias would have pointed to.
            return Err(Error::FunctionNotFound(
                scope.qualified_arn(&r.name, version),
            ));
        }
        let view = self
            .modify(&r.name, None, false, |f| {
                let arn = scope.qualified_arn(f.name.as_str(), &name);
                if f.aliases.contains_key(&name) {
                    return Err(Error::Conflict(format!("Alias already exists: {arn}")));
                }
                let weights = input.weights.unwrap_or_default();
                check_routing(f, version, &weights, &scope)?;
                f.aliases.insert(
                    name.clone(),
                    Alias {
                        name: name.clone(),
                        function_version: version,
                        description: input.description.unwrap_or_default(),
                        additional_version_weights: weights,
                        revision_id: uuid(),
                    },
                );
                Ok(None)
            })
            .await?;
        Ok(AliasView {
            function: view.function,
            alias: input.name,
        })
    }

    /// GetAlias.
    pub fn get_alias(&self, r: &FunctionRef, name: &str) -> Result<AliasView> {
        let f = self.function_snapshot(r)?;
        if !f.aliases.contains_key(name) {
            return Err(Error::FunctionNotFoundAs(format!(
                "Cannot find alias arn: {}",
                self.scope().qualified_arn(f.name.as_str(), name)
            )));
        }
        Ok(AliasView {
            function: f,
            alias: name.to_owned(),
        })
    }

    /// UpdateAlias.
    pub async fn update_alias(&self, input: AliasInput) -> Result<AliasView> {
        let scope = self.scope().clone();
        let r = &input.function;
        self.check_scope(r)?;
        let name = input.name.clone();
        let view = self
            .modify(&r.name, None, false, |f| {
                let arn = scope.qualified_arn(f.name.as_str(), &name);
                let Some(current) = f.aliases.get(&name).cloned() else {
                    return Err(Error::FunctionNotFoundAs(format!("Alias not found: {arn}")));
                };
                if input
                    .revision_id
                    .as_deref()
                    .is_some_and(|rev| rev != current.revision_id)
                {
                    return Err(Error::RevisionMismatch);
                }
                let version = input.function_version.unwrap_or(current.function_version);
                let weights = input.weights.unwrap_or(current.additional_version_weights);
                check_routing(f, version, &weights, &scope)?;
                f.aliases.insert(
                    name.clone(),
                    Alias {
                        name: name.clone(),
                        function_version: version,
                        description: input.description.unwrap_or(current.description),
                        additional_version_weights: weights,
                        revision_id: uuid(),
                    },
                );
                Ok(None)
            })
            .await?;
        Ok(AliasView {
            function: view.function,
            alias: input.name,
        })
    }

    /// DeleteAlias (deleting an alias that does not exist succeeds, as on AWS).
    pub async fn delete_alias(&self, r: &FunctionRef, name: &str) -> Result<()> {
        self.check_scope(r)?;
        let f = self.function_snapshot(r)?;
        if !f.aliases.contains_key(name) {
            return Ok(());
        }
        self.modify(&r.name, None, false, |f| {
            f.aliases.remove(name);
            // The alias's resource-based policy goes with it.
            f.qualified_policies.remove(name);
            Ok(None)
        })
        .await
        .map(|_| ())
    }

    /// ListAliases, optionally only those pointing at `version`.
    pub fn list_aliases(
        &self,
        r: &FunctionRef,
        version: Option<VersionId>,
        page: &Page,
    ) -> Result<(Vec<AliasView>, Option<String>)> {
        let f = self.function_snapshot(r)?;
        let views = f
            .aliases
            .values()
            .filter(|a| {
                version.is_none_or(|v| {
                    a.function_version == v
                        || matches!(v, VersionId::Published(n) if a.additional_version_weights.contains_key(&n))
                })
            })
            .map(|a| AliasView { function: f.clone(), alias: a.name.clone() })
            .collect();
        paginate(views, page, |v| v.alias.clone())
    }

    /// The current snapshot of a function named without qualifier.
    pub(crate) fn function_snapshot(&self, r: &FunctionRef) -> Result<Arc<Function>> {
        self.check_scope(r)?;
        let scope = self.scope();
        self.inner
            .registry
            .function(&r.name)
            .ok_or_else(|| Error::FunctionNotFound(scope.function_arn(&r.name)))
    }
}

/// AWS's rules for an alias's target and routing configuration.
fn check_routing(
    f: &Function,
    version: VersionId,
    weights: &std::collections::BTreeMap<u64, f64>,
    scope: &invokd_model::Scope,
) -> Result<()> {
    let name = f.name.as_str();
    if weights.len() > 1 {
        return Err(Error::InvalidParameter(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
        ));
    }
    if let VersionId::Published(n) = version
        && !f.versions.contains_key(&n)
    {
        return Err(Error::FunctionNotFound(scope.qualified_arn(name, n)));
    }
    for n in weights.keys() {
        if version == VersionId::Published(*n) {
            return Err(Error::InvalidParameter(format!(
                "Invalid function version {n}. Function version {n} is already included in routing configuration."
            )));
        }
        if !f.versions.contains_key(n) {
            return Err(Error::FunctionNotFound(scope.qualified_arn(name, n)));
        }
    }
    if version == VersionId::Latest && !weights.is_empty() {
        return Err(Error::InvalidParameter(
            "$LATEST is not supported for an alias pointing to more than 1 version".into(),
        ));
    }
    Ok(())
}
