//! Tasks: a spec and schedule checked as the runner will check them (the
//! endpoints by their connectors, named connections resolved, what the
//! spec may reach confined by the server's trust), inline secrets taken out
//! and sealed, the review (approval starts the schedule unless the approver
//! keeps it paused), and the version an instance runs, ready to run.

use chrono::{DateTime, Utc};
use ferry_connectors::{
    Registry, keep_stored_secrets, put_task_secrets, redacted_secrets, resolve_task,
    take_task_secrets,
};
use ferry_core::pushdown::RunParams;
use ferry_core::schedule::{ScheduleSpec, ValidSchedule};
use ferry_core::{Error, Result, TaskSpec, ValidatedTask};
use ferry_scheduler::grid::Grid;
use ferry_store::control::{Decision, Instance, Sealed, TaskRecord, TaskState, TaskVersion};

use super::{connections, parse_json, prefix_field, to_json};
use crate::app::AppState;

/// Inline secrets of a task by endpoint field (see `ferry_connectors::take_task_secrets`).
pub type SecretMap = serde_json::Map<String, serde_json::Value>;

/// The stored spec as the API shows it: inline secrets as `***`.
pub fn shown_spec(s: &AppState, v: &TaskVersion) -> Result<serde_json::Value> {
    let raw: serde_json::Value = serde_json::from_str(&v.spec).unwrap_or_default();
    if v.secret.is_none() {
        return Ok(raw);
    }
    let Ok(mut spec) = serde_json::from_value::<TaskSpec>(raw.clone()) else {
        return Ok(raw);
    };
    let secrets = open_secrets(s, v)?;
    put_task_secrets(&mut spec, &redacted_secrets(&secrets))?;
    Ok(serde_json::to_value(&spec).unwrap_or(raw))
}

/// The inline secrets of a stored version, opened (server side only).
pub fn open_secrets(s: &AppState, v: &TaskVersion) -> Result<SecretMap> {
    let Some(sealed) = &v.secret else {
        return Ok(SecretMap::new());
    };
    let text = s.secrets.open(&sealed.text, Some(&sealed.key_id))?;
    serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored task secrets: {e}")))
}

/// The inline secrets sealed with the server's key (`None`: there are none).
pub fn seal_secrets(s: &AppState, secrets: &SecretMap) -> Result<Option<Sealed>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let text = to_json(secrets)?;
    Ok(Some(Sealed {
        text: s.secrets.seal(&text)?,
        key_id: s.secrets.key_id().to_string(),
    }))
}

/// A task spec and schedule checked as the runner will check them, with
/// connections resolved by name (errors name the field).
pub struct Checked {
    /// The spec to store: inline secrets taken out.
    pub spec: TaskSpec,
    /// The inline secrets, to store sealed.
    pub secrets: SecretMap,
    /// The schedule, if any.
    pub schedule: Option<ScheduleSpec>,
}

/// Checks a spec and schedule sent by a client; `stored` is the version
/// it edits, whose secrets a `***` keeps.
pub async fn check(
    s: &AppState,
    spec: &serde_json::Value,
    schedule: Option<&serde_json::Value>,
    stored: Option<&TaskVersion>,
) -> Result<Checked> {
    let mut parsed: TaskSpec = parse_json("spec", spec)?;
    let mut secrets = take_task_secrets(&mut parsed).map_err(|e| prefix_field("spec", e))?;
    let kept = match stored {
        Some(v) => open_secrets(s, v)?,
        None => SecretMap::new(),
    };
    let stored_spec: Option<TaskSpec> = stored.and_then(|v| serde_json::from_str(&v.spec).ok());
    keep_stored_secrets(&parsed, &mut secrets, stored_spec.as_ref(), &kept)
        .map_err(|e| prefix_field("spec", e))?;
    let schedule: Option<ScheduleSpec> = schedule
        .filter(|v| !v.is_null())
        .map(|v| parse_json("schedule", v))
        .transpose()?;
    if let Some(sc) = &schedule {
        s.engines.check(&sc.validate()?)?;
    }
    let trust = s.config.trust();
    let lookup = connections::lookup(s, &parsed, false).await?;
    let mut resolved = parsed.clone();
    put_task_secrets(&mut resolved, &secrets).map_err(|e| prefix_field("spec", e))?;
    resolve_task(&mut resolved, &lookup, &trust).map_err(|e| prefix_field("spec", e))?;
    resolved
        .validate(&Registry, &trust)
        .map_err(|e| prefix_field("spec", e))?;
    Ok(Checked {
        spec: parsed,
        secrets,
        schedule,
    })
}

