-- Ferry state store, migration 3: the built-in scheduler's durable state.
-- `last_logical_time` is the newest logical time the scheduler has handled
-- (instance created, or skipped by policy) for the task's schedule version;
-- with the UNIQUE (task_id, logical_time) of instances, a restart neither
-- misses nor repeats a logical time. `not_before` holds a retry back until
-- its back-off has passed.

CREATE TABLE ferry_schedule_state (
    task_id            TEXT PRIMARY KEY REFERENCES ferry_tasks (id),
    version            BIGINT NOT NULL,
    last_logical_time  TEXT NULL,
    updated_at         TEXT NOT NULL
);

ALTER TABLE ferry_instances ADD COLUMN not_before TEXT NULL;
