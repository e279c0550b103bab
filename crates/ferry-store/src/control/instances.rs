//! Instances: creation (idempotent per task and logical time), listing,
//! rerun and stop, and the runner's lease (claim, heartbeat).
//!
//! # Leases
//!
//! A runner claims one instance at a time in a transaction:
//!
//! 1. pick the oldest claimable instance — `queued`, or `running` with an
//!    expired lease (its runner died) — of a task that is approved or
//!    active, skipping rows another runner has locked (`FOR UPDATE SKIP
//!    LOCKED` on PostgreSQL; SQLite has one writer at a time anyway);
//! 2. lock the task row and count its live running instances: at the task's
//!    `max_parallel`, skip it and try the next candidate;
//! 3. mark it `running` under this runner with `lease_expires_at`, mark the
//!    dead runner's attempt `lost`, and record a new attempt.
//!
//! The runner renews the lease while it works ([`Store::heartbeat`]); a
//! renewal that finds the lease gone tells the runner to stop.

use ferry_core::{Error, Result};
use sqlx::any::AnyRow;

use super::connections::stale;
use super::{Attempt, AttemptState, Get, Instance, InstanceState, Trigger, new_id};
use crate::db_error::is_unique_violation;
use crate::{Backend, Store, now};

/// How many instances [`Store::create_instances`] is meant to get at once.
pub const BATCH_INSTANCES: usize = 500;

const COLUMNS: &str = "SELECT id, task_id, version, logical_time, window_start, window_end, state, \
                       trigger, run_key, attempts, lease_owner, lease_expires_at, cancel_requested, \
                       created_by, queued_at, started_at, finished_at, revision, not_before \
                       FROM ferry_instances ";

/// An instance to create.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The task.
    pub task_id: String,
    /// The task version to run.
    pub version: i64,
    /// Logical time (stored form).
    pub logical_time: String,
    /// Window start (stored form).
    pub window_start: Option<String>,
    /// Window end (stored form).
    pub window_end: Option<String>,
    /// What creates it.
    pub trigger: Trigger,
    /// The caller's idempotency key.
    pub run_key: Option<String>,
    /// Who creates it.
    pub created_by: Option<String>,
}

/// Which instances to list.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Of this task.
    pub task_id: Option<String>,
    /// In this state.
    pub state: Option<InstanceState>,
    /// Logical time at or after this (stored form).
    pub from: Option<String>,
    /// Logical time before this (stored form).
    pub to: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// What a runner got from [`Store::claim`].
#[derive(Debug, Clone)]
pub struct Claim {
    /// The instance, now `running` under the runner.
    pub instance: Instance,
    /// The attempt just recorded.
    pub attempt: Attempt,
    /// The attempt a dead runner left, now `lost`, if this is a takeover.
    pub lost: Option<String>,
}

pub(crate) fn instance(row: &AnyRow) -> Result<Instance> {
    Ok(Instance {
        id: row.text("id")?,
        task_id: row.text("task_id")?,
        version: row.int("version")?,
        logical_time: row.text("logical_time")?,
        window_start: row.opt_text("window_start")?,
        window_end: row.opt_text("window_end")?,
        state: row.text("state")?.parse()?,
        trigger: row.text("trigger")?.parse()?,
        run_key: row.opt_text("run_key")?,
        attempt_count: row.int("attempts")?,
        lease_owner: row.opt_text("lease_owner")?,
        lease_expires_at: row.opt_text("lease_expires_at")?,
        cancel_requested: row.int("cancel_requested")? != 0,
        created_by: row.opt_text("created_by")?,
        queued_at: row.text("queued_at")?,
        started_at: row.opt_text("started_at")?,
        finished_at: row.opt_text("finished_at")?,
        revision: row.int("revision")?,
        not_before: row.opt_text("not_before")?,
    })
}

/// Now plus `secs`, in the stored form.
/// `at` plus `secs`, in the stored form.
fn after(at: chrono::DateTime<chrono::Utc>, secs: f64) -> String {
    crate::format_timestamp(at + chrono::Duration::milliseconds((secs * 1000.0) as i64))
}

