-- The asynchronous invocation queue. A row exists from the moment an Event invoke is answered
-- 202 until its outcome (success, or failure records) has been delivered: at-least-once.
CREATE TABLE async_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id     TEXT    NOT NULL UNIQUE,
    function_name  TEXT    NOT NULL,
    -- The qualifier the caller used (NULL: unqualified, i.e. $LATEST).
    qualifier      TEXT,
    payload        BLOB    NOT NULL,
    trace_header   TEXT,
    tenant_id      TEXT,
    enqueued_at_ms INTEGER NOT NULL,
    -- When the next attempt may start.
    due_at_ms      INTEGER NOT NULL,
    -- Function invocations so far (the record's approximateInvokeCount).
    attempts       INTEGER NOT NULL DEFAULT 0,
    -- Throttled or failed-by-the-platform attempts so far (for backoff).
    system_retries INTEGER NOT NULL DEFAULT 0,
    -- 'queued' or 'leased' (a worker holds it until lease_until_ms).
    state          TEXT    NOT NULL DEFAULT 'queued',
    lease_until_ms INTEGER,
    last_error     TEXT
);
CREATE INDEX async_events_due ON async_events (state, due_at_ms);
CREATE INDEX async_events_function ON async_events (function_name);

-- Deliveries that could not be made (a destination or DLQ unreachable after retries), kept so that
-- nothing is dropped silently: `invokd events` lists them and can redrive them.
CREATE TABLE async_dead_letters (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id     TEXT    NOT NULL,
    function_name  TEXT    NOT NULL,
    qualifier      TEXT,
    payload        BLOB    NOT NULL,
    -- Where the delivery was going and what it carried.
    target         TEXT    NOT NULL,
    message        TEXT    NOT NULL,
    attributes     TEXT,
    error          TEXT    NOT NULL,
    failed_at_ms   INTEGER NOT NULL
);
