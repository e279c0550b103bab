//! Instances: list and filter, detail with attempts, rerun, stop, logs
//! (paged and streamed), errors and the dirty-record index.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use ferry_store::control::{Attempt, AttemptState, InstanceFilter, InstanceState, LogLine};
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{Json, Path, Query};
use super::page::{PageQuery, page_of};
use super::views::{AttemptView, InstanceView};
use crate::auth::{Operator, Reader};

/// Filter and page of the instance list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InstanceQuery {
    /// Only this task (id or name).
    pub task: Option<String>,
    /// Only this state.
    pub state: Option<InstanceState>,
    /// Logical time at or after (RFC 3339).
    pub from: Option<String>,
    /// Logical time before (RFC 3339).
    pub to: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<i64>,
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
}

/// A page of instances, newest logical time first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstancePage {
    /// The instances.
    pub items: Vec<InstanceView>,
    /// How many match in all.
    pub total: i64,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// An instance with its attempts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InstanceDetail {
    /// The instance.
    #[serde(flatten)]
    pub instance: InstanceView,
    /// Its task's name.
    pub task_name: String,
    /// Its attempts, first first; each carries its metrics (rows, bytes,
    /// dirty rows, duration) and error.
    pub attempts: Vec<AttemptView>,
}

/// Which log lines.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Attempt number (default: the latest).
    pub attempt: Option<i64>,
    /// Lines after this sequence number (default 0).
    pub after: Option<i64>,
    /// Page size, 1–1000 (default 200).
    pub limit: Option<i64>,
}

/// A page of log lines.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LogPage {
    /// The attempt's number.
    pub attempt: i64,
    /// Lines in order.
    pub lines: Vec<LogLine>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
    /// Whether the attempt has ended (no more lines will come).
    pub finished: bool,
}

/// The error of one attempt.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptError {
    /// Attempt number.
    pub attempt: i64,
    /// How it ended.
    pub state: AttemptState,
    /// Error kind.
    pub kind: Option<String>,
    /// Message.
    pub message: Option<String>,
    /// When.
    pub at: Option<String>,
}

/// Where an attempt's dirty rows are.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DirtyEntry {
    /// Attempt number.
    pub attempt: i64,
    /// The engine's run id (each dirty record carries it).
    pub run_id: Option<String>,
    /// Dirty rows.
    pub rows: i64,
    /// Where they were recorded (file, directory or table).
    pub location: Option<String>,
}