impl Store {
    /// The store's clock: leases are set and compared in it, never in a
    /// node's own clock, so nodes whose clocks drift apart neither steal
    /// live leases nor keep dead ones.
    pub(crate) async fn store_now<'c, E>(&self, conn: E) -> Result<chrono::DateTime<chrono::Utc>>
    where
        E: sqlx::Executor<'c, Database = sqlx::Any>,
    {
        let sql = match self.backend {
            Backend::Postgres => {
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS now"
            }
            Backend::Sqlite => "SELECT strftime('%Y-%m-%dT%H:%M:%f000Z', 'now') AS now",
        };
        let row = sqlx::query(sql)
            .fetch_one(conn)
            .await
            .map_err(|e| self.db("reading the store's clock", e))?;
        let text = row.text("now")?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| Error::Internal(format!("the store's clock said {text:?}: {e}")))
    }

    /// Creates an instance, or returns the existing one for the same task
    /// and logical time when `run_key` matches it (a retried trigger). The
    /// flag says whether it was created. Another instance at that logical
    /// time with a different key is a conflict.
    pub async fn create_instance(&self, n: &NewInstance) -> Result<(Instance, bool)> {
        let id = new_id();
        let r = sqlx::query(
            "INSERT INTO ferry_instances (id, task_id, version, logical_time, window_start, \
             window_end, state, trigger, run_key, attempts, cancel_requested, created_by, \
             queued_at, revision) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, 0, 0, $9, $10, 1)",
        )
        .bind(id.as_str())
        .bind(n.task_id.as_str())
        .bind(n.version)
        .bind(n.logical_time.as_str())
        .bind(n.window_start.clone())
        .bind(n.window_end.clone())
        .bind(n.trigger.as_str())
        .bind(n.run_key.clone())
        .bind(n.created_by.clone())
        .bind(now())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok((self.instance(&id).await?, true)),
            Err(e) if is_unique_violation(&e) => {
                let existing = self
                    .instance_at(&n.task_id, &n.logical_time)
                    .await?
                    .ok_or_else(|| Error::Internal("unique violation without a row".into()))?;
                if n.run_key.is_some() && existing.run_key == n.run_key {
                    Ok((existing, false))
                } else {
                    Err(Error::conflict(format!(
                        "the task already has instance {} at logical time {} ({}); rerun it \
                         instead",
                        existing.id, existing.logical_time, existing.state
                    )))
                }
            }
            Err(e) => Err(self.db("creating an instance", e)),
        }
    }

    /// Creates the instances of `batch` (one task's, at distinct logical
    /// times) in one transaction; a logical time the task already has keeps
    /// its instance. Returns the ids created. Callers bound the batch (a
    /// backfill sends [`BATCH_INSTANCES`] at a time), so no transaction
    /// holds the store's write lock for thousands of inserts.
    pub async fn create_instances(&self, batch: &[NewInstance]) -> Result<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let mut created = Vec::with_capacity(batch.len());
        for n in batch {
            let id = new_id();
            let r = sqlx::query(
                "INSERT INTO ferry_instances (id, task_id, version, logical_time, window_start, \
                 window_end, state, trigger, run_key, attempts, cancel_requested, created_by, \
                 queued_at, revision) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, 0, 0, $9, $10, 1) \
                 ON CONFLICT (task_id, logical_time) DO NOTHING",
            )
            .bind(id.as_str())
            .bind(n.task_id.as_str())
            .bind(n.version)
            .bind(n.logical_time.as_str())
            .bind(n.window_start.clone())
            .bind(n.window_end.clone())
            .bind(n.trigger.as_str())
            .bind(n.run_key.clone())
            .bind(n.created_by.clone())
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("creating instances", e))?;
            if r.rows_affected() == 1 {
                created.push(id);
            }
        }
        self.commit(tx, "a batch of instances").await?;
        Ok(created)
    }

    /// The instance of a task at a logical time, if any.
    pub async fn instance_at(&self, task_id: &str, logical_time: &str) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "{COLUMNS} WHERE task_id = $1 AND logical_time = $2"
        ))
        .bind(task_id)
        .bind(logical_time)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db("reading an instance", e))?;
        row.as_ref().map(instance).transpose()
    }

    /// One instance.
    pub async fn instance(&self, id: &str) -> Result<Instance> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db("reading an instance", e))?;
        match row {
            Some(r) => instance(&r),
            None => Err(Error::not_found("instance", id)),
        }
    }

    /// Instances matching `f`, newest logical time first, and the total.
    pub async fn instances(&self, f: &InstanceFilter) -> Result<(Vec<Instance>, i64)> {
        // Unused filters compare against themselves (`$n IS NULL OR …`), so
        // one statement with a fixed parameter order serves every filter.
        let cond = "WHERE ($1 IS NULL OR task_id = $2) AND ($3 IS NULL OR state = $4) \
                    AND ($5 IS NULL OR logical_time >= $6) AND ($7 IS NULL OR logical_time < $8)";
        let state = f.state.map(|s| s.as_str().to_string());
        let list_sql =
            format!("{COLUMNS} {cond} ORDER BY logical_time DESC, id LIMIT $9 OFFSET $10");
        let count_sql = format!("SELECT count(*) AS n FROM ferry_instances {cond}");
        macro_rules! filtered {
            ($sql:expr) => {
                sqlx::query($sql)
                    .bind(f.task_id.clone())
                    .bind(f.task_id.clone())
                    .bind(state.clone())
                    .bind(state.clone())
                    .bind(f.from.clone())
                    .bind(f.from.clone())
                    .bind(f.to.clone())
                    .bind(f.to.clone())
            };
        }
        let rows = filtered!(&list_sql)
            .bind(f.limit)
            .bind(f.offset)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("listing instances", e))?;
        let total = filtered!(&count_sql)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.db("counting instances", e))?
            .int("n")?;
        Ok((rows.iter().map(instance).collect::<Result<_>>()?, total))
    }

    /// Queues a finished instance again (a new attempt, same window) to run
    /// task version `version`.
    pub async fn rerun_instance(&self, id: &str, version: i64) -> Result<Instance> {
        let r = sqlx::query(
            "UPDATE ferry_instances SET state = 'queued', queued_at = $1, cancel_requested = 0, \
             started_at = NULL, finished_at = NULL, not_before = NULL, version = $2, \
             revision = revision + 1 \
             WHERE id = $3 AND state IN ('succeeded', 'failed', 'cancelled')",
        )
        .bind(now())
        .bind(version)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("queuing a rerun", e))?;
        let current = self.instance(id).await?;
        if r.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "instance {id} is {}; only a succeeded, failed or cancelled instance can be rerun",
                current.state
            )));
        }
        Ok(current)
    }

    /// Stops an instance: a queued one is cancelled at once; a running one
    /// is flagged and its runner cancels the attempt (target unchanged).
    pub async fn stop_instance(&self, id: &str) -> Result<Instance> {
        let r = sqlx::query(
            "UPDATE ferry_instances SET state = 'cancelled', finished_at = $1, \
             revision = revision + 1 WHERE id = $2 AND state = 'queued'",
        )
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("cancelling an instance", e))?;
        if r.rows_affected() == 0 {
            let r = sqlx::query(
                "UPDATE ferry_instances SET cancel_requested = 1, revision = revision + 1 \
                 WHERE id = $1 AND state = 'running'",
            )
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db("asking a running instance to stop", e))?;
            if r.rows_affected() == 0 {
                let current = self.instance(id).await?;
                return Err(Error::conflict(format!(
                    "instance {id} is {}; only a queued or running instance can be stopped",
                    current.state
                )));
            }
        }
        self.instance(id).await
    }

    /// Claims the next instance for `runner` with a lease of `lease_secs`;
    /// see the module docs. `None` when nothing is claimable.
    pub async fn claim(&self, runner: &str, lease_secs: f64) -> Result<Option<Claim>> {
        let mut skip: Vec<String> = Vec::new();
        // A few candidates per call: those of tasks at their limit are
        // passed over.
        for _ in 0..8 {
            let mut tx = self.begin_write().await?;
            let clock = self.store_now(&mut *tx).await?;
            let at = crate::format_timestamp(clock);
            let lock = match self.backend {
                Backend::Postgres => " FOR UPDATE OF i SKIP LOCKED",
                Backend::Sqlite => "",
            };
            let skipped = if skip.is_empty() {
                String::new()
            } else {
                // Ids are ours (hex), checked before they are put here.
                let ids: Vec<String> = skip
                    .iter()
                    .filter(|s| s.chars().all(|c| c.is_ascii_hexdigit()))
                    .map(|s| format!("'{s}'"))
                    .collect();
                format!(" AND i.task_id NOT IN ({})", ids.join(", "))
            };
            let sql = format!(
                "SELECT i.id, i.task_id FROM ferry_instances i JOIN ferry_tasks t ON t.id = i.task_id \
                 WHERE ((i.state = 'queued' AND (i.not_before IS NULL OR i.not_before <= $1)) \
                 OR (i.state = 'running' AND i.lease_expires_at < $2)) \
                 AND t.state IN ('approved', 'active'){skipped} \
                 ORDER BY i.queued_at, i.logical_time LIMIT 1{lock}"
            );
            let Some(row) = sqlx::query(&sql)
                .bind(at.as_str())
                .bind(at.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.db("looking for an instance to run", e))?
            else {
                return Ok(None);
            };
            let id = row.text("id")?;
            let task_id = row.text("task_id")?;
            let task_lock = match self.backend {
                Backend::Postgres => " FOR UPDATE",
                Backend::Sqlite => "",
            };
            let limits_sql =
                format!("SELECT max_parallel FROM ferry_tasks WHERE id = $1{task_lock}");
            let limits = sqlx::query(&limits_sql)
                .bind(task_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.db("locking the task", e))?;
            let running = sqlx::query(
                "SELECT count(*) AS n FROM ferry_instances WHERE task_id = $1 \
                 AND state = 'running' AND lease_expires_at >= $2 AND id <> $3",
            )
            .bind(task_id.as_str())
            .bind(at.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.db("counting the task's running instances", e))?;
            if running.int("n")? >= limits.int("max_parallel")? {
                drop(tx);
                skip.push(task_id);
                continue;
            }
            let lost_row = sqlx::query(
                "SELECT id FROM ferry_attempts WHERE instance_id = $1 AND state = 'running'",
            )
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.db("reading the previous attempt", e))?;
            let lost = lost_row.map(|r| r.text("id")).transpose()?;
            if let Some(lost) = &lost {
                sqlx::query(
                    "UPDATE ferry_attempts SET state = 'lost', finished_at = $1, error_kind = 'lost', \
                     error_message = $2 WHERE id = $3",
                )
                .bind(at.as_str())
                .bind(format!(
                    "its runner stopped renewing the lease; {runner} took the instance over"
                ))
                .bind(lost.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.db("marking the lost attempt", e))?;
            }
            sqlx::query(
                "UPDATE ferry_instances SET state = 'running', lease_owner = $1, lease_expires_at = $2, \
                 attempts = attempts + 1, started_at = $3, finished_at = NULL, revision = revision + 1 \
                 WHERE id = $4",
            )
            .bind(runner)
            .bind(after(clock, lease_secs))
            .bind(at.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("claiming an instance", e))?;
            let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
                .bind(id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.db("reading the claimed instance", e))?;
            let inst = instance(&row)?;
            let attempt = Attempt {
                id: new_id(),
                instance_id: inst.id.clone(),
                number: inst.attempt_count,
                runner: runner.to_string(),
                run_id: None,
                state: AttemptState::Running,
                started_at: at.clone(),
                finished_at: None,
                rows_read: None,
                rows_written: None,
                bytes: None,
                rows_dirty: None,
                duration_ms: None,
                verified: None,
                error_kind: None,
                error_message: None,
                dirty_location: None,
            };
            sqlx::query(
                "INSERT INTO ferry_attempts (id, instance_id, number, runner, state, started_at) \
                 VALUES ($1, $2, $3, $4, 'running', $5)",
            )
            .bind(attempt.id.as_str())
            .bind(attempt.instance_id.as_str())
            .bind(attempt.number)
            .bind(runner)
            .bind(at.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("recording an attempt", e))?;
            self.commit(tx, "a claim").await?;
            return Ok(Some(Claim {
                instance: inst,
                attempt,
                lost,
            }));
        }
        Ok(None)
    }

    /// Renews `runner`'s lease on an instance. Returns whether a stop was
    /// asked for; a lease that is no longer the runner's is a conflict (the
    /// runner must stop: another runner has the instance).
    pub async fn heartbeat(&self, id: &str, runner: &str, lease_secs: f64) -> Result<bool> {
        let clock = self.store_now(&self.pool).await?;
        let r = sqlx::query(
            "UPDATE ferry_instances SET lease_expires_at = $1 \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(after(clock, lease_secs))
        .bind(id)
        .bind(runner)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db("renewing a lease", e))?;
        if r.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "runner {runner} no longer holds the lease on instance {id}"
            )));
        }
        Ok(self.instance(id).await?.cancel_requested)
    }

    /// Counts of instances by state.
    pub async fn instance_counts(&self) -> Result<Vec<(InstanceState, i64)>> {
        let rows = sqlx::query("SELECT state, count(*) AS n FROM ferry_instances GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.db("counting instances", e))?;
        rows.iter()
            .map(|r| Ok((r.text("state")?.parse()?, r.int("n")?)))
            .collect()
    }

    /// When the longest-waiting queued instance of a runnable task was
    /// queued, if any.
    pub async fn oldest_queued(&self) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT min(i.queued_at) AS t FROM ferry_instances i JOIN ferry_tasks t \
             ON t.id = i.task_id WHERE i.state = 'queued' AND t.state IN ('approved', 'active')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.db("finding the oldest queued instance", e))?;
        row.opt_text("t")
    }

    /// Checks the revision of an instance the caller read.
    pub async fn check_instance_revision(&self, id: &str, expected: i64) -> Result<()> {
        let current = self.instance(id).await?;
        if current.revision != expected {
            return Err(stale("instance", expected, current.revision));
        }
        Ok(())
    }
}
