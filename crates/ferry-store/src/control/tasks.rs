//! Tasks, their versions and approval records.
//!
//! Every transition is one guarded statement on `ferry_tasks`
//! (`WHERE revision = …` when the caller sent a revision, and always
//! `WHERE state IN (…)`), followed in the same transaction by the version
//! and approval rows it implies.

use ferry_core::{Error, Result};
use sqlx::any::AnyRow;

use super::connections::stale;
use super::{Approval, Decision, Get, Review, TaskRecord, TaskState, TaskVersion, new_id};
use crate::db_error::is_unique_violation;
use crate::{Store, non_empty, now};

const TASK_COLUMNS: &str = "SELECT id, name, state, latest_version, approved_version, max_parallel, \
                            revision, created_by, created_at, updated_at FROM ferry_tasks ";
const VERSION_COLUMNS: &str = "SELECT task_id, version, spec, spec_format, schedule, secret, \
                               key_id, review, author, created_at FROM ferry_task_versions ";

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Unique name.
    pub name: String,
    /// JSON of the spec.
    pub spec: String,
    /// JSON of the schedule.
    pub schedule: Option<String>,
    /// The spec's inline secrets, sealed, and the id of the key that sealed them.
    pub secret: Option<Sealed>,
    /// Instances that may run at once.
    pub max_parallel: i64,
    /// The author.
    pub author: String,
}

/// A secret sealed by the server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The sealed text.
    pub text: String,
    /// The id of the key that sealed it.
    pub key_id: String,
}

/// A new version of a task.
#[derive(Debug, Clone)]
pub struct TaskEdit {
    /// The revision the editor read.
    pub expected_revision: i64,
    /// JSON of the spec.
    pub spec: String,
    /// JSON of the schedule.
    pub schedule: Option<String>,
    /// The spec's inline secrets, sealed.
    pub secret: Option<Sealed>,
    /// Instances that may run at once.
    pub max_parallel: i64,
    /// The author.
    pub author: String,
}

pub(crate) fn task(row: &AnyRow) -> Result<TaskRecord> {
    Ok(TaskRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        state: row.text("state")?.parse()?,
        latest_version: row.int("latest_version")?,
        approved_version: row.opt_int("approved_version")?,
        max_parallel: row.int("max_parallel")?,
        revision: row.int("revision")?,
        created_by: row.text("created_by")?,
        created_at: row.text("created_at")?,
        updated_at: row.text("updated_at")?,
    })
}

pub(crate) fn version(row: &AnyRow) -> Result<TaskVersion> {
    crate::check_spec_format(row.int("spec_format")?, "task version")?;
    Ok(TaskVersion {
        task_id: row.text("task_id")?,
        version: row.int("version")?,
        spec: row.text("spec")?,
        schedule: row.opt_text("schedule")?,
        secret: match (row.opt_text("secret")?, row.opt_text("key_id")?) {
            (Some(text), Some(key_id)) => Some(Sealed { text, key_id }),
            _ => None,
        },
        review: row.text("review")?.parse()?,
        author: row.text("author")?,
        created_at: row.text("created_at")?,
    })
}

fn approval(row: &AnyRow) -> Result<Approval> {
    Ok(Approval {
        id: row.text("id")?,
        task_id: row.text("task_id")?,
        version: row.int("version")?,
        decision: row.text("decision")?.parse()?,
        decided_by: row.text("decided_by")?,
        comment: row.opt_text("comment")?,
        decided_at: row.text("decided_at")?,
    })
}

/// `'a', 'b'` for an `IN (…)` list of fixed words (never user input).
fn word_list(states: &[TaskState]) -> String {
    states
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A task transition: which states it starts from and what it sets.
struct Transition<'a> {
    doing: &'a str,
    from: &'a [TaskState],
    /// SQL assignments after `SET` (fixed text; an extra value is bound as
    /// `$5`).
    set: &'a str,
}

