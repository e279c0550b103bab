-- Ferry state store, migration 4: what each external schedule engine
-- (Airflow, DolphinScheduler) holds for a task, as the server last made it.
-- The server's engine reconciler compares it with the tasks' approved
-- schedules and states: a change is registered, paused, resumed or removed
-- there, and the outcome (or the error) recorded here, so a restart knows
-- what exists in which engine and retries what failed.

CREATE TABLE ferry_engine_sync (
    task_id      TEXT PRIMARY KEY REFERENCES ferry_tasks (id),
    task_name    TEXT NOT NULL,
    engine       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    registered   INTEGER NOT NULL,
    active       INTEGER NOT NULL,
    synced_at    TEXT NOT NULL,
    error        TEXT NULL
);
