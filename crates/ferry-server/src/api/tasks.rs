//! Tasks: create and edit (each edit a new version), read, delete, and the
//! views the other task routes share; the review is in [`super::review`],
//! instances in [`super::runs`], schedules in [`super::schedules`].

use axum::extract::State;
use axum::http::StatusCode;
use ferry_core::schedule::ScheduleSpec;
use ferry_store::control::{NewTask, Review, TaskEdit, TaskRecord, TaskState, TaskVersion};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, Schema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use super::page::{PageQuery, page_of};
use super::views::ApprovalView;
use crate::auth::{Operator, Reader};
use crate::service::tasks as svc;
use crate::service::to_json;

pub(crate) fn task_spec_ref() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("TaskSpec"))
}

pub(crate) fn schedule_ref() -> RefOr<Schema> {
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
    /// The task (state, versions, revision).
    #[serde(flatten)]
    pub task: TaskSummary,
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

pub(crate) fn version_view(s: &AppState, v: &TaskVersion) -> ApiResult<VersionView> {
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

pub(crate) async fn task_view(s: &AppState, t: TaskRecord) -> ApiResult<TaskView> {
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
        task: t.into(),
    })
}

pub(crate) fn max_parallel(schedule: &Option<ScheduleSpec>) -> i64 {
    schedule.as_ref().map_or(1, |s| i64::from(s.max_parallel()))
}

/// Live tasks (or, with `state`, those in it), by name, paged.
#[utoipa::path(get, path = "/api/v1/tasks", tag = "tasks",
    params(("state" = Option<TaskState>, Query, description = "Only tasks in this state"),
           ("limit" = Option<i64>, Query, description = "Page size (1–500, default 50)"),
           ("offset" = Option<i64>, Query, description = "Rows to skip")),
    responses((status = 200, body = TaskPage), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_tasks(
    State(s): State<AppState>,
    _caller: Reader,
    super::extract::Query(q): super::extract::Query<TaskListQuery>,
) -> ApiResult<Json<TaskPage>> {
    let paging = PageQuery {
        limit: q.limit,
        offset: q.offset,
    }
    .paging()?;
    let (items, total) = paging.slice(s.store.tasks(q.state).await?);
    Ok(Json(TaskPage {
        items: items.into_iter().map(TaskSummary::from).collect(),
        total,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// Filter and page of the task list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskListQuery {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Page size.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// A task in a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskSummary {
    /// Id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Lifecycle state.
    pub state: TaskState,
    /// The newest version.
    pub latest_version: i64,
    /// The version that runs, once one is approved.
    pub approved_version: Option<i64>,
    /// Instances of this task that may run at once.
    pub max_parallel: i64,
    /// Send it back with a change.
    pub revision: i64,
    /// Who created it.
    pub created_by: String,
    /// When created.
    pub created_at: String,
    /// When last changed.
    pub updated_at: String,
}

impl From<TaskRecord> for TaskSummary {
    fn from(t: TaskRecord) -> TaskSummary {
        TaskSummary {
            id: t.id,
            name: t.name,
            state: t.state,
            latest_version: t.latest_version,
            approved_version: t.approved_version,
            max_parallel: t.max_parallel,
            revision: t.revision,
            created_by: t.created_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A page of tasks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TaskPage {
    /// The tasks.
    pub items: Vec<TaskSummary>,
    /// How many match in all.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
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
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders"), PageQuery),
    responses((status = 200, body = VersionPage), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_versions(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    super::extract::Query(p): super::extract::Query<PageQuery>,
) -> ApiResult<Json<VersionPage>> {
    let paging = p.paging()?;
    let t = s.store.task(&id).await?;
    let versions = s.store.task_versions(&t.id).await?;
    let (page, total) = paging.slice(versions);
    let views = page
        .iter()
        .map(|v| version_view(&s, v))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut out = VersionPage::of(views, paging);
    out.total = total;
    Ok(Json(out))
}

page_of!(
    /// A page of a task's versions, oldest first.
    VersionPage,
    VersionView
);

page_of!(
    /// A page of a task's approval records.
    ApprovalPage,
    ApprovalView
);

/// The approval records: who decided what, when, and why.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/approvals", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders"), PageQuery),
    responses((status = 200, body = ApprovalPage), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    super::extract::Query(p): super::extract::Query<PageQuery>,
) -> ApiResult<Json<ApprovalPage>> {
    let paging = p.paging()?;
    let t = s.store.task(&id).await?;
    let approvals = s.store.approvals(&t.id).await?;
    Ok(Json(ApprovalPage::of(
        approvals.into_iter().map(ApprovalView::from).collect(),
        paging,
    )))
}