impl Store {
    /// Creates a task with version 1 as a draft.
    pub async fn create_task(&self, t: &NewTask) -> Result<TaskRecord> {
        non_empty("name", &t.name)?;
        let id = new_id();
        let at = now();
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "INSERT INTO ferry_tasks (id, name, state, latest_version, approved_version, \
             max_parallel, revision, created_by, created_at, updated_at) \
             VALUES ($1, $2, 'draft', 1, NULL, $3, 1, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(t.name.as_str())
        .bind(t.max_parallel)
        .bind(t.author.as_str())
        .bind(at.as_str())
        .bind(at.as_str())
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::conflict(format!(
                    "a task named `{}` already exists",
                    t.name
                )));
            }
            Err(e) => return Err(self.db("creating a task", e)),
        }
        self.insert_version(
            &mut tx,
            &id,
            1,
            (&t.spec, t.schedule.as_deref(), t.secret.as_ref()),
            &t.author,
            &at,
        )
        .await?;
        self.commit(tx, "a new task").await?;
        self.task(&id).await
    }

    /// Records version `version`: `content` is the spec, the schedule and
    /// the sealed secrets.
    async fn insert_version(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        task_id: &str,
        version: i64,
        content: (&str, Option<&str>, Option<&Sealed>),
        author: &str,
        at: &str,
    ) -> Result<()> {
        let (spec, schedule, secret) = content;
        sqlx::query(
            "INSERT INTO ferry_task_versions (task_id, version, spec, schedule, secret, key_id, \
             review, author, created_at, spec_format) \
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9)",
        )
        .bind(task_id)
        .bind(version)
        .bind(spec)
        .bind(schedule)
        .bind(secret.map(|s| s.text.as_str()))
        .bind(secret.map(|s| s.key_id.as_str()))
        .bind(author)
        .bind(at)
        .bind(crate::SPEC_FORMAT)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.db("recording a task version", e))?;
        Ok(())
    }

    /// The task with this id or name (deleted tasks included).
    pub async fn task(&self, id_or_name: &str) -> Result<TaskRecord> {
        let row = sqlx::query(&format!(
            "{TASK_COLUMNS} WHERE id = $1 OR (name = $2 AND state <> 'deleted')"
        ))
        .bind(id_or_name)
        .bind(id_or_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db("reading a task", e))?;
        match row {
            Some(r) => task(&r),
            None => Err(Error::not_found("task", id_or_name)),
        }
    }

    /// Tasks, optionally in one state, by name; deleted ones only when asked.
    pub async fn tasks(&self, state: Option<TaskState>) -> Result<Vec<TaskRecord>> {
        let rows = match state {
            Some(s) => {
                sqlx::query(&format!("{TASK_COLUMNS} WHERE state = $1 ORDER BY name"))
                    .bind(s.as_str())
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query(&format!(
                    "{TASK_COLUMNS} WHERE state <> 'deleted' ORDER BY name"
                ))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| self.db("listing tasks", e))?;
        rows.iter().map(task).collect()
    }

    /// One version of a task.
    pub async fn task_version(&self, task_id: &str, version_no: i64) -> Result<TaskVersion> {
        let row = sqlx::query(&format!(
            "{VERSION_COLUMNS} WHERE task_id = $1 AND version = $2"
        ))
        .bind(task_id)
        .bind(version_no)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db("reading a task version", e))?;
        match row {
            Some(r) => version(&r),
            None => Err(Error::not_found(
                "task version",
                format!("{task_id} v{version_no}"),
            )),
        }
    }

    /// Every version of a task, oldest first.
    pub async fn task_versions(&self, task_id: &str) -> Result<Vec<TaskVersion>> {
        let rows = sqlx::query(&format!(
            "{VERSION_COLUMNS} WHERE task_id = $1 ORDER BY version"
        ))
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db("listing task versions", e))?;
        rows.iter().map(version).collect()
    }

    /// The approval records of a task, oldest first.
    pub async fn approvals(&self, task_id: &str) -> Result<Vec<Approval>> {
        let rows = sqlx::query(
            "SELECT id, task_id, version, decision, decided_by, comment, decided_at \
             FROM ferry_approvals WHERE task_id = $1 ORDER BY decided_at, id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.db("listing approvals", e))?;
        rows.iter().map(approval).collect()
    }

    /// Applies a guarded transition; a stale revision or a state outside
    /// `from` is a conflict naming what was found.
    async fn transition(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        expected_revision: Option<i64>,
        t: Transition<'_>,
        extra: Option<i64>,
    ) -> Result<()> {
        let sql = format!(
            "UPDATE ferry_tasks SET {}, revision = revision + 1, updated_at = $1 \
             WHERE id = $2 AND state IN ({}) AND ($3 < 0 OR revision = $4)",
            t.set,
            word_list(t.from)
        );
        let rev = expected_revision.unwrap_or(-1);
        let mut q = sqlx::query(&sql).bind(now()).bind(id).bind(rev).bind(rev);
        if let Some(v) = extra {
            q = q.bind(v);
        }
        let r = q
            .execute(&mut **tx)
            .await
            .map_err(|e| self.db(t.doing, e))?;
        if r.rows_affected() == 1 {
            return Ok(());
        }
        let current = self.task(id).await?;
        if let Some(expected) = expected_revision
            && expected != current.revision
        {
            return Err(stale("task", expected, current.revision));
        }
        Err(Error::conflict(format!(
            "cannot {} task `{}`: it is {} (allowed from: {})",
            t.doing,
            current.name,
            current.state,
            t.from
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// Stores a new version; the approved one (if any) keeps running until
    /// this one is approved. Unreviewed earlier versions are superseded.
    pub async fn edit_task(&self, id: &str, e: &TaskEdit) -> Result<TaskRecord> {
        use TaskState::*;
        let mut tx = self.begin_write().await?;
        self.transition(
            &mut tx,
            id,
            Some(e.expected_revision),
            Transition {
                doing: "edit",
                from: &[Draft, Submitted, Rejected, Approved, Active, Paused],
                set: "latest_version = latest_version + 1, max_parallel = $5, \
                      state = CASE WHEN approved_version IS NULL THEN 'draft' ELSE state END",
            },
            Some(e.max_parallel),
        )
        .await?;
        sqlx::query(
            "UPDATE ferry_task_versions SET review = 'superseded' \
             WHERE task_id = $1 AND review IN ('draft', 'submitted', 'rejected')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|err| self.db("superseding older versions", err))?;
        let row = sqlx::query("SELECT latest_version FROM ferry_tasks WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| self.db("reading the new version number", err))?;
        let v = row.int("latest_version")?;
        self.insert_version(
            &mut tx,
            id,
            v,
            (&e.spec, e.schedule.as_deref(), e.secret.as_ref()),
            &e.author,
            &now(),
        )
        .await?;
        self.commit(tx, "a task edit").await?;
        self.task(id).await
    }

    /// Sets the review of the latest version from one of `from` to `to`.
    async fn review_latest(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        id: &str,
        from: &[Review],
        to: Review,
    ) -> Result<i64> {
        let list = from
            .iter()
            .map(|r| format!("'{}'", r.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE ferry_task_versions SET review = $1 WHERE task_id = $2 \
             AND version = (SELECT latest_version FROM ferry_tasks WHERE id = $3) \
             AND review IN ({list})"
        );
        let r = sqlx::query(&sql)
            .bind(to.as_str())
            .bind(id)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.db("reviewing a task version", e))?;
        let row = sqlx::query(
            "SELECT v.version, v.review FROM ferry_task_versions v JOIN ferry_tasks t \
             ON t.id = v.task_id AND t.latest_version = v.version WHERE t.id = $1",
        )
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| self.db("reading the latest version", e))?;
        let version = row.int("version")?;
        if r.rows_affected() == 0 {
            return Err(Error::conflict(format!(
                "version {version} is {}; this needs a version that is {}",
                row.text("review")?,
                from.iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        Ok(version)
    }

    /// Submits the latest version for approval.
    pub async fn submit_task(
        &self,
        id: &str,
        expected_revision: Option<i64>,
    ) -> Result<TaskRecord> {
        use TaskState::*;
        let mut tx = self.begin_write().await?;
        self.transition(
            &mut tx,
            id,
            expected_revision,
            Transition {
                doing: "submit",
                from: &[Draft, Rejected, Approved, Active, Paused],
                set: "state = CASE WHEN approved_version IS NULL THEN 'submitted' ELSE state END",
            },
            None,
        )
        .await?;
        self.review_latest(
            &mut tx,
            id,
            &[Review::Draft, Review::Rejected],
            Review::Submitted,
        )
        .await?;
        self.commit(tx, "a submission").await?;
        self.task(id).await
    }

    /// Records an approver's decision on the latest (submitted) version. The
    /// caller has checked the approver may decide on it.
    pub async fn decide_task(
        &self,
        id: &str,
        expected_revision: Option<i64>,
        decision: Decision,
        by: &str,
        comment: Option<&str>,
    ) -> Result<TaskRecord> {
        use TaskState::*;
        let mut tx = self.begin_write().await?;
        let (set, review) = match decision {
            Decision::Approved => (
                "approved_version = latest_version, \
                 state = CASE WHEN state IN ('active', 'paused') THEN state ELSE 'approved' END",
                Review::Approved,
            ),
            Decision::Rejected => (
                "state = CASE WHEN approved_version IS NULL THEN 'rejected' ELSE state END",
                Review::Rejected,
            ),
        };
        if decision == Decision::Approved {
            sqlx::query(
                "UPDATE ferry_task_versions SET review = 'superseded' \
                 WHERE task_id = $1 AND review = 'approved'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("superseding the approved version", e))?;
        }
        self.transition(
            &mut tx,
            id,
            expected_revision,
            Transition {
                doing: decision.as_str(),
                from: &[Submitted, Approved, Active, Paused],
                set,
            },
            None,
        )
        .await?;
        let version = self
            .review_latest(&mut tx, id, &[Review::Submitted], review)
            .await?;
        sqlx::query(
            "INSERT INTO ferry_approvals (id, task_id, version, decision, decided_by, comment, \
             decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new_id())
        .bind(id)
        .bind(version)
        .bind(decision.as_str())
        .bind(by)
        .bind(comment)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| self.db("recording the decision", e))?;
        self.commit(tx, "an approval decision").await?;
        self.task(id).await
    }

    /// Moves an approved task between `approved`/`paused` and `active`, or
    /// deletes a task (its queued instances are cancelled in the same
    /// transaction, so nothing of it runs later).
    pub async fn set_task_state(
        &self,
        id: &str,
        expected_revision: Option<i64>,
        to: TaskState,
    ) -> Result<TaskRecord> {
        use TaskState::*;
        let (doing, from): (&str, &[TaskState]) = match to {
            Active => ("resume", &[Approved, Paused]),
            Paused => ("pause", &[Active]),
            Deleted => (
                "delete",
                &[Draft, Submitted, Rejected, Approved, Active, Paused],
            ),
            other => {
                return Err(Error::invalid(
                    "state",
                    format!("`{other}` is reached through review, not set directly"),
                ));
            }
        };
        let set = match to {
            Active => "state = 'active'",
            Paused => "state = 'paused'",
            _ => "state = 'deleted', name = name || '#deleted-' || id",
        };
        let mut tx = self.begin_write().await?;
        self.transition(
            &mut tx,
            id,
            expected_revision,
            Transition { doing, from, set },
            None,
        )
        .await?;
        if to == Deleted {
            sqlx::query(
                "UPDATE ferry_instances SET state = 'cancelled', finished_at = $1, \
                 revision = revision + 1 WHERE task_id = $2 AND state = 'queued'",
            )
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("cancelling the queued instances of a deleted task", e))?;
            sqlx::query(
                "UPDATE ferry_instances SET cancel_requested = 1 WHERE task_id = $1 AND state = 'running'",
            )
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.db("stopping the running instances of a deleted task", e))?;
        }
        self.commit(tx, "a task state change").await?;
        self.task(id).await
    }
}
