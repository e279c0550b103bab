//! Tasks: create and edit (each edit a new version), review (submit,
//! approve, reject), operate (pause, resume, delete, start an instance,
//! backfill a range).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use ferry_core::schedule::ScheduleSpec;
use ferry_scheduler::grid::Grid;
use ferry_store::control::{
    Approval, Decision, Instance, NewTask, Review, TaskEdit, TaskRecord, TaskState, TaskVersion,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use crate::auth::{Approver, Caller, Operator, Reader};
use crate::service::instances;
use crate::service::tasks as svc;
use crate::service::{parse_json, to_json};

fn task_spec_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("TaskSpec"))
}

fn schedule_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ScheduleSpec"))
}

/// A task definition as sent by a client.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// The task spec (the same as a `ferry run` job file); endpoints may
    /// name connections (`connection: <name>`) instead of URLs.
    #[schema(schema_with = task_spec_ref)]
    pub spec: serde_json::Value,
    /// When it runs; absent for tasks started by hand or externally.
    #[serde(default)]
    #[schema(schema_with = schedule_ref)]
    pub schedule: Option<serde_json::Value>,
    /// On update: the revision you read (required).
    #[serde(default)]
    pub revision: Option<i64>,
}

/// One version of a task.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    /// Number, from 1.
    pub version: i64,
    /// Its spec.
    #[schema(schema_with = task_spec_ref)]
    pub spec: serde_json::Value,
    /// Its schedule.
    #[schema(schema_with = schedule_ref)]
    pub schedule: Option<serde_json::Value>,
    /// Its review state.
    pub review: Review,
    /// Who wrote it.
    pub author: String,
    /// When.
    pub created_at: String,
}

/// A task with its latest and its approved version.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// The task's record (state, versions, revision).
    #[serde(flatten)]
    pub task: TaskRecord,
    /// The newest version.
    pub latest: VersionView,
    /// The version that runs (when it differs from the latest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved: Option<VersionView>,
    /// When the built-in scheduler runs it next (an active task with a
    /// schedule): the next logical time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_logical_time: Option<String>,
}

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

/// An instance to start.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// Logical time (RFC 3339). Default: the schedule's latest logical time
    /// at or before now, or now for a task without a schedule. With a
    /// schedule it must be one of its logical times.
    #[serde(default)]
    pub logical_time: Option<String>,
    /// Window start, inclusive (RFC 3339); with `window_end`, overrides the
    /// schedule's window.
    #[serde(default)]
    pub window_start: Option<String>,
    /// Window end, exclusive (RFC 3339).
    #[serde(default)]
    pub window_end: Option<String>,
    /// Idempotency key: a retry with the same key and logical time returns
    /// the same instance (200) instead of a 409. Marks the trigger external.
    #[serde(default)]
    pub run_key: Option<String>,
}

/// Options of the start call.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StartQuery {
    /// Wait up to this many seconds (0–3600) for the instance to end before
    /// answering (for schedulers that can only make one HTTP call per run:
    /// the body then shows the final `state`).
    pub wait_seconds: Option<u64>,
}

/// A logical-time range to backfill.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillInput {
    /// First logical time, inclusive (RFC 3339).
    pub from: String,
    /// Last logical time, inclusive (RFC 3339).
    pub to: String,
}

/// What a backfill did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackfillResult {
    /// Instances created (queued), oldest first. Under overlap `queue` or
    /// `skip` they run one at a time; under `parallel` up to `max_parallel`.
    pub created: Vec<Instance>,
    /// Logical times that already had an instance (left as they are; rerun
    /// them to run again).
    pub existing: Vec<String>,
}

/// The schemars JSON Schemas of `TaskSpec` and `ScheduleSpec`, moved into
/// the document's components (JSON Schema 2020-12 is OpenAPI 3.1's schema
/// dialect, so they fit as they are once `$defs` references are rewritten).
pub fn add_task_spec_schema(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    let mut add = |name: &str, schema: serde_json::Value| {
        let text = serde_json::to_string(&schema)
            .unwrap_or_default()
            .replace("\"#/$defs/", "\"#/components/schemas/");
        let mut schema: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let defs = schema
            .as_object_mut()
            .and_then(|o| {
                o.remove("$schema");
                o.remove("$defs")
            })
            .unwrap_or_default();
        let schemas = &mut doc["components"]["schemas"];
        if let serde_json::Value::Object(defs) = defs {
            for (k, v) in defs {
                schemas[k] = v;
            }
        }
        schemas[name] = schema;
    };
    add("TaskSpec", ferry_connectors::schema::task_json_schema());
    add("ConnectionInput", connection_input_schema());
    add(
        "ScheduleSpec",
        serde_json::to_value(schemars::schema_for!(ScheduleSpec)).unwrap_or_default(),
    );
    doc
}

