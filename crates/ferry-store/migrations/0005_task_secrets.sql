-- Ferry state store, migration 5: stored specs carry the format they were
-- written in (`spec_format`; a server refuses a format newer than it
-- knows instead of misreading it), and secrets written inline in a task's
-- endpoints (a password in a URL sent to the API) are taken out of the
-- stored spec and kept here, sealed with the server's key (AES-256-GCM),
-- as connection passwords are. The API shows them as `***`.

ALTER TABLE ferry_task_versions ADD COLUMN secret TEXT NULL;
ALTER TABLE ferry_task_versions ADD COLUMN key_id TEXT NULL;
ALTER TABLE ferry_task_versions ADD COLUMN spec_format BIGINT NOT NULL DEFAULT 1;
ALTER TABLE ferry_connections ADD COLUMN spec_format BIGINT NOT NULL DEFAULT 1;
