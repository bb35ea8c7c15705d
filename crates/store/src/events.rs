//! The durable asynchronous-invocation queue: rows of `async_events` and `async_dead_letters`.

use serde_json::Value;
use sqlx::{Connection, Row, SqliteConnection};

use crate::sqlite::Durable;
use crate::{Result, Store};

/// Events per INSERT statement: 8 parameters each, far below SQLite's 32,766-parameter limit.
const ROWS_PER_INSERT: usize = 1000;

/// An Event invoke to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub request_id: String,
    pub function_name: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    pub trace_header: Option<String>,
    pub tenant_id: Option<String>,
    pub enqueued_at_ms: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: i64,
    pub request_id: String,
    pub function_name: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    pub trace_header: Option<String>,
    pub tenant_id: Option<String>,
    pub enqueued_at_ms: i64,
    pub due_at_ms: i64,
    pub attempts: u32,
    pub system_retries: u32,
    pub leased: bool,
    pub last_error: Option<String>,
}

/// A delivery that failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub id: i64,
    pub request_id: String,
    pub function_name: String,
    pub qualifier: Option<String>,
    pub payload: Vec<u8>,
    pub target: String,
    pub message: String,
    pub attributes: Option<Value>,
    pub error: String,
    pub failed_at_ms: i64,
}

/// What became of a leased event after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Done: remove it, keeping the deliveries that failed for good.
    Finished {
        id: i64,
        dead_letters: Vec<DeadLetter>,
    },
    /// Back in the queue for another attempt at `due_at_ms`.
    Rescheduled {
        id: i64,
        due_at_ms: i64,
        attempts: u32,
        system_retries: u32,
        last_error: String,
    },
}

fn event(row: &sqlx::sqlite::SqliteRow) -> QueuedEvent {
    QueuedEvent {
        id: row.get("id"),
        request_id: row.get("request_id"),
        function_name: row.get("function_name"),
        qualifier: row.get("qualifier"),
        payload: row.get("payload"),
        trace_header: row.get("trace_header"),
        tenant_id: row.get("tenant_id"),
        enqueued_at_ms: row.get("enqueued_at_ms"),
        due_at_ms: row.get("due_at_ms"),
        attempts: row.get::<i64, _>("attempts") as u32,
        system_retries: row.get::<i64, _>("system_retries") as u32,
        leased: row.get::<String, _>("state") == "leased",
        last_error: row.get("last_error"),
    }
}

impl Store {
    /// Stores a batch of events in one transaction: one fsync for all of them (group commit).
    pub async fn enqueue_events(&self, events: &[NewEvent]) -> Result<()> {
        let mut durable = Durable::acquire(self.pool()).await?;
        let done = insert_events(durable.conn(), events).await;
        durable.finish(done).await
    }
}

