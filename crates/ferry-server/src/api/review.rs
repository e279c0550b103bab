//! The review of a task's versions (submit, approve, reject) and its
//! state (pause, resume). An approval starts the schedule unless the
//! approver keeps it paused.

use ferry_store::control::{Decision, TaskState};

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use super::tasks::{TaskView, task_view};
use crate::auth::{Approver, Caller, Operator};
use crate::service::tasks as svc;

/// Options of a review or state change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// The revision you read; a changed task is a 409. Required to approve
    /// or reject (a decision is about the version you reviewed); optional
    /// for the other actions.
    #[serde(default)]
    pub revision: Option<i64>,
    /// Why (kept with an approval or rejection).
    #[serde(default)]
    pub comment: Option<String>,
    /// Approve without starting the schedule: the task stays `approved`
    /// until a `resume` (default: an approval starts it, the task becomes
    /// `active`).
    #[serde(default)]
    pub keep_paused: Option<bool>,
}

/// Submits the latest version for approval.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/submit", tag = "tasks", request_body = ActionInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn submit_task(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<ActionInput>,
) -> ApiResult<Json<TaskView>> {
    let t = s.store.task(&id).await?;
    let t = s.store.submit_task(&t.id, body.revision).await?;
    tracing::info!(by = %caller.user.name, task = %t.name, version = t.latest_version, "submitted");
    Ok(Json(task_view(&s, t).await?))
}

async fn decide(
    s: &AppState,
    caller: &Caller,
    id: &str,
    body: ActionInput,
    decision: Decision,
) -> ApiResult<TaskView> {
    // A decision is about the version the approver read: without the
    // revision, an edit made after they read it could be approved unseen.
    let revision = body
        .revision
        .ok_or_else(|| ApiError::invalid("revision", "is required: send the revision you read"))?;
    let t = s.store.task(id).await?;
    if t.revision != revision {
        return Err(ApiError::conflict(format!(
            "task `{}` is at revision {}, not {revision}: it changed since you read it; \
             read it again and review the current version",
            t.name, t.revision
        )));
    }
    let latest = s.store.task_version(&t.id, t.latest_version).await?;
    if latest.author == caller.user.name && !s.config.allow_self_approval {
        return Err(ApiError::forbidden(format!(
            "`{}` wrote version {} and cannot also {} it; another approver must",
            caller.user.name,
            latest.version,
            if decision == Decision::Approved {
                "approve"
            } else {
                "reject"
            }
        )));
    }
    if let Some(c) = &body.comment
        && c.chars().count() > 2000
    {
        return Err(ApiError::invalid(
            "comment",
            "must be at most 2000 characters",
        ));
    }
    let t = svc::decide(
        s,
        &t,
        revision,
        decision,
        &caller.user.name,
        body.comment.as_deref(),
        body.keep_paused.unwrap_or(false),
    )
    .await?;
    task_view(s, t).await
}

/// Approves the latest (submitted) version: it becomes the one that runs.
/// Send the task's `revision` you reviewed (required; 409 if the task
/// changed since). An approver may not approve a version they wrote
/// (unless the server allows it).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/approve", tag = "tasks", request_body = ActionInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn approve_task(
    State(s): State<AppState>,
    caller: Approver,
    Path(id): Path<String>,
    Json(body): Json<ActionInput>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(
        decide(&s, &caller, &id, body, Decision::Approved).await?,
    ))
}

/// Rejects the latest (submitted) version. Send the task's `revision` you
/// reviewed (required; 409 if the task changed since).
#[utoipa::path(post, path = "/api/v1/tasks/{id}/reject", tag = "tasks", request_body = ActionInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reject_task(
    State(s): State<AppState>,
    caller: Approver,
    Path(id): Path<String>,
    Json(body): Json<ActionInput>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(
        decide(&s, &caller, &id, body, Decision::Rejected).await?,
    ))
}

async fn move_to(
    s: &AppState,
    caller: &Caller,
    id: &str,
    body: ActionInput,
    to: TaskState,
) -> ApiResult<TaskView> {
    let t = s.store.task(id).await?;
    let t = s.store.set_task_state(&t.id, body.revision, to).await?;
    tracing::info!(by = %caller.user.name, task = %t.name, state = %t.state, "task state changed");
    s.engine_wake.notify_one();
    task_view(s, t).await
}

/// Pauses an active task: its schedule stops and its queued instances wait.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/pause", tag = "tasks", request_body = ActionInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn pause_task(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<ActionInput>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(
        move_to(&s, &caller, &id, body, TaskState::Paused).await?,
    ))
}

/// Activates an approved or paused task.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/resume", tag = "tasks", request_body = ActionInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resume_task(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<ActionInput>,
) -> ApiResult<Json<TaskView>> {
    Ok(Json(
        move_to(&s, &caller, &id, body, TaskState::Active).await?,
    ))
}
