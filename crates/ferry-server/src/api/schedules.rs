//! A task's schedule (read, replace: a new version to review) and the
//! preview of a schedule's next logical times.

use chrono::Utc;
use ferry_core::schedule::ScheduleSpec;
use ferry_scheduler::grid::Grid;
use ferry_store::control::TaskEdit;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use super::tasks::{TaskView, max_parallel, schedule_ref, task_view, version_view};
use crate::auth::{Operator, Reader};
use crate::service::instances;
use crate::service::tasks as svc;
use crate::service::{parse_json, to_json};

/// A task's schedule: the latest version's, and the running (approved) one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// The latest version's number.
    pub version: i64,
    /// The latest version's schedule (none: started by hand or externally).
    #[schema(schema_with = schedule_ref)]
    pub schedule: Option<serde_json::Value>,
    /// The approved version's schedule, which is the one in force.
    #[schema(schema_with = schedule_ref)]
    pub approved_schedule: Option<serde_json::Value>,
}

/// A new schedule for a task.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    /// The schedule; `null` removes it.
    #[schema(schema_with = schedule_ref)]
    pub schedule: Option<serde_json::Value>,
    /// The revision you read (required).
    pub revision: i64,
}

/// The task's schedule.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/schedule", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = ScheduleView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_schedule(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    let t = s.store.task(&id).await?;
    let latest = version_view(&s, &s.store.task_version(&t.id, t.latest_version).await?)?;
    let approved_schedule = match t.approved_version {
        Some(v) => version_view(&s, &s.store.task_version(&t.id, v).await?)?.schedule,
        None => None,
    };
    Ok(Json(ScheduleView {
        version: latest.version,
        schedule: latest.schedule,
        approved_schedule,
    }))
}

/// Replaces (or with `null` removes) the schedule: a new task version with
/// the latest spec, to be reviewed like any edit.
#[utoipa::path(put, path = "/api/v1/tasks/{id}/schedule", tag = "tasks", request_body = ScheduleInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_schedule(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<ScheduleInput>,
) -> ApiResult<Json<TaskView>> {
    let current = s.store.task(&id).await?;
    let latest = s
        .store
        .task_version(&current.id, current.latest_version)
        .await?;
    let spec: serde_json::Value = serde_json::from_str(&latest.spec)
        .map_err(|e| ferry_core::Error::Internal(e.to_string()))?;
    let c = svc::check(&s, &spec, body.schedule.as_ref(), Some(&latest)).await?;
    let t = s
        .store
        .edit_task(
            &current.id,
            &TaskEdit {
                expected_revision: body.revision,
                spec: latest.spec.clone(),
                schedule: c.schedule.as_ref().map(to_json).transpose()?,
                secret: latest.secret.clone(),
                max_parallel: max_parallel(&c.schedule),
                author: caller.user.name.clone(),
            },
        )
        .await?;
    tracing::info!(by = %caller.user.name, task = %t.name, version = t.latest_version, "schedule changed");
    Ok(Json(task_view(&s, t).await?))
}

/// A schedule to preview.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The schedule.
    #[schema(schema_with = schedule_ref)]
    pub schedule: serde_json::Value,
    /// Logical times after this instant (RFC 3339); default now.
    #[serde(default)]
    pub after: Option<String>,
    /// How many (1–100, default 5).
    #[serde(default)]
    pub count: Option<u32>,
}

/// One upcoming run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewTime {
    /// The logical time.
    pub logical_time: String,
    /// When it fires (logical time + delay).
    pub due_time: String,
    /// Its window start, inclusive.
    pub window_start: String,
    /// Its window end, exclusive (= the logical time).
    pub window_end: String,
}

/// The next logical times of a schedule, with windows and due times, to
/// check a schedule before saving it. Errors name the field (`schedule.cron`,
/// `schedule.time_zone`, …).
#[utoipa::path(post, path = "/api/v1/schedules/preview", tag = "tasks", request_body = PreviewInput,
    responses((status = 200, body = Vec<PreviewTime>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn preview_schedule(
    _caller: Reader,
    Json(body): Json<PreviewInput>,
) -> ApiResult<Json<Vec<PreviewTime>>> {
    let spec: ScheduleSpec = parse_json("schedule", &body.schedule)?;
    let valid = spec.validate()?;
    let count = body.count.unwrap_or(5);
    if !(1..=100).contains(&count) {
        return Err(ApiError::invalid("count", "must be between 1 and 100"));
    }
    let mut t = match &body.after {
        Some(a) => instances::instant("after", a)?,
        None => Utc::now(),
    };
    let grid = Grid::new(&valid);
    let fmt = ferry_store::format_timestamp;
    let mut out = Vec::new();
    while out.len() < count as usize {
        let Some(next) = grid.next_after(t) else {
            break;
        };
        let (start, end) = grid.window(next)?;
        out.push(PreviewTime {
            logical_time: fmt(next),
            due_time: fmt(grid.due_time(next)),
            window_start: fmt(start),
            window_end: fmt(end),
        });
        t = next;
    }
    Ok(Json(out))
}