/// The body of `POST/PUT /connections`: `name`, `revision` and one
/// connector's settings, assembled from the registry.
fn connection_input_schema() -> serde_json::Value {
    let extra = serde_json::json!({
        "name": {"type": "string", "description": "Unique name tasks refer to (`connection: <name>`)."},
        "revision": {"type": ["integer", "null"], "format": "int64", "description": "On update: the revision you read (required)."}
    });
    let extra = extra.as_object().cloned().unwrap_or_default();
    ferry_connectors::schema::connection_json_schema(&extra, &["name"])
}

fn version_view(s: &AppState, v: &TaskVersion) -> ApiResult<VersionView> {
    Ok(VersionView {
        version: v.version,
        spec: svc::shown_spec(s, v)?,
        schedule: v
            .schedule
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok()),
        review: v.review,
        author: v.author.clone(),
        created_at: v.created_at.clone(),
    })
}

async fn task_view(s: &AppState, t: TaskRecord) -> ApiResult<TaskView> {
    let latest = s.store.task_version(&t.id, t.latest_version).await?;
    let approved = match t.approved_version {
        Some(v) if v != t.latest_version => {
            Some(version_view(s, &s.store.task_version(&t.id, v).await?)?)
        }
        _ => None,
    };
    let next = svc::next_logical_time(s, &t).await?;
    Ok(TaskView {
        latest: version_view(s, &latest)?,
        approved,
        next_logical_time: next.map(ferry_store::format_timestamp),
        task: t,
    })
}

fn max_parallel(schedule: &Option<ScheduleSpec>) -> i64 {
    schedule.as_ref().map_or(1, |s| i64::from(s.max_parallel()))
}

/// Live tasks (or, with `state`, those in it).
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    params(("state" = Option<TaskState>, Query, description = "Only tasks in this state")),
    responses((status = 200, body = Vec<TaskRecord>), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    _caller: Reader,
    super::extract::Query(q): super::extract::Query<StateQuery>,
) -> ApiResult<Json<Vec<TaskRecord>>> {
    Ok(Json(s.store.tasks(q.state).await?))
}

/// Filter of the task list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateQuery {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
}

/// Creates a task: version 1, a draft.
#[utoipa::path(post, path = "/api/v1/tasks", tag = "tasks", request_body = TaskInput,
    responses((status = 201, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_task(
    State(s): State<AppState>,
    caller: Operator,
    Json(body): Json<TaskInput>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    if body.revision.is_some() {
        return Err(ApiError::invalid(
            "revision",
            "only an update takes a revision",
        ));
    }
    let c = svc::check(&s, &body.spec, body.schedule.as_ref(), None).await?;
    let t = s
        .store
        .create_task(&NewTask {
            name: c.spec.name.clone(),
            spec: to_json(&c.spec)?,
            schedule: c.schedule.as_ref().map(to_json).transpose()?,
            secret: svc::seal_secrets(&s, &c.secrets)?,
            max_parallel: max_parallel(&c.schedule),
            author: caller.user.name.clone(),
        })
        .await?;
    tracing::info!(by = %caller.user.name, task = %t.name, "task created");
    Ok((StatusCode::CREATED, Json(task_view(&s, t).await?)))
}

/// One task with its latest and approved versions.
#[utoipa::path(get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_task(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<TaskView>> {
    let t = s.store.task(&id).await?;
    Ok(Json(task_view(&s, t).await?))
}

/// Edits a task: a new version, a draft. An approved version keeps running
/// until the new one is approved. Send the `revision` you read (409 if the
/// task changed since).
#[utoipa::path(put, path = "/api/v1/tasks/{id}", tag = "tasks", request_body = TaskInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = TaskView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_task(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<TaskInput>,
) -> ApiResult<Json<TaskView>> {
    let current = s.store.task(&id).await?;
    let revision = body
        .revision
        .ok_or_else(|| ApiError::invalid("revision", "is required: send the revision you read"))?;
    let latest = s
        .store
        .task_version(&current.id, current.latest_version)
        .await?;
    let c = svc::check(&s, &body.spec, body.schedule.as_ref(), Some(&latest)).await?;
    if c.spec.name != current.name {
        return Err(ApiError::invalid(
            "spec.name",
            format!("a task cannot be renamed (it is `{}`)", current.name),
        ));
    }
    let t = s
        .store
        .edit_task(
            &current.id,
            &TaskEdit {
                expected_revision: revision,
                spec: to_json(&c.spec)?,
                schedule: c.schedule.as_ref().map(to_json).transpose()?,
                secret: svc::seal_secrets(&s, &c.secrets)?,
                max_parallel: max_parallel(&c.schedule),
                author: caller.user.name.clone(),
            },
        )
        .await?;
    tracing::info!(by = %caller.user.name, task = %t.name, version = t.latest_version, "task edited");
    Ok(Json(task_view(&s, t).await?))
}

