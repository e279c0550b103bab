//! `ferry_runs`: the run history, and the status changes that carry a run
//! through its publish (see the crate docs for the commit protocol).

use ferry_core::{Error, Result};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db_error::is_unique_violation;
use crate::model::{watermark_from_json, watermark_to_json};
use crate::watermarks::{self, Encoded, SET_BY_RUN};
use crate::{NewRun, RunCounts, RunRecord, RunStatus, Store, non_empty, normalize_timestamp, now};

/// A `SELECT` of every run column, followed by `$tail`.
macro_rules! select_runs {
    ($tail:literal) => {
        concat!(
            "SELECT run_id, task, mode, status, logical_time, window_start, window_end, \
             watermark_from, watermark_to, rows_read, rows_written, rows_dirty, error, \
             started_at, finished_at, bound FROM ferry_runs ",
            $tail
        )
    };
}

/// The `error` of a failed run whose publish never committed.
pub const CRASHED_BEFORE_COMMIT: &str = "crashed before its publish committed";

/// Which statuses a finishing change may start from.
#[derive(Clone, Copy)]
enum Allowed {
    /// `running` or `publishing`.
    Unfinished,
    /// `publishing` only.
    Publishing,
}

impl Allowed {
    fn update_sql(self) -> &'static str {
        match self {
            Allowed::Unfinished => {
                "UPDATE ferry_runs SET status = $1, finished_at = $2, rows_read = $3, \
                 rows_written = $4, rows_dirty = $5, error = $6 \
                 WHERE run_id = $7 AND status IN ('running', 'publishing')"
            }
            Allowed::Publishing => {
                "UPDATE ferry_runs SET status = $1, finished_at = $2, rows_read = $3, \
                 rows_written = $4, rows_dirty = $5, error = $6 \
                 WHERE run_id = $7 AND status = 'publishing'"
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Allowed::Unfinished => "a running or publishing run",
            Allowed::Publishing => "a publishing run",
        }
    }
}

