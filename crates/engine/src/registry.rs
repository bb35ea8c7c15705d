//! The in-memory registry: every function, ready for the invoke path without touching the store.
//!
//! An entry is an immutable snapshot of a function plus one environment pool per version.
//! Control-plane writes build a new entry and swap it in (copy-on-write), so readers never wait
//! for a writer and an invocation keeps the snapshot it resolved even while the function
//! changes. The map lock is a `std` lock held only to clone or replace an `Arc`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytestring::ByteString;
use invokd_model::{Function, VersionId, VersionRecord};

use crate::admission::FunctionUsage;
use crate::pool::{Pool, PoolContext};

/// A function snapshot and the environment pools of its versions.
#[derive(Debug)]
pub(crate) struct FunctionEntry {
    pub function: Arc<Function>,
    /// Its unqualified ARN, the `Lambda-Runtime-Invoked-Function-Arn` of most invocations.
    pub arn: ByteString,
    pub pools: HashMap<VersionId, Arc<Pool>>,
    /// The function's concurrency usage, shared by all its snapshots.
    pub usage: Arc<FunctionUsage>,
}

impl FunctionEntry {
    /// Builds the entry for `function`, keeping the pools of `previous` whose version runs the
    /// same code and configuration (so warm environments survive unrelated changes) and retiring
    /// the others.
    pub fn build(
        ctx: &Arc<PoolContext>,
        function: Function,
        previous: Option<&FunctionEntry>,
    ) -> FunctionEntry {
        let function = Arc::new(function);
        let mut pools = HashMap::new();
        let versions = std::iter::once(&function.latest).chain(function.versions.values());
        for record in versions {
            let reused = previous
                .and_then(|p| p.pools.get(&record.version))
                .filter(|pool| same_runtime_inputs(pool.record(), record))
                .cloned();
            let pool = reused.unwrap_or_else(|| Pool::new(ctx.clone(), &function, record.clone()));
            pools.insert(record.version, pool);
        }
        if let Some(previous) = previous {
            for (version, pool) in &previous.pools {
                if !pools.get(version).is_some_and(|p| Arc::ptr_eq(p, pool)) {
                    pool.retire();
                }
            }
        }
        let usage = ctx.admission.usage(function.name.as_str());
        FunctionEntry {
            arn: crate::ids::shared(ctx.scope.function_arn(function.name.as_str())),
            function,
            pools,
            usage,
        }
    }

    /// Retires every pool (the function is gone).
    pub fn retire(&self) {
        for pool in self.pools.values() {
            pool.retire();
        }
    }
}

/// Whether an environment started for `a` may serve `b`.
fn same_runtime_inputs(a: &VersionRecord, b: &VersionRecord) -> bool {
    a.code == b.code && a.config == b.config
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    map: RwLock<HashMap<String, Arc<FunctionEntry>>>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<Arc<FunctionEntry>> {
        self.map.read().expect("registry lock").get(name).cloned()
    }

    /// The current snapshot of a function's document.
    pub fn function(&self, name: &str) -> Option<Arc<Function>> {
        self.get(name).map(|e| e.function.clone())
    }

    pub fn put(&self, entry: FunctionEntry) -> Arc<FunctionEntry> {
        let entry = Arc::new(entry);
        self.map
            .write()
            .expect("registry lock")
            .insert(entry.function.name.to_string(), entry.clone());
        entry
    }

    pub fn remove(&self, name: &str) -> Option<Arc<FunctionEntry>> {
        self.map.write().expect("registry lock").remove(name)
    }

    /// Every entry, sorted by function name.
    pub fn all(&self) -> Vec<Arc<FunctionEntry>> {
        let mut all: Vec<_> = self
            .map
            .read()
            .expect("registry lock")
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.function.name.cmp(&b.function.name));
        all
    }
}