/// Deletes a task: its schedule stops, queued instances are cancelled and
/// running ones are asked to stop.
#[utoipa::path(delete, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_task(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let t = s.store.task(&id).await?;
    s.store
        .set_task_state(&t.id, None, TaskState::Deleted)
        .await?;
    tracing::info!(by = %caller.user.name, task = %t.name, "task deleted");
    s.engine_wake.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

/// Every version, oldest first.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/versions", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = Vec<VersionView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_versions(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<VersionView>>> {
    let t = s.store.task(&id).await?;
    let versions = s.store.task_versions(&t.id).await?;
    Ok(Json(
        versions
            .iter()
            .map(|v| version_view(&s, v))
            .collect::<ApiResult<_>>()?,
    ))
}

/// The approval records: who decided what, when, and why.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/approvals", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = Vec<Approval>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Approval>>> {
    let t = s.store.task(&id).await?;
    Ok(Json(s.store.approvals(&t.id).await?))
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

/// Starts an instance now (or for a given logical time). With a `run_key`
/// the call is idempotent: external schedulers retry it safely.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/instances", tag = "tasks", request_body = StartInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders"), StartQuery),
    responses((status = 201, body = Instance, description = "Created and queued"),
              (status = 200, body = Instance, description = "The instance of an earlier call with the same run_key"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn start_instance(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    super::extract::Query(q): super::extract::Query<StartQuery>,
    Json(body): Json<StartInput>,
) -> ApiResult<(StatusCode, Json<Instance>)> {
    let wait = q.wait_seconds.unwrap_or(0);
    if wait > super::limits::MAX_WAIT_SECONDS {
        return Err(ApiError::invalid(
            "wait_seconds",
            format!(
                "{wait} is too long; allowed: 0 to {}",
                super::limits::MAX_WAIT_SECONDS
            ),
        ));
    }
    let t = s.store.task(&id).await?;
    let req = instances::StartRequest {
        logical_time: body.logical_time.clone(),
        window_start: body.window_start.clone(),
        window_end: body.window_end.clone(),
        run_key: body.run_key.clone(),
    };
    let (instance, created) = instances::start(&s, &t, &req, &caller.user.name).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let instance = instances::wait_for_end(&s, instance, wait).await?;
    Ok((status, Json(instance)))
}

/// Creates the missing instances of the schedule's logical times in
/// `[from, to]` (at most 10,000: a larger range is a 422 naming `to`), each
/// with its window, 500 per transaction. Existing ones are left alone and
/// listed.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/backfill", tag = "tasks", request_body = BackfillInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = BackfillResult), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn backfill(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    Json(body): Json<BackfillInput>,
) -> ApiResult<Json<BackfillResult>> {
    let t = s.store.task(&id).await?;
    let done = instances::backfill(&s, &t, &body.from, &body.to, &caller.user.name).await?;
    Ok(Json(BackfillResult {
        created: done.created,
        existing: done.existing,
    }))
}

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