fn bounded(field: &str, v: Option<i64>, default: i64, min: i64, max: i64) -> ApiResult<i64> {
    let v = v.unwrap_or(default);
    if v < min || v > max {
        return Err(ApiError::invalid(
            field,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(v)
}

fn time(field: &str, v: &Option<String>) -> ApiResult<Option<String>> {
    v.as_deref()
        .map(|t| ferry_store::normalize_timestamp(field, t).map_err(ApiError::from))
        .transpose()
}

/// Instances, filtered and paged.
#[utoipa::path(get, path = "/api/v1/instances", tag = "instances", params(InstanceQuery),
    responses((status = 200, body = InstancePage), (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn list_instances(
    State(s): State<AppState>,
    _caller: Reader,
    Query(q): Query<InstanceQuery>,
) -> ApiResult<Json<InstancePage>> {
    let limit = bounded("limit", q.limit, 50, 1, 500)?;
    let offset = bounded("offset", q.offset, 0, 0, i64::from(i32::MAX))?;
    let task_id = match &q.task {
        Some(t) => match s.store.task(t).await {
            Ok(t) => Some(t.id),
            Err(e) if e.kind() == ferry_core::ErrorKind::NotFound => {
                return Err(ApiError::invalid("task", format!("no task `{t}`")));
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let (items, total) = s
        .store
        .instances(&InstanceFilter {
            task_id,
            state: q.state,
            from: time("from", &q.from)?,
            to: time("to", &q.to)?,
            limit,
            offset,
        })
        .await?;
    Ok(Json(InstancePage {
        items: items.into_iter().map(InstanceView::from).collect(),
        total,
        limit,
        offset,
    }))
}

/// One instance with its attempts.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, body = InstanceDetail), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_instance(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceDetail>> {
    let instance = s.store.instance(&id).await?;
    let task = s.store.task(&instance.task_id).await?;
    let attempts = s.store.attempts(&id).await?;
    Ok(Json(InstanceDetail {
        instance: instance.into(),
        task_name: task.name,
        attempts: attempts.into_iter().map(AttemptView::from).collect(),
    }))
}

/// Queues a finished instance again: a new attempt over the same window,
/// with the task's currently approved version.
#[utoipa::path(post, path = "/api/v1/instances/{id}/rerun", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, body = InstanceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rerun_instance(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceView>> {
    let instance = s.store.instance(&id).await?;
    let task = s.store.task(&instance.task_id).await?;
    let version = task
        .approved_version
        .ok_or_else(|| ApiError::conflict("the task has no approved version to run"))?;
    if task.state == ferry_store::control::TaskState::Deleted {
        return Err(ApiError::conflict("the task is deleted"));
    }
    let i = s.store.rerun_instance(&id, version).await?;
    tracing::info!(by = %caller.user.name, instance = %id, "rerun queued");
    Ok(Json(i.into()))
}

/// Stops an instance: a queued one is cancelled; a running one's attempt is
/// cancelled by its runner, leaving the target as it was.
#[utoipa::path(post, path = "/api/v1/instances/{id}/stop", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, body = InstanceView), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn stop_instance(
    State(s): State<AppState>,
    caller: Operator,
    Path(id): Path<String>,
) -> ApiResult<Json<InstanceView>> {
    let i = s.store.stop_instance(&id).await?;
    tracing::info!(by = %caller.user.name, instance = %id, "stop requested");
    Ok(Json(i.into()))
}

async fn pick_attempt(s: &AppState, id: &str, number: Option<i64>) -> ApiResult<Attempt> {
    s.store.instance(id).await?;
    let attempts = s.store.attempts(id).await?;
    match number {
        Some(n) => attempts.into_iter().find(|a| a.number == n).ok_or_else(|| {
            ApiError::invalid("attempt", format!("instance {id} has no attempt {n}"))
        }),
        None => attempts
            .into_iter()
            .last()
            .ok_or_else(|| ApiError::conflict(format!("instance {id} has not started yet"))),
    }
}

/// Log lines of an attempt, paged.
#[utoipa::path(get, path = "/api/v1/instances/{id}/logs", tag = "instances",
    params(("id" = String, Path, description = "Instance id"), LogQuery),
    responses((status = 200, body = LogPage), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn instance_logs(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Json<LogPage>> {
    let limit = bounded("limit", q.limit, 200, 1, 1000)?;
    let after = bounded("after", q.after, 0, 0, i64::MAX)?;
    let attempt = pick_attempt(&s, &id, q.attempt).await?;
    let lines = s.store.logs(&attempt.id, after, limit).await?;
    let next_after = lines.last().map_or(after, |l| l.seq);
    Ok(Json(LogPage {
        attempt: attempt.number,
        finished: attempt.state != AttemptState::Running,
        lines,
        next_after,
    }))
}

/// Log lines of an attempt as Server-Sent Events (`event: log`, data: a
/// JSON log line), following the attempt until it ends (`event: end`). One
/// stream sends at most 100000 lines; then it ends with `event: more`
/// (data: `{"after": <seq>}`): reconnect with that `after` to go on.
#[utoipa::path(get, path = "/api/v1/instances/{id}/logs/stream", tag = "instances",
    params(("id" = String, Path, description = "Instance id"), LogQuery),
    responses((status = 200, description = "text/event-stream of log lines", content_type = "text/event-stream"),
              (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn stream_logs(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let after = bounded("after", q.after, 0, 0, i64::MAX)?;
    bounded("limit", q.limit, 200, 1, 1000)?;
    let attempt = pick_attempt(&s, &id, q.attempt).await?;
    struct Follow {
        s: AppState,
        attempt_id: String,
        after: i64,
        pending: std::collections::VecDeque<LogLine>,
        done: bool,
        /// Lines sent, and the seq of the last one.
        sent: usize,
        last_sent: i64,
    }
    let follow = Follow {
        s,
        attempt_id: attempt.id,
        after,
        pending: Default::default(),
        done: false,
        sent: 0,
        last_sent: after,
    };
    let stream = futures::stream::unfold(follow, |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            if f.sent >= super::limits::MAX_STREAM_LINES {
                f.done = true;
                let data = serde_json::json!({ "after": f.last_sent }).to_string();
                return Some((Ok(Event::default().event("more").data(data)), f));
            }
            if let Some(line) = f.pending.pop_front() {
                f.sent += 1;
                f.last_sent = line.seq;
                let data = serde_json::to_string(&line).unwrap_or_default();
                return Some((Ok(Event::default().event("log").data(data)), f));
            }
            // Read whether it finished before reading lines, so lines
            // written just before the end are not missed.
            let finished =
                f.s.store
                    .attempt(&f.attempt_id)
                    .await
                    .map(|a| a.state != AttemptState::Running)
                    .unwrap_or(true);
            match f.s.store.logs(&f.attempt_id, f.after, 500).await {
                Ok(lines) if !lines.is_empty() => {
                    f.after = lines.last().map_or(f.after, |l| l.seq);
                    f.pending.extend(lines);
                }
                Ok(_) if finished => {
                    f.done = true;
                    return Some((Ok(Event::default().event("end").data("{}")), f));
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                Err(e) => {
                    f.done = true;
                    let data = serde_json::json!({ "error": e.to_string() }).to_string();
                    return Some((Ok(Event::default().event("error").data(data)), f));
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The errors of an instance's attempts.
#[utoipa::path(get, path = "/api/v1/instances/{id}/errors", tag = "instances",
    params(("id" = String, Path, description = "Instance id"), PageQuery),
    responses((status = 200, body = AttemptErrorPage), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn instance_errors(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(p): Query<PageQuery>,
) -> ApiResult<Json<AttemptErrorPage>> {
    let paging = p.paging()?;
    s.store.instance(&id).await?;
    let errors = s
        .store
        .attempts(&id)
        .await?
        .into_iter()
        .filter(|a| a.error_kind.is_some() || a.error_message.is_some())
        .map(|a| AttemptError {
            attempt: a.number,
            state: a.state,
            kind: a.error_kind,
            message: a.error_message,
            at: a.finished_at,
        })
        .collect();
    Ok(Json(AttemptErrorPage::of(errors, paging)))
}

page_of!(
    /// A page of an instance's attempt errors.
    AttemptErrorPage,
    AttemptError
);

page_of!(
    /// A page of an instance's dirty-row records.
    DirtyPage,
    DirtyEntry
);

/// Where each attempt's dirty rows were recorded, and how many.
#[utoipa::path(get, path = "/api/v1/instances/{id}/dirty", tag = "instances",
    params(("id" = String, Path, description = "Instance id"), PageQuery),
    responses((status = 200, body = DirtyPage), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
pub async fn instance_dirty(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
    Query(p): Query<PageQuery>,
) -> ApiResult<Json<DirtyPage>> {
    let paging = p.paging()?;
    s.store.instance(&id).await?;
    let entries = s
        .store
        .attempts(&id)
        .await?
        .into_iter()
        .filter(|a| a.rows_dirty.unwrap_or(0) > 0)
        .map(|a| DirtyEntry {
            attempt: a.number,
            run_id: a.run_id,
            rows: a.rows_dirty.unwrap_or(0),
            location: a.dirty_location,
        })
        .collect();
    Ok(Json(DirtyPage::of(entries, paging)))
}
