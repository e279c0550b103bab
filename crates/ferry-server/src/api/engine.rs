//! Where a task stands in its external schedule engine (Airflow,
//! DolphinScheduler), as the engine sync loop last left it.

use axum::extract::State;
use ferry_core::schedule::ScheduleSpec;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{Json, Path};
use crate::auth::Reader;
use crate::engines::sync::fingerprint;
use crate::engines::{engine_name, waits_for_activation};
use ferry_store::control::TaskState;

/// A task's registration in its schedule engine.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EngineView {
    /// The approved schedule's engine (`builtin`, `airflow`,
    /// `dolphinscheduler`, `none`); absent without an approved schedule.
    pub engine: Option<String>,
    /// The external engine the task was last synced to, if any.
    pub synced_engine: Option<String>,
    /// Whether that engine holds the task.
    pub registered: bool,
    /// Whether it triggers the task there (else paused).
    pub active: bool,
    /// Whether the registration matches the approved schedule and state
    /// (a task without `start_time` is registered when first activated).
    pub in_sync: bool,
    /// When the sync loop last acted on the task.
    pub synced_at: Option<String>,
    /// The last sync error (retried), if any.
    pub error: Option<String>,
}

/// The task's registration in its external schedule engine.
#[utoipa::path(get, path = "/api/v1/tasks/{id}/engine", tag = "tasks",
    params(("id" = String, Path, description = "Task id or name", example = "sample_orders")),
    responses((status = 200, body = EngineView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_engine(
    State(s): State<AppState>,
    _caller: Reader,
    Path(id): Path<String>,
) -> ApiResult<Json<EngineView>> {
    let t = s.store.task(&id).await?;
    let schedule = match t.approved_version {
        Some(v) => s.store.task_version(&t.id, v).await?.schedule,
        None => None,
    };
    let spec: Option<ScheduleSpec> = schedule
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ferry_core::Error::Internal(format!("stored schedule: {e}")))?;
    let engine = spec.as_ref().map(|sc| engine_name(sc.engine));
    let sync = s.store.engine_sync(&t.id).await?;
    let wanted_active = t.state == TaskState::Active;
    let registered_there = sync
        .as_ref()
        .is_some_and(|x| x.registered && Some(x.engine.as_str()) == engine);
    let waiting = spec
        .as_ref()
        .is_some_and(|sc| waits_for_activation(sc, wanted_active, registered_there));
    let wants_external =
        t.state != TaskState::Deleted && engine.is_some_and(is_external) && !waiting;
    let in_sync = match (&sync, &schedule) {
        (Some(x), Some(text)) if wants_external => {
            engine == Some(x.engine.as_str())
                && x.registered
                && x.error.is_none()
                && x.active == wanted_active
                && x.fingerprint == fingerprint(&t.name, text)
        }
        _ if wants_external => false,
        // Nothing should be registered.
        _ => sync.as_ref().is_none_or(|x| !x.registered),
    };
    Ok(Json(EngineView {
        engine: engine.map(str::to_string),
        synced_engine: sync.as_ref().map(|x| x.engine.clone()),
        registered: sync.as_ref().is_some_and(|x| x.registered),
        active: sync.as_ref().is_some_and(|x| x.active),
        in_sync,
        synced_at: sync.as_ref().map(|x| x.synced_at.clone()),
        error: sync.and_then(|x| x.error),
    }))
}

fn is_external(engine: &str) -> bool {
    matches!(engine, "airflow" | "dolphinscheduler")
}
