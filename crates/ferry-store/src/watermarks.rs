//! `ferry_watermarks`: where each incremental task stopped.

use ferry_core::Result;
use sqlx::{AnyConnection, Row};

use crate::model::{strings_from_json, strings_to_json};
use crate::{SavedWatermark, Store, Watermark, non_empty, now};

const UPSERT: &str = "INSERT INTO ferry_watermarks \
     (task, columns, cursor_values, run_id, set_by, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (task) DO UPDATE SET \
     columns = excluded.columns, cursor_values = excluded.cursor_values, \
     run_id = excluded.run_id, set_by = excluded.set_by, updated_at = excluded.updated_at";

/// Who saved a watermark, as stored in `ferry_watermarks.set_by`.
pub(crate) const SET_BY_RUN: &str = "run";
const SET_BY_USER: &str = "user";

/// A watermark's two JSON columns, encoded before any statement runs.
pub(crate) struct Encoded {
    columns: String,
    values: String,
}

impl Encoded {
    pub(crate) fn new(wm: &Watermark) -> Result<Self> {
        Ok(Encoded {
            columns: strings_to_json(&wm.columns)?,
            values: strings_to_json(&wm.values)?,
        })
    }
}

/// Inserts or replaces the watermark of `task` on `conn` (a pooled
/// connection or an open transaction).
pub(crate) async fn upsert(
    conn: &mut AnyConnection,
    task: &str,
    wm: &Encoded,
    set_by: &str,
    run_id: Option<&str>,
    updated_at: &str,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(UPSERT)
        .bind(task)
        .bind(wm.columns.as_str())
        .bind(wm.values.as_str())
        .bind(run_id)
        .bind(set_by)
        .bind(updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// The watermark saved for `task`, if any.
    pub async fn watermark(&self, task: &str) -> Result<Option<SavedWatermark>> {
        let doing = || format!("reading the watermark of task `{task}`");
        let row = sqlx::query(
            "SELECT columns, cursor_values, run_id, set_by, updated_at \
             FROM ferry_watermarks WHERE task = $1",
        )
        .bind(task)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.db(&doing(), e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let get = |name: &str| -> Result<String> {
            row.try_get::<String, _>(name)
                .map_err(|e| self.db(&doing(), e))
        };
        let columns = strings_from_json("watermark column list", &get("columns")?)?;
        let values = strings_from_json("watermark value list", &get("cursor_values")?)?;
        let run_id: Option<String> = row.try_get("run_id").map_err(|e| self.db(&doing(), e))?;
        Ok(Some(SavedWatermark {
            watermark: Watermark { columns, values },
            run_id,
            set_by: get("set_by")?,
            updated_at: get("updated_at")?,
        }))
    }

    /// Saves `wm` as the watermark of `task`, replacing any. `set_by_user`
    /// records whether a user set it (`"user"`) or a run (`"run"`); `run_id`
    /// is the run it came from, if any.
    pub async fn set_watermark(
        &self,
        task: &str,
        wm: &Watermark,
        set_by_user: bool,
        run_id: Option<&str>,
    ) -> Result<()> {
        non_empty("task", task)?;
        wm.validate("watermark")?;
        let encoded = Encoded::new(wm)?;
        let doing = || format!("saving the watermark of task `{task}`");
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| self.db(&doing(), e))?;
        let set_by = if set_by_user { SET_BY_USER } else { SET_BY_RUN };
        upsert(&mut conn, task, &encoded, set_by, run_id, &now())
            .await
            .map_err(|e| self.db(&doing(), e))
    }

    /// Deletes the watermark of `task`, so its next incremental run starts
    /// from the beginning. Returns whether there was one.
    pub async fn reset_watermark(&self, task: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM ferry_watermarks WHERE task = $1")
            .bind(task)
            .execute(&self.pool)
            .await
            .map_err(|e| self.db(&format!("resetting the watermark of task `{task}`"), e))?;
        Ok(res.rows_affected() > 0)
    }
}
