//! Durable state of invokd.
//!
//! [`Store`] keeps the registry (every function with its versions, aliases and tags) in a
//! database: SQLite in the data directory by default, with a schema kept portable so that a
//! PostgreSQL backend can serve several nodes behind the same surface. [`CodeStore`] keeps
//! deployment packages as files named by their SHA-256, so identical packages are stored once.
//!
//! Durability contract: a method returns only after its change is committed (SQLite in WAL mode
//! with `synchronous=FULL`, files fsync'd and renamed into place), so anything acknowledged to a
//! client survives a crash of the process or of the machine.

mod code;
mod events;
mod sqlite;

pub use code::CodeStore;
pub use events::{DeadLetter, NewEvent, Progress, QueuedEvent};

use std::path::Path;

use invokd_model::{Function, FunctionName};

/// Store failures. They are internal errors for clients; the message is for the operator's log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document for {name} is unreadable: {source}")]
    Corrupt {
        name: String,
        source: serde_json::Error,
    },
    #[error("code store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The registry's durable home.
#[derive(Debug, Clone)]
pub struct Store {
    backend: sqlite::SqliteBackend,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Ok(Store {
            backend: sqlite::SqliteBackend::open(path).await?,
        })
    }

    /// Every stored function, for rebuilding the registry at start-up.
    pub async fn load_functions(&self) -> Result<Vec<Function>> {
        self.backend.load_functions().await
    }

    /// Stores a new function. Returns `false`, storing nothing, if one of that name exists.
    pub async fn insert_function(&self, f: &Function) -> Result<bool> {
        self.backend.insert_function(f).await
    }

    /// Replaces the stored document of an existing function.
    pub async fn update_function(&self, f: &Function) -> Result<()> {
        self.backend.update_function(f).await
    }

    /// Removes a function. Removing one that does not exist is not an error.
    pub async fn delete_function(&self, name: &FunctionName) -> Result<()> {
        self.backend.delete_function(name).await
    }

    /// Records that a code package is completely stored.
    pub async fn record_code(&self, sha256_hex: &str, size: u64) -> Result<()> {
        self.backend.record_code(sha256_hex, size).await
    }

    fn pool(&self) -> &sqlx::SqlitePool {
        self.backend.pool()
    }

    /// Closes the database cleanly (checkpointing the WAL).
    pub async fn close(&self) {
        self.backend.close().await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
