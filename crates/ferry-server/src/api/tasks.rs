//! Tasks: create and edit (each edit a new version), review (submit,
//! approve, reject), operate (pause, resume, delete, start an instance,
//! backfill a range).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ferry_connectors::{
    Registry, connection_names, keep_stored_secrets, put_task_secrets, redacted_secrets,
    resolve_task, take_task_secrets,
};
use ferry_core::TaskSpec;
use ferry_core::schedule::ScheduleSpec;
use ferry_core::spec::ConnectionSpec;
use ferry_scheduler::grid::{Grid, MAX_TIMES};
use ferry_store::control::{
    Approval, Decision, Instance, NewInstance, NewTask, Review, Sealed, TaskEdit, TaskRecord,
    TaskState, TaskVersion, Trigger,
};

/// Inline secrets of a task by endpoint field (see `ferry_connectors::take_task_secrets`).
pub(crate) type SecretMap = serde_json::Map<String, serde_json::Value>;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use crate::auth::{Approver, Caller, Operator, Reader};

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

/// The stored spec as the API shows it: inline secrets as `***`.
fn shown_spec(s: &AppState, v: &TaskVersion) -> ApiResult<serde_json::Value> {
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
pub(crate) fn open_secrets(s: &AppState, v: &TaskVersion) -> ferry_core::Result<SecretMap> {
    let Some(sealed) = &v.secret else {
        return Ok(SecretMap::new());
    };
    let text = s.secrets.open(&sealed.text, Some(&sealed.key_id))?;
    serde_json::from_str(&text)
        .map_err(|e| ferry_core::Error::Internal(format!("stored task secrets: {e}")))
}

fn seal_secrets(s: &AppState, secrets: &SecretMap) -> ApiResult<Option<Sealed>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let text = to_json(secrets)?;
    Ok(Some(Sealed {
        text: s.secrets.seal(&text)?,
        key_id: s.secrets.key_id().to_string(),
    }))
}

fn version_view(s: &AppState, v: &TaskVersion) -> ApiResult<VersionView> {
    Ok(VersionView {
        version: v.version,
        spec: shown_spec(s, v)?,
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
    Ok(TaskView {
        latest: version_view(s, &latest)?,
        approved,
        task: t,
    })
}

/// A task spec and schedule checked as the runner will check them, with
/// connections resolved by name (errors name the field).
pub(crate) struct Checked {
    /// The spec to store: inline secrets taken out.
    pub spec: TaskSpec,
    /// The inline secrets, to store sealed.
    pub secrets: SecretMap,
    pub schedule: Option<ScheduleSpec>,
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    field: &str,
    v: &serde_json::Value,
) -> ApiResult<T> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." || path.is_empty() {
            field.to_string()
        } else if field == "body" {
            path
        } else {
            format!("{field}.{path}")
        };
        ApiError::invalid(at, e.inner().to_string())
    })
}