/// Reviews the latest version of `t` (read at `revision`) as `by`: an
/// approval checks the version again (a connection may have changed since
/// it was submitted) and starts the schedule unless `keep_paused`.
pub async fn decide(
    s: &AppState,
    t: &TaskRecord,
    revision: i64,
    decision: Decision,
    by: &str,
    comment: Option<&str>,
    keep_paused: bool,
) -> Result<TaskRecord> {
    let latest = s.store.task_version(&t.id, t.latest_version).await?;
    if decision == Decision::Approved {
        let spec: serde_json::Value = serde_json::from_str(&latest.spec).unwrap_or_default();
        let schedule: Option<serde_json::Value> = latest
            .schedule
            .as_deref()
            .and_then(|x| serde_json::from_str(x).ok());
        check(s, &spec, schedule.as_ref(), Some(&latest)).await?;
    }
    let mut t = s
        .store
        .decide_task(&t.id, Some(revision), decision, by, comment)
        .await?;
    tracing::info!(by, task = %t.name, version = latest.version, decision = %decision, "review decision");
    if decision == Decision::Approved && !keep_paused && t.state == TaskState::Approved {
        t = s
            .store
            .set_task_state(&t.id, Some(t.revision), TaskState::Active)
            .await?;
        tracing::info!(by, task = %t.name, "schedule started by the approval");
    }
    s.engine_wake.notify_one();
    Ok(t)
}

/// The next logical time the built-in scheduler will run `t` at: for an
/// active task whose approved version has a built-in schedule.
pub async fn next_logical_time(s: &AppState, t: &TaskRecord) -> Result<Option<DateTime<Utc>>> {
    if t.state != TaskState::Active {
        return Ok(None);
    }
    let Some(version) = t.approved_version else {
        return Ok(None);
    };
    let v = s.store.task_version(&t.id, version).await?;
    let Some(text) = v.schedule.as_deref() else {
        return Ok(None);
    };
    let spec: ScheduleSpec =
        serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored schedule: {e}")))?;
    let valid = spec.validate()?;
    if let Some(state) = s.store.schedule_state(&t.id).await?
        && let Some(last) = state.last_logical_time.as_deref()
        && let Ok(last) = DateTime::parse_from_rfc3339(last)
    {
        return Ok(Grid::new(&valid).next_after(last.with_timezone(&Utc)));
    }
    Ok(Grid::new(&valid).next_after(Utc::now()))
}

/// The version `instance` runs, with its secrets put back and its
/// connections resolved, validated as the server's trust allows; the run's
/// parameters; and the schedule (for retries and timeouts).
pub async fn for_run(
    s: &AppState,
    instance: &Instance,
) -> Result<(ValidatedTask, RunParams, Option<ValidSchedule>)> {
    let version = s
        .store
        .task_version(&instance.task_id, instance.version)
        .await?;
    let schedule = match version.schedule.as_deref() {
        Some(text) => Some(
            serde_json::from_str::<ScheduleSpec>(text)
                .map_err(|e| Error::Internal(format!("stored schedule: {e}")))?
                .validate()?,
        ),
        None => None,
    };
    let mut spec: TaskSpec = serde_json::from_str(&version.spec)
        .map_err(|e| Error::Internal(format!("stored task spec: {e}")))?;
    let trust = s.config.trust();
    let secrets = open_secrets(s, &version)?;
    put_task_secrets(&mut spec, &secrets)?;
    let lookup = connections::lookup(s, &spec, true).await?;
    resolve_task(&mut spec, &lookup, &trust)?;
    let task = spec.validate(&Registry, &trust)?;
    let t = |v: &Option<String>| -> Result<Option<DateTime<Utc>>> {
        v.as_deref()
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|e| Error::Internal(format!("stored instant {v}: {e}")))
            })
            .transpose()
    };
    let logical = t(&Some(instance.logical_time.clone()))?;
    let window = t(&instance.window_start)?.zip(t(&instance.window_end)?);
    let params = RunParams {
        logical_time: logical,
        window,
    };
    params.validate()?;
    Ok((task, params, schedule))
}