/// Inserts events atomically: one multi-row statement per chunk rather than one per event (every
/// statement is a round trip to SQLite's connection thread, and a batch may hold a thousand
/// events). A batch that fits one statement needs no explicit transaction: the statement commits
/// on its own, which saves the round trips of `BEGIN` and `COMMIT`.
async fn insert_events(conn: &mut SqliteConnection, events: &[NewEvent]) -> Result<()> {
    if events.len() <= ROWS_PER_INSERT {
        insert_rows(&mut *conn, events).await?;
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    for chunk in events.chunks(ROWS_PER_INSERT) {
        insert_rows(&mut tx, chunk).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One INSERT of every event of `chunk` (at most [`ROWS_PER_INSERT`]).
async fn insert_rows(conn: &mut SqliteConnection, chunk: &[NewEvent]) -> Result<()> {
    let mut insert = sqlx::QueryBuilder::new(
        "INSERT INTO async_events (request_id, function_name, qualifier, payload, trace_header, tenant_id, enqueued_at_ms, due_at_ms) ",
    );
    insert.push_values(chunk, |mut row, e| {
        row.push_bind(&e.request_id)
            .push_bind(&e.function_name)
            .push_bind(&e.qualifier)
            .push_bind(&e.payload)
            .push_bind(&e.trace_header)
            .push_bind(&e.tenant_id)
            .push_bind(e.enqueued_at_ms)
            .push_bind(e.enqueued_at_ms);
    });
    insert.build().execute(conn).await?;
    Ok(())
}

impl Store {
    /// Leases up to `limit` due events until `lease_until_ms`, oldest due first.
    pub async fn lease_due_events(
        &self,
        now_ms: i64,
        limit: u32,
        lease_until_ms: i64,
    ) -> Result<Vec<QueuedEvent>> {
        let rows = sqlx::query(
            "UPDATE async_events SET state = 'leased', lease_until_ms = ?2
             WHERE id IN (SELECT id FROM async_events WHERE state = 'queued' AND due_at_ms <= ?1 ORDER BY due_at_ms, id LIMIT ?3)
             RETURNING *",
        )
        .bind(now_ms)
        .bind(lease_until_ms)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut events: Vec<QueuedEvent> = rows.iter().map(event).collect();
        events.sort_by_key(|e| (e.due_at_ms, e.id));
        Ok(events)
    }

    /// Puts a leased event back in the queue for a later attempt.
    pub async fn reschedule_event(
        &self,
        id: i64,
        due_at_ms: i64,
        attempts: u32,
        system_retries: u32,
        last_error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE async_events SET state = 'queued', lease_until_ms = NULL, due_at_ms = ?2, attempts = ?3, system_retries = ?4, last_error = ?5 WHERE id = ?1",
        )
        .bind(id)
        .bind(due_at_ms)
        .bind(i64::from(attempts))
        .bind(i64::from(system_retries))
        .bind(last_error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a finished event, recording the deliveries that failed for good, atomically.
    pub async fn finish_event(&self, id: i64, dead_letters: &[DeadLetter]) -> Result<()> {
        if dead_letters.is_empty() {
            // One statement is atomic by itself: no transaction round trips.
            sqlx::query("DELETE FROM async_events WHERE id = ?1")
                .bind(id)
                .execute(self.pool())
                .await?;
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for d in dead_letters {
            insert_dead_letter(&mut tx, d).await?;
        }
        sqlx::query("DELETE FROM async_events WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records the progress of many events in one transaction (the workers' group commit):
    /// each statement is a round trip to SQLite's thread, so finished events are removed by
    /// one statement per batch.
    pub async fn record_progress(&self, batch: &[Progress]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let mut finished = Vec::new();
        for p in batch {
            match p {
                Progress::Finished { id, dead_letters } => {
                    finished.push(*id);
                    for d in dead_letters {
                        insert_dead_letter(&mut tx, d).await?;
                    }
                }
                Progress::Rescheduled {
                    id,
                    due_at_ms,
                    attempts,
                    system_retries,
                    last_error,
                } => {
                    sqlx::query(
                        "UPDATE async_events SET state = 'queued', lease_until_ms = NULL, due_at_ms = ?2, attempts = ?3, system_retries = ?4, last_error = ?5 WHERE id = ?1",
                    )
                    .bind(id)
                    .bind(due_at_ms)
                    .bind(i64::from(*attempts))
                    .bind(i64::from(*system_retries))
                    .bind(last_error)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        for ids in finished.chunks(ROWS_PER_INSERT) {
            let mut delete = sqlx::QueryBuilder::new("DELETE FROM async_events WHERE id IN (");
            let mut list = delete.separated(", ");
            for id in ids {
                list.push_bind(id);
            }
            delete.push(")");
            delete.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// When the earliest queued event is due, if any.
    pub async fn next_event_due_ms(&self) -> Result<Option<i64>> {
        let row =
            sqlx::query("SELECT MIN(due_at_ms) AS due FROM async_events WHERE state = 'queued'")
                .fetch_one(self.pool())
                .await?;
        Ok(row.get("due"))
    }

    /// Returns leases that ran out (a worker died) to the queue. With `all`, every lease (at
    /// start-up of the only node, whose workers are all gone).
    pub async fn release_leases(&self, now_ms: i64, all: bool) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE async_events SET state = 'queued', lease_until_ms = NULL WHERE state = 'leased' AND (?2 OR lease_until_ms < ?1)",
        )
        .bind(now_ms)
        .bind(all)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Events of one function (or all), oldest first.
    pub async fn list_events(
        &self,
        function: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QueuedEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM async_events WHERE (?1 IS NULL OR function_name = ?1) ORDER BY enqueued_at_ms, id LIMIT ?2",
        )
        .bind(function)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(event).collect())
    }

    /// Number of queued events and the enqueue time of the oldest.
    pub async fn queue_stats(&self) -> Result<(i64, Option<i64>)> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n, MIN(enqueued_at_ms) AS oldest FROM async_events")
                .fetch_one(self.pool())
                .await?;
        Ok((row.get("n"), row.get("oldest")))
    }

    /// Failed deliveries of one function (or all), oldest first.
    pub async fn list_dead_letters(
        &self,
        function: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT * FROM async_dead_letters WHERE (?1 IS NULL OR function_name = ?1) ORDER BY id LIMIT ?2",
        )
        .bind(function)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| DeadLetter {
                id: row.get("id"),
                request_id: row.get("request_id"),
                function_name: row.get("function_name"),
                qualifier: row.get("qualifier"),
                payload: row.get("payload"),
                target: row.get("target"),
                message: row.get("message"),
                attributes: row
                    .get::<Option<String>, _>("attributes")
                    .and_then(|a| serde_json::from_str(&a).ok()),
                error: row.get("error"),
                failed_at_ms: row.get("failed_at_ms"),
            })
            .collect())
    }

    /// Removes a dead letter (after a successful redrive).
    pub async fn delete_dead_letter(&self, id: i64) -> Result<bool> {
        let mut durable = Durable::acquire(self.pool()).await?;
        let done = sqlx::query("DELETE FROM async_dead_letters WHERE id = ?1")
            .bind(id)
            .execute(durable.conn())
            .await;
        durable
            .finish(done.map(|d| d.rows_affected() == 1).map_err(Into::into))
            .await
    }
}

async fn insert_dead_letter(conn: &mut SqliteConnection, d: &DeadLetter) -> Result<()> {
    sqlx::query(
        "INSERT INTO async_dead_letters (request_id, function_name, qualifier, payload, target, message, attributes, error, failed_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&d.request_id)
    .bind(&d.function_name)
    .bind(&d.qualifier)
    .bind(&d.payload)
    .bind(&d.target)
    .bind(&d.message)
    .bind(d.attributes.as_ref().map(Value::to_string))
    .bind(&d.error)
    .bind(d.failed_at_ms)
    .execute(conn)
    .await?;
    Ok(())
}
