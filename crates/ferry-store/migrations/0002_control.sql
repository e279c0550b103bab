-- Ferry state store, migration 2: the control plane.
-- Shared by SQLite and PostgreSQL: only TEXT and BIGINT. Ids are random
-- text made by Ferry; timestamps are RFC 3339 UTC text with six fraction
-- digits, so text order is time order. `revision` columns carry optimistic
-- concurrency: every change is `… WHERE revision = <the one the caller saw>`.

CREATE TABLE ferry_users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'operator', 'viewer')),
    disabled    BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL
);

-- API tokens: only the SHA-256 of a token is kept (tokens are 256-bit random,
-- so a fast hash is enough); `prefix` is its first characters, for lists.
CREATE TABLE ferry_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES ferry_users (id),
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NULL,
    revoked_at   TEXT NULL
);

-- Connections: `spec` is JSON without the password; `secret` is the
-- password sealed with AES-256-GCM (base64 of nonce || ciphertext+tag),
-- `key_id` names the key (its fingerprint), never the key itself.
CREATE TABLE ferry_connections (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    connector   TEXT NOT NULL,
    spec        TEXT NOT NULL,
    secret      TEXT NULL,
    key_id      TEXT NULL,
    revision    BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE ferry_tasks (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL CHECK (state IN
                      ('draft', 'submitted', 'rejected', 'approved', 'active', 'paused', 'deleted')),
    latest_version    BIGINT NOT NULL,
    approved_version  BIGINT NULL,
    max_parallel      BIGINT NOT NULL DEFAULT 1,
    revision          BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- Every edit is a new version; the approved one keeps running until a later
-- version is approved.
CREATE TABLE ferry_task_versions (
    task_id     TEXT NOT NULL REFERENCES ferry_tasks (id),
    version     BIGINT NOT NULL,
    spec        TEXT NOT NULL,   -- JSON TaskSpec (connections by name, no secrets)
    schedule    TEXT NULL,       -- JSON schedule
    review      TEXT NOT NULL CHECK (review IN
                ('draft', 'submitted', 'approved', 'rejected', 'superseded')),
    author      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
);

CREATE TABLE ferry_approvals (
    id          TEXT PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES ferry_tasks (id),
    version     BIGINT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by  TEXT NOT NULL,
    comment     TEXT NULL,
    decided_at  TEXT NOT NULL
);
CREATE INDEX ferry_approvals_task ON ferry_approvals (task_id, decided_at);

CREATE TABLE ferry_instances (
    id                TEXT PRIMARY KEY,
    task_id           TEXT NOT NULL REFERENCES ferry_tasks (id),
    version           BIGINT NOT NULL,
    logical_time      TEXT NOT NULL,
    window_start      TEXT NULL,
    window_end        TEXT NULL,
    state             TEXT NOT NULL CHECK (state IN
                      ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    trigger           TEXT NOT NULL CHECK (trigger IN ('manual', 'schedule', 'backfill', 'external')),
    run_key           TEXT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    lease_owner       TEXT NULL,
    lease_expires_at  TEXT NULL,
    cancel_requested  BIGINT NOT NULL DEFAULT 0,
    created_by        TEXT NULL,
    queued_at         TEXT NOT NULL,
    started_at        TEXT NULL,
    finished_at       TEXT NULL,
    revision          BIGINT NOT NULL,
    UNIQUE (task_id, logical_time)
);
CREATE INDEX ferry_instances_claim ON ferry_instances (state, queued_at);
CREATE INDEX ferry_instances_task ON ferry_instances (task_id, logical_time);

CREATE TABLE ferry_attempts (
    id             TEXT PRIMARY KEY,
    instance_id    TEXT NOT NULL REFERENCES ferry_instances (id),
    number         BIGINT NOT NULL,
    runner         TEXT NOT NULL,
    run_id         TEXT NULL,
    state          TEXT NOT NULL CHECK (state IN
                   ('running', 'succeeded', 'failed', 'cancelled', 'lost')),
    started_at     TEXT NOT NULL,
    finished_at    TEXT NULL,
    rows_read      BIGINT NULL,
    rows_written   BIGINT NULL,
    bytes          BIGINT NULL,
    rows_dirty     BIGINT NULL,
    duration_ms    BIGINT NULL,
    verified       BIGINT NULL,
    error_kind     TEXT NULL,
    error_message  TEXT NULL,
    dirty_location TEXT NULL,   -- where this attempt's dirty rows were recorded
    UNIQUE (instance_id, number)
);

CREATE TABLE ferry_attempt_logs (
    attempt_id  TEXT NOT NULL REFERENCES ferry_attempts (id),
    seq         BIGINT NOT NULL,
    at          TEXT NOT NULL,
    level       TEXT NOT NULL,
    message     TEXT NOT NULL,
    PRIMARY KEY (attempt_id, seq)
);
