-- Ferry state store, migration 1: watermarks and run history.
-- Shared by SQLite and PostgreSQL: only TEXT and BIGINT, which both accept.
-- Timestamps are RFC 3339 UTC text with six fraction digits
-- (2026-11-25T06:40:00.123456Z), so text order is time order.

CREATE TABLE ferry_watermarks (
    task          TEXT PRIMARY KEY,
    columns       TEXT NOT NULL,  -- JSON array of the cursor's column names
    cursor_values TEXT NOT NULL,  -- JSON array of strings: each value's exact text form
    run_id        TEXT NULL,      -- the run it came from, if any
    set_by        TEXT NOT NULL CHECK (set_by IN ('run', 'user')),
    updated_at    TEXT NOT NULL
);

CREATE TABLE ferry_runs (
    run_id         TEXT PRIMARY KEY,
    task           TEXT NOT NULL,
    mode           TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('running', 'publishing', 'succeeded', 'failed')),
    logical_time   TEXT NULL,
    window_start   TEXT NULL,
    window_end     TEXT NULL,
    watermark_from TEXT NULL,      -- JSON of a watermark (versioned)
    watermark_to   TEXT NULL,      -- JSON of a watermark (versioned)
    rows_read      BIGINT NULL,
    rows_written   BIGINT NULL,
    rows_dirty     BIGINT NULL,
    error          TEXT NULL,
    started_at     TEXT NOT NULL,
    finished_at    TEXT NULL
);

CREATE INDEX ferry_runs_task_started ON ferry_runs (task, started_at);
