//! Health, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::Json;
use crate::auth::Reader;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is not.
    pub status: String,
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the store answers and the runners are up.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store_ok = state.store.ping().await;
    let runners_ok = state.ready.load(Ordering::Acquire);
    let status = match (store_ok, runners_ok) {
        (Ok(()), true) => {
            return Json(Health {
                status: "ok".into(),
            })
            .into_response();
        }
        (Err(e), _) => format!("store unavailable: {e}"),
        (Ok(()), false) => "runners starting".to_string(),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status })).into_response()
}

/// Prometheus metrics: instances by state, rows and bytes moved, dirty
/// rows, attempt durations, and how long the oldest queued instance has
/// waited (`ferry_scheduler_lag_seconds`).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
              (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn metrics(State(state): State<AppState>, _caller: Reader) -> ApiResult<Response> {
    crate::metrics::refresh(&state.store).await?;
    let text = state
        .metrics
        .as_ref()
        .map(|h| {
            h.run_upkeep();
            h.render()
        })
        .unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route", "this path")
}
