//! Bounds on every request, so one caller cannot hold the server: a body
//! cap (`--max-body-bytes`, 413 above it, via axum's `DefaultBodyLimit`) and
//! a deadline per request (`--request-timeout-secs`, 503 after it).
//!
//! Routes that wait on purpose get their own bound instead: a start with
//! `wait_seconds` (at most [`MAX_WAIT_SECONDS`]) gets that on top of the
//! deadline; the log stream answers at once and bounds its lines
//! ([`MAX_STREAM_LINES`]) rather than its duration.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::ServerConfig;

/// The most a start may wait for its instance (`wait_seconds`).
pub const MAX_WAIT_SECONDS: u64 = 3600;

/// The most log lines one log stream (one SSE connection) sends; a client
/// that wants more reconnects with `after`.
pub const MAX_STREAM_LINES: usize = 100_000;

/// The limits of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Deadline of one request.
    pub timeout: Duration,
}

impl Limits {
    /// The limits `config` sets.
    pub fn of(config: &ServerConfig) -> Limits {
        Limits {
            max_body_bytes: config.max_body_bytes,
            timeout: Duration::from_secs(config.request_timeout_secs),
        }
    }
}

/// The `wait_seconds` of a request's query, when it has a valid one.
fn wait_seconds(req: &Request) -> u64 {
    req.uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("wait_seconds="))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |w| w.min(MAX_WAIT_SECONDS))
}

/// Answers 503 (a problem) when the handler takes longer than its deadline.
pub async fn deadline(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let limit = limits.timeout + Duration::from_secs(wait_seconds(&req));
    let path = req.uri().path().to_string();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path = %path, timeout_secs = limit.as_secs(), "request timed out");
            ApiError::timed_out(format!(
                "the request took longer than {} s (--request-timeout-secs); it was abandoned",
                limit.as_secs()
            ))
            .into_response()
        }
    }
}
