//! The SQLite backend: one file in the data directory, WAL mode, full fsync on commit.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use invokd_model::{Function, FunctionName};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::{Error, Result, now_ms};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Debug, Clone)]
pub(crate) struct SqliteBackend {
    pool: SqlitePool,
}

impl SqliteBackend {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it returns, so an acknowledged write survives a
            // power loss too, not only a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteBackend { pool })
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn load_functions(&self) -> Result<Vec<Function>> {
        let rows = sqlx::query("SELECT name, doc FROM functions ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| {
                let name: String = row.get("name");
                let doc: String = row.get("doc");
                serde_json::from_str(&doc).map_err(|source| Error::Corrupt { name, source })
            })
            .collect()
    }

    pub(crate) async fn insert_function(&self, f: &Function) -> Result<bool> {
        let doc = serde_json::to_string(f).expect("a function document serializes");
        let done = sqlx::query(
            "INSERT INTO functions (name, doc, updated_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(f.name.as_str())
        .bind(doc)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn update_function(&self, f: &Function) -> Result<()> {
        let doc = serde_json::to_string(f).expect("a function document serializes");
        sqlx::query("UPDATE functions SET doc = ?2, updated_at_ms = ?3 WHERE name = ?1")
            .bind(f.name.as_str())
            .bind(doc)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn delete_function(&self, name: &FunctionName) -> Result<()> {
        sqlx::query("DELETE FROM functions WHERE name = ?1")
            .bind(name.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn record_code(&self, sha256_hex: &str, size: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO code_blobs (sha256_hex, size, created_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (sha256_hex) DO NOTHING",
        )
        .bind(sha256_hex)
        .bind(size as i64)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
