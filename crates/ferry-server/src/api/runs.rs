//! Instances of a task started by hand or by an external scheduler (with
//! a run key, optionally waiting for the end), and backfills of a range.

use axum::http::StatusCode;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path};
use super::views::InstanceView;
use crate::auth::Operator;
use crate::service::instances;

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
    pub created: Vec<InstanceView>,
    /// Logical times that already had an instance (left as they are; rerun
    /// them to run again).
    pub existing: Vec<String>,
}

/// Starts an instance now (or for a given logical time). With a `run_key`
/// the call is idempotent: external schedulers retry it safely.
#[utoipa::path(post, path = "/api/v1/tasks/{id}/instances", tag = "tasks", request_body = StartInput,
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders"), StartQuery),
    responses((status = 201, body = InstanceView, description = "Created and queued"),
              (status = 200, body = InstanceView, description = "The instance of an earlier call with the same run_key"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn start_instance(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
    super::extract::Query(q): super::extract::Query<StartQuery>,
    Json(body): Json<StartInput>,
) -> ApiResult<(StatusCode, Json<InstanceView>)> {
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
    Ok((status, Json(instance.into())))
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
        created: done.created.into_iter().map(InstanceView::from).collect(),
        existing: done.existing,
    }))
}