/// Checks a spec and schedule sent by a client; `stored` is the version
/// it edits, whose secrets a `***` keeps.
pub(crate) async fn check(
    s: &AppState,
    spec: &serde_json::Value,
    schedule: Option<&serde_json::Value>,
    stored: Option<&TaskVersion>,
) -> ApiResult<Checked> {
    let mut parsed: TaskSpec = parse_json("spec", spec)?;
    let mut secrets = take_task_secrets(&mut parsed).map_err(|e| prefix_field("spec", e))?;
    let kept = match stored {
        Some(v) => open_secrets(s, v)?,
        None => SecretMap::new(),
    };
    keep_stored_secrets(&mut secrets, &kept).map_err(|e| prefix_field("spec", e))?;
    let schedule: Option<ScheduleSpec> = schedule
        .filter(|v| !v.is_null())
        .map(|v| parse_json("schedule", v))
        .transpose()?;
    if let Some(sc) = &schedule {
        s.engines.check(&sc.validate()?)?;
    }
    let trust = s.config.trust();
    let lookup = connection_lookup(s, &parsed, false).await?;
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

fn prefix_field(prefix: &str, e: ferry_core::Error) -> ApiError {
    match e {
        ferry_core::Error::InvalidConfig { field, message } => {
            ApiError::invalid(format!("{prefix}.{field}"), message)
        }
        other => other.into(),
    }
}

/// The connections a spec names; with `open`, with their passwords (for a
/// run), else without (for validation).
pub(crate) async fn connection_lookup(
    s: &AppState,
    spec: &TaskSpec,
    open: bool,
) -> ferry_core::Result<HashMap<String, ConnectionSpec>> {
    let mut lookup = HashMap::new();
    for name in connection_names(spec) {
        match s.store.connection(&name).await {
            Ok(r) if r.name == name => {
                let spec = if open {
                    super::connections::open(s, &r)?
                } else {
                    super::connections::stored_spec(&r)?
                };
                lookup.insert(name, spec);
            }
            Ok(_) => {}
            Err(e) if e.kind() == ferry_core::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(lookup)
}

/// Names of live tasks whose latest or approved version names `connection`.
pub(crate) async fn tasks_using_connection(
    s: &AppState,
    connection: &str,
) -> ApiResult<Vec<String>> {
    let mut users = Vec::new();
    for t in s.store.tasks(None).await? {
        let mut versions = vec![t.latest_version];
        versions.extend(t.approved_version);
        for v in versions {
            let version = s.store.task_version(&t.id, v).await?;
            if let Ok(spec) = serde_json::from_str::<TaskSpec>(&version.spec)
                && connection_names(&spec).iter().any(|n| n == connection)
                && !users.contains(&t.name)
            {
                users.push(t.name.clone());
            }
        }
    }
    Ok(users)
}

fn to_json(v: &impl Serialize) -> ApiResult<String> {
    serde_json::to_string(v).map_err(|e| ferry_core::Error::Internal(e.to_string()).into())
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
    let c = check(&s, &body.spec, body.schedule.as_ref(), None).await?;
    let t = s
        .store
        .create_task(&NewTask {
            name: c.spec.name.clone(),
            spec: to_json(&c.spec)?,
            schedule: c.schedule.as_ref().map(to_json).transpose()?,
            secret: seal_secrets(&s, &c.secrets)?,
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
    let c = check(&s, &body.spec, body.schedule.as_ref(), Some(&latest)).await?;
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
                secret: seal_secrets(&s, &c.secrets)?,
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
    // The version is checked again at approval time: a connection may have
    // changed or vanished since it was submitted.
    if decision == Decision::Approved {
        let spec: serde_json::Value = serde_json::from_str(&latest.spec).unwrap_or_default();
        let schedule: Option<serde_json::Value> = latest
            .schedule
            .as_deref()
            .and_then(|x| serde_json::from_str(x).ok());
        check(s, &spec, schedule.as_ref(), Some(&latest)).await?;
    }
    let t = s
        .store
        .decide_task(
            &t.id,
            Some(revision),
            decision,
            &caller.user.name,
            body.comment.as_deref(),
        )
        .await?;
    tracing::info!(by = %caller.user.name, task = %t.name, version = latest.version, decision = %decision, "review decision");
    s.engine_wake.notify_one();
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

fn instant(field: &str, t: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::invalid(
                field,
                format!("`{t}` is not an RFC 3339 instant like 2026-01-01T00:00:00Z: {e}"),
            )
        })
}

/// The approved version and its grid, for a task that may get instances.
async fn runnable(s: &AppState, t: &TaskRecord) -> ApiResult<(i64, Option<Grid>)> {
    if !matches!(t.state, TaskState::Approved | TaskState::Active) {
        return Err(ApiError::conflict(format!(
            "task `{}` is {}; instances need an approved, not paused task",
            t.name, t.state
        )));
    }
    let version = t
        .approved_version
        .ok_or_else(|| ApiError::conflict("the task has no approved version"))?;
    let v = s.store.task_version(&t.id, version).await?;
    let grid = match v.schedule.as_deref() {
        Some(text) => {
            let spec: ScheduleSpec = serde_json::from_str(text)
                .map_err(|e| ferry_core::Error::Internal(e.to_string()))?;
            Some(Grid::new(&spec.validate()?))
        }
        None => None,
    };
    Ok((version, grid))
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
    let (version, grid) = runnable(&s, &t).await?;
    let logical_time = match (&body.logical_time, &grid) {
        (Some(lt), _) => instant("logical_time", lt)?,
        (None, Some(g)) => g.at_or_before(Utc::now()).ok_or_else(|| {
            ApiError::invalid(
                "logical_time",
                "the schedule has no logical time before now",
            )
        })?,
        (None, None) => {
            let now = Utc::now();
            now - chrono::Duration::nanoseconds(i64::from(chrono::Timelike::nanosecond(&now)))
        }
    };
    let window = match (&body.window_start, &body.window_end) {
        (Some(a), Some(b)) => {
            let (a, b) = (instant("window_start", a)?, instant("window_end", b)?);
            if b <= a {
                return Err(ApiError::invalid(
                    "window_end",
                    "must be after window_start",
                ));
            }
            Some((a, b))
        }
        (None, None) => match &grid {
            Some(g) => Some(g.window(logical_time)?),
            None => None,
        },
        _ => {
            return Err(ApiError::invalid(
                "window_end",
                "give both window_start and window_end, or neither",
            ));
        }
    };
    if let Some(k) = &body.run_key
        && (k.is_empty() || k.len() > 250)
    {
        return Err(ApiError::invalid("run_key", "must be 1–250 characters"));
    }
    let fmt = ferry_store::format_timestamp;
    let (instance, created) = s
        .store
        .create_instance(&NewInstance {
            task_id: t.id.clone(),
            version,
            logical_time: fmt(logical_time),
            window_start: window.map(|w| fmt(w.0)),
            window_end: window.map(|w| fmt(w.1)),
            trigger: if body.run_key.is_some() {
                Trigger::External
            } else {
                Trigger::Manual
            },
            run_key: body.run_key.clone(),
            created_by: Some(caller.user.name.clone()),
        })
        .await?;
    if created {
        tracing::info!(by = %caller.user.name, task = %t.name, instance = %instance.id, logical_time = %instance.logical_time, "instance queued");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let instance = wait_for_end(&s, instance, wait).await?;
    Ok((status, Json(instance)))
}

/// Polls the instance until it ends or `seconds` pass.
async fn wait_for_end(s: &AppState, mut instance: Instance, seconds: u64) -> ApiResult<Instance> {
    use ferry_store::control::InstanceState::{Queued, Running};
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while matches!(instance.state, Queued | Running) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        instance = s.store.instance(&instance.id).await?;
    }
    Ok(instance)
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
    let from = instant("from", &body.from)?;
    let to = instant("to", &body.to)?;
    if to < from {
        return Err(ApiError::invalid("to", "must not be before `from`"));
    }
    let (version, grid) = runnable(&s, &t).await?;
    let grid = grid.ok_or_else(|| {
        ApiError::conflict(format!(
            "task `{}` has no schedule, so it has no logical times to backfill; start instances with explicit logical times instead",
            t.name
        ))
    })?;
    // At most MAX_TIMES logical times (422 naming `to` above that), created
    // BATCH_INSTANCES per transaction.
    let times = grid.times_between(from - chrono::Duration::milliseconds(1), to, MAX_TIMES)?;
    let fmt = ferry_store::format_timestamp;
    let mut result = BackfillResult {
        created: Vec::new(),
        existing: Vec::new(),
    };
    for chunk in times.chunks(ferry_store::control::BATCH_INSTANCES) {
        let batch = chunk
            .iter()
            .map(|&lt| {
                let (start, end) = grid.window(lt)?;
                Ok(NewInstance {
                    task_id: t.id.clone(),
                    version,
                    logical_time: fmt(lt),
                    window_start: Some(fmt(start)),
                    window_end: Some(fmt(end)),
                    trigger: Trigger::Backfill,
                    run_key: None,
                    created_by: Some(caller.user.name.clone()),
                })
            })
            .collect::<ferry_core::Result<Vec<_>>>()?;
        let created = s.store.create_instances(&batch).await?;
        let mut created_times = std::collections::HashSet::new();
        for id in &created {
            let i = s.store.instance(id).await?;
            created_times.insert(i.logical_time.clone());
            result.created.push(i);
        }
        result.existing.extend(
            batch
                .into_iter()
                .map(|n| n.logical_time)
                .filter(|lt| !created_times.contains(lt)),
        );
    }
    tracing::info!(by = %caller.user.name, task = %t.name, created = result.created.len(), existing = result.existing.len(), "backfill");
    Ok(Json(result))
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
    let c = check(&s, &spec, body.schedule.as_ref(), Some(&latest)).await?;
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
        Some(a) => instant("after", a)?,
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