impl Store {
    /// Records a new run of `run.task` with status `running`, started now.
    ///
    /// Timestamps may carry any offset; they are stored in UTC with six
    /// fraction digits. A run id that is already recorded is an error.
    pub async fn begin_run(&self, run: &NewRun) -> Result<()> {
        non_empty("run_id", &run.run_id)?;
        non_empty("task", &run.task)?;
        non_empty("mode", &run.mode)?;
        let time = |field: &str, t: &Option<String>| {
            t.as_deref()
                .map(|t| normalize_timestamp(field, t))
                .transpose()
        };
        let logical_time = time("logical_time", &run.logical_time)?;
        let window_start = time("window_start", &run.window_start)?;
        let window_end = time("window_end", &run.window_end)?;
        let watermark_from = match &run.watermark_from {
            Some(wm) => {
                wm.validate("watermark_from")?;
                Some(watermark_to_json(wm)?)
            }
            None => None,
        };
        let result = sqlx::query(
            "INSERT INTO ferry_runs (run_id, task, mode, status, logical_time, window_start, \
             window_end, watermark_from, started_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(run.run_id.as_str())
        .bind(run.task.as_str())
        .bind(run.mode.as_str())
        .bind(RunStatus::Running.as_str())
        .bind(logical_time)
        .bind(window_start)
        .bind(window_end)
        .bind(watermark_from)
        .bind(now())
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::invalid(
                "run_id",
                format!(
                    "run `{}` is already recorded in the state store {}; run ids must be unique",
                    run.run_id, self.label
                ),
            )),
            Err(e) => Err(self.db(
                &format!(
                    "recording the start of run `{}` of task `{}`",
                    run.run_id, run.task
                ),
                e,
            )),
        }
    }

    /// Moves a `running` run to `publishing` and records the watermark its
    /// publish will carry. Call it **before** the sink commits: a crash
    /// between the sink's commit and [`Store::finish_run`] then leaves the run
    /// in `publishing`, where [`Store::unfinished_runs`] finds it.
    pub async fn mark_publishing(
        &self,
        run_id: &str,
        watermark_to: Option<&crate::Watermark>,
    ) -> Result<()> {
        self.mark_publishing_bounded(run_id, watermark_to, None)
            .await
    }

    /// [`Store::mark_publishing`], also recording the bound the source put
    /// on the read and why (the run summary's `watermark.bound`).
    pub async fn mark_publishing_bounded(
        &self,
        run_id: &str,
        watermark_to: Option<&crate::Watermark>,
        bound: Option<&str>,
    ) -> Result<()> {
        let watermark_to = match watermark_to {
            Some(wm) => {
                wm.validate("watermark_to")?;
                Some(watermark_to_json(wm)?)
            }
            None => None,
        };
        let res = sqlx::query(
            "UPDATE ferry_runs SET status = 'publishing', watermark_to = $1, bound = $2 \
             WHERE run_id = $3 AND status = 'running'",
        )
        .bind(watermark_to)
        .bind(bound)
        .bind(run_id)
        .execute(&self.pool)
        .await
        .map_err(|e| self.db(&format!("marking run `{run_id}` as publishing"), e))?;
        if res.rows_affected() == 0 {
            return Err(self
                .wrong_status(run_id, "a running run", "be marked publishing")
                .await);
        }
        Ok(())
    }

    /// Ends a run, in ONE store transaction: the run becomes `succeeded`
    /// (`ok`) or `failed` with its finish time, counts and error; and when
    /// `ok` and the run carries a `watermark_to` (from
    /// [`Store::mark_publishing`]), that watermark becomes the task's, saved
    /// by this run. A failed run leaves the task's watermark as it was.
    pub async fn finish_run(
        &self,
        run_id: &str,
        ok: bool,
        counts: Option<RunCounts>,
        error: Option<&str>,
    ) -> Result<()> {
        let status = if ok {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        self.finish(run_id, status, Allowed::Unfinished, counts, error)
            .await
    }

    /// Repairs a run left in `publishing` by a crash, once the caller has
    /// read the sink's checkpoint:
    ///
    /// * `committed`: the same as `finish_run(ok)` — succeeded, the
    ///   watermark saved — with unknown counts and, in `error`, the note
    ///   "repaired: the sink's checkpoint shows run `…` committed" (so the
    ///   history shows the run was repaired; the status says it succeeded).
    ///   Only a `publishing` run can be committed.
    /// * not `committed`: failed, error [`CRASHED_BEFORE_COMMIT`]; the
    ///   watermark is untouched. A run left `running` can be resolved this
    ///   way too (it never reached its publish).
    pub async fn resolve_publishing(&self, run_id: &str, committed: bool) -> Result<()> {
        if committed {
            let note = format!("repaired: the sink's checkpoint shows run `{run_id}` committed");
            self.finish(
                run_id,
                RunStatus::Succeeded,
                Allowed::Publishing,
                None,
                Some(&note),
            )
            .await
        } else {
            self.finish(
                run_id,
                RunStatus::Failed,
                Allowed::Unfinished,
                None,
                Some(CRASHED_BEFORE_COMMIT),
            )
            .await
        }
    }

    /// The runs of `task` still `running` or `publishing`, oldest first:
    /// live runs of other processes, or runs a crash left behind.
    pub async fn unfinished_runs(&self, task: &str) -> Result<Vec<RunRecord>> {
        let doing = || format!("listing unfinished runs of task `{task}`");
        let rows = sqlx::query(select_runs!(
            "WHERE task = $1 AND status IN ('running', 'publishing') \
             ORDER BY started_at, run_id"
        ))
        .bind(task)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(&doing(), e))?;
        rows.iter().map(|r| self.run_from_row(r, &doing)).collect()
    }

    /// The latest `limit` runs of `task`, newest first.
    pub async fn runs(&self, task: &str, limit: u32) -> Result<Vec<RunRecord>> {
        let doing = || format!("listing runs of task `{task}`");
        let rows = sqlx::query(select_runs!(
            "WHERE task = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2"
        ))
        .bind(task)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db(&doing(), e))?;
        rows.iter().map(|r| self.run_from_row(r, &doing)).collect()
    }

    /// One run by id.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let doing = || format!("reading run `{run_id}`");
        let row = sqlx::query(select_runs!("WHERE run_id = $1"))
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.db(&doing(), e))?;
        row.map(|r| self.run_from_row(&r, &doing)).transpose()
    }

    /// The shared end of a run: status change and, on success, the
    /// watermark — in one transaction. The UPDATE is the transaction's first
    /// statement, so on SQLite it takes the write lock (waiting up to the
    /// busy timeout) before anything is read.
    async fn finish(
        &self,
        run_id: &str,
        status: RunStatus,
        from: Allowed,
        counts: Option<RunCounts>,
        error: Option<&str>,
    ) -> Result<()> {
        let doing = || format!("recording the end of run `{run_id}` ({status})");
        let (read, written, dirty) = match counts {
            Some(c) => (
                Some(count("rows_read", c.rows_read)?),
                Some(count("rows_written", c.rows_written)?),
                Some(count("rows_dirty", c.rows_dirty)?),
            ),
            None => (None, None, None),
        };
        let finished_at = now();
        let mut tx = self.pool.begin().await.map_err(|e| self.db(&doing(), e))?;
        let res = sqlx::query(from.update_sql())
            .bind(status.as_str())
            .bind(finished_at.as_str())
            .bind(read)
            .bind(written)
            .bind(dirty)
            .bind(error)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db(&doing(), e))?;
        if res.rows_affected() == 0 {
            tx.rollback().await.map_err(|e| self.db(&doing(), e))?;
            let action = match status {
                RunStatus::Succeeded => "succeed",
                _ => "fail",
            };
            return Err(self.wrong_status(run_id, from.describe(), action).await);
        }
        if status == RunStatus::Succeeded {
            let row = sqlx::query("SELECT task, watermark_to FROM ferry_runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.db(&doing(), e))?;
            let task: String = row.try_get("task").map_err(|e| self.db(&doing(), e))?;
            let to: Option<String> = row
                .try_get("watermark_to")
                .map_err(|e| self.db(&doing(), e))?;
            if let Some(json) = to {
                let wm = watermark_from_json("watermark_to", &json)?;
                let encoded = Encoded::new(&wm)?;
                watermarks::upsert(
                    &mut tx,
                    &task,
                    &encoded,
                    SET_BY_RUN,
                    Some(run_id),
                    &finished_at,
                )
                .await
                .map_err(|e| self.db(&format!("saving the watermark of task `{task}`"), e))?;
            }
        }
        tx.commit().await.map_err(|e| self.db(&doing(), e))
    }

    /// The error for a status change that matched no row: the run does not
    /// exist, or it is not in a status the change may start from.
    async fn wrong_status(&self, run_id: &str, allowed: &str, action: &str) -> Error {
        let status = sqlx::query("SELECT status FROM ferry_runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.map(|r| r.try_get::<String, _>("status")).transpose());
        match status {
            Ok(None) => Error::NotFound {
                what: "run",
                name: run_id.to_string(),
                hint: Some(format!("not recorded in the state store {}", self.label)),
            },
            Ok(Some(status)) => Error::invalid(
                "run_id",
                format!("run `{run_id}` is {status}; only {allowed} can {action}"),
            ),
            Err(e) => self.db(&format!("reading the status of run `{run_id}`"), e),
        }
    }

    fn run_from_row(&self, row: &AnyRow, doing: &dyn Fn() -> String) -> Result<RunRecord> {
        let text = |name: &str| -> Result<String> {
            row.try_get::<String, _>(name)
                .map_err(|e| self.db(&doing(), e))
        };
        let opt_text = |name: &str| -> Result<Option<String>> {
            row.try_get::<Option<String>, _>(name)
                .map_err(|e| self.db(&doing(), e))
        };
        let opt_count = |name: &str| -> Result<Option<u64>> {
            let v: Option<i64> = row.try_get(name).map_err(|e| self.db(&doing(), e))?;
            v.map(|n| {
                u64::try_from(n).map_err(|_| {
                    Error::Internal(format!(
                        "the state store {} holds a negative {name} ({n})",
                        self.label
                    ))
                })
            })
            .transpose()
        };
        let opt_wm = |name: &str| -> Result<Option<crate::Watermark>> {
            opt_text(name)?
                .map(|json| watermark_from_json(name, &json))
                .transpose()
        };
        let status = text("status")?;
        let status = status.parse::<RunStatus>().map_err(|_| {
            Error::Internal(format!(
                "the state store {} holds an unknown run status `{status}`",
                self.label
            ))
        })?;
        Ok(RunRecord {
            run_id: text("run_id")?,
            task: text("task")?,
            mode: text("mode")?,
            status,
            logical_time: opt_text("logical_time")?,
            window_start: opt_text("window_start")?,
            window_end: opt_text("window_end")?,
            watermark_from: opt_wm("watermark_from")?,
            watermark_to: opt_wm("watermark_to")?,
            rows_read: opt_count("rows_read")?,
            rows_written: opt_count("rows_written")?,
            rows_dirty: opt_count("rows_dirty")?,
            error: opt_text("error")?,
            started_at: text("started_at")?,
            finished_at: opt_text("finished_at")?,
            bound: opt_text("bound")?,
        })
    }
}

/// A row count as the BIGINT the store keeps.
fn count(field: &str, n: u64) -> Result<i64> {
    i64::try_from(n)
        .map_err(|_| Error::invalid(field, format!("{n} is beyond what the store keeps")))
}
