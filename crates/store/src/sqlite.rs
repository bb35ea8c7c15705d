//! The SQLite backend: one file in the data directory, WAL mode, full fsync on commit.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use invokd_model::{Function, FunctionName};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool};

use crate::{Error, Result, now_ms};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The connection with `synchronous=FULL`: each commit made on it is on disk before it returns,
/// so an acknowledged write survives a power loss, not only a crash of the process. (In WAL mode
/// that fsync also makes every earlier, NORMAL, commit durable.) [`Durable::finish`] sets the
/// connection back to NORMAL; one dropped without it only stays slower.
pub(crate) struct Durable(PoolConnection<Sqlite>);

impl Durable {
    pub(crate) async fn acquire(pool: &SqlitePool) -> Result<Durable> {
        let mut conn = pool.acquire().await?;
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
        Ok(Durable(conn))
    }

    pub(crate) fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.0
    }

    /// Passes `result` through once the connection is back to NORMAL.
    pub(crate) async fn finish<T>(mut self, result: Result<T>) -> Result<T> {
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *self.0)
            .await?;
        result
    }
}

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
            // NORMAL by default: the queue's bookkeeping (leases, retries, finished events) may
            // be lost to a power cut, which only means an event runs again (at least once).
            // Everything acknowledged to a client is written on a `Durable` connection (FULL).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One connection: almost every statement writes, and SQLite admits one writer at a time.
        // Writers queue here, in order, instead of in SQLite's busy handler, which sleeps
        // (milliseconds at a time) between retries.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            // A ping before every statement is one more round trip to the connection's thread;
            // a broken local file shows up on the statement itself.
            .test_before_acquire(false)
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
        let mut durable = Durable::acquire(&self.pool).await?;
        let done = sqlx::query(
            "INSERT INTO functions (name, doc, updated_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(f.name.as_str())
        .bind(doc)
        .bind(now_ms())
        .execute(durable.conn())
        .await;
        durable
            .finish(done.map(|d| d.rows_affected() == 1).map_err(Into::into))
            .await
    }

    pub(crate) async fn update_function(&self, f: &Function) -> Result<()> {
        let doc = serde_json::to_string(f).expect("a function document serializes");
        let mut durable = Durable::acquire(&self.pool).await?;
        let done = sqlx::query("UPDATE functions SET doc = ?2, updated_at_ms = ?3 WHERE name = ?1")
            .bind(f.name.as_str())
            .bind(doc)
            .bind(now_ms())
            .execute(durable.conn())
            .await;
        durable.finish(done.map(drop).map_err(Into::into)).await
    }

    pub(crate) async fn delete_function(&self, name: &FunctionName) -> Result<()> {
        let mut durable = Durable::acquire(&self.pool).await?;
        let done = sqlx::query("DELETE FROM functions WHERE name = ?1")
            .bind(name.as_str())
            .execute(durable.conn())
            .await;
        durable.finish(done.map(drop).map_err(Into::into)).await
    }

    pub(crate) async fn record_code(&self, sha256_hex: &str, size: u64) -> Result<()> {
        let mut durable = Durable::acquire(&self.pool).await?;
        let done = sqlx::query(
            "INSERT INTO code_blobs (sha256_hex, size, created_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (sha256_hex) DO NOTHING",
        )
        .bind(sha256_hex)
        .bind(size as i64)
        .bind(now_ms())
        .execute(durable.conn())
        .await;
        durable.finish(done.map(drop).map_err(Into::into)).await
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}
