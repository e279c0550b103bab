//! The runner pool: `runners` slots per server, each claiming one instance
//! at a time with a lease (see `ferry_store::control` for the claim),
//! running its attempt through [`crate::runner::run_task`] (the same path
//! as `ferry run`: watermark, checkpoint, atomic publish), renewing the
//! lease while it runs, and recording the outcome.
//!
//! ```text
//!  claim ─► resolve connections ─► validate ─► run_task ─► finish_attempt
//!             every tick: renew the lease; stop asked → cancel (target unchanged);
//!                         lease lost → cancel (another runner has it)
//! ```
//!
//! On shutdown the running attempts are cancelled and recorded `lost`, which
//! puts their instances back in the queue for any node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::schedule::ValidSchedule;
use ferry_core::spec::DirtySinkSpec;
use ferry_core::{ErrorKind, TaskSpec};
use ferry_engine::{CancellationToken, RunSummary};
use ferry_store::Store;
use ferry_store::control::{AttemptOutcome, AttemptState, Claim};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::app::AppState;
use crate::capture;

/// How often a running attempt renews its lease and checks for a stop.
const TICK: Duration = Duration::from_millis(500);

/// Starts the runner slots; they stop claiming when `shutdown` fires.
pub fn spawn(state: AppState, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
    (0..state.config.runners)
        .map(|slot| tokio::spawn(slot_loop(state.clone(), slot, shutdown.clone())))
        .collect()
}

async fn slot_loop(state: AppState, slot: usize, shutdown: CancellationToken) {
    let idle = Duration::from_millis(state.config.poll_ms);
    while !shutdown.is_cancelled() {
        match state
            .store
            .claim(&state.config.node_id, state.config.lease_secs)
            .await
        {
            Ok(Some(claim)) => run_claim(&state, claim, &shutdown).await,
            Ok(None) => {
                tokio::select! {
                    _ = tokio::time::sleep(idle) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            Err(e) => {
                tracing::warn!(slot, error = %e, "could not look for work; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(idle * 4) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
        }
    }
}

/// How an attempt was stopped before it ended by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    None,
    /// An operator asked for a stop.
    Stop,
    /// This runner no longer holds the lease.
    LeaseLost,
    /// The server is shutting down.
    Shutdown,
    /// The schedule's timeout (seconds) passed.
    Timeout(i64),
}

async fn run_claim(state: &AppState, claim: Claim, shutdown: &CancellationToken) {
    let Claim {
        instance, attempt, ..
    } = claim;
    let span = tracing::info_span!(
        "attempt",
        attempt_id = %attempt.id,
        instance = %instance.id,
        number = attempt.number
    );
    capture::begin(&attempt.id);
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let interrupt = Arc::new(std::sync::Mutex::new(Interrupt::None));
    let keeper = tokio::spawn(keep_lease(
        state.clone(),
        instance.id.clone(),
        attempt.id.clone(),
        cancel.clone(),
        shutdown.clone(),
        interrupt.clone(),
    ));
    let mut schedule: Option<ValidSchedule> = None;
    let mut timer: Option<JoinHandle<()>> = None;
    let (task_name, result) = async {
        if let Some(lost) = &claim.lost {
            tracing::warn!(lost_attempt = %lost, "took the instance over from a runner whose lease expired");
        }
        tracing::info!(
            runner = %state.config.node_id,
            logical_time = %instance.logical_time,
            window_start = instance.window_start.as_deref().unwrap_or("-"),
            window_end = instance.window_end.as_deref().unwrap_or("-"),
            "attempt started"
        );
        let prepared = crate::service::tasks::for_run(state, &instance).await;
        let name = prepared
            .as_ref()
            .map(|(t, _, _)| t.spec.name.clone())
            .unwrap_or_default();
        schedule = prepared.as_ref().ok().and_then(|(_, _, s)| s.clone());
        if let Some(limit) = schedule.as_ref().and_then(|s| s.timeout) {
            let (cancel, interrupt) = (cancel.clone(), interrupt.clone());
            timer = Some(tokio::spawn(async move {
                tokio::time::sleep(limit.to_std().unwrap_or_default()).await;
                let mut guard = interrupt.lock().unwrap_or_else(|p| p.into_inner());
                if *guard == Interrupt::None {
                    *guard = Interrupt::Timeout(limit.num_seconds());
                }
                drop(guard);
                cancel.cancel();
            }));
        }
        let result = match prepared {
            Ok((task, params, _)) => {
                let run_id = ferry_engine::new_run_id(&task.spec.name);
                if let Err(e) = state.store.set_attempt_run_id(&attempt.id, &run_id).await {
                    tracing::warn!(error = %e, "could not record the run id");
                }
                crate::runner::run_task(crate::runner::RunRequest {
                    task: &task,
                    store: Some(Arc::new(state.store.clone())),
                    params,
                    progress: None,
                    cancel: cancel.clone(),
                    run_id: Some(run_id),
                })
                .await
                .map(|summary| (summary, dirty_location(&task.spec)))
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok((s, _)) => tracing::info!(
                rows_read = s.rows_read,
                rows_written = s.rows_written,
                rows_dirty = s.rows_dirty,
                bytes = s.bytes,
                duration_ms = s.duration_ms,
                verified = s.verified,
                "attempt succeeded"
            ),
            Err(e) => tracing::warn!(kind = %e.kind(), error = %e, "attempt failed"),
        }
        (name, result)
    }
    .instrument(span)
    .await;
    keeper.abort();
    if let Some(t) = timer {
        t.abort();
    }
    let interrupt = *interrupt.lock().unwrap_or_else(|p| p.into_inner());
    let mut outcome = outcome(&result, interrupt);
    // Retries with exponential back-off, as the schedule allows, of what
    // may pass by itself; a wrong task fails the same way every time.
    if outcome.state == Some(AttemptState::Failed)
        && retryable(&result, interrupt)
        && let Some(s) = &schedule
        && attempt.number <= i64::from(s.spec.max_retries)
    {
        let n = u32::try_from(attempt.number).unwrap_or(u32::MAX);
        let at = chrono::Utc::now() + s.retry_delay(n);
        tracing::info!(instance = %instance.id, attempt = attempt.number, retry_at = %at.to_rfc3339(), "attempt failed; retrying after its back-off");
        outcome.retry_at = Some(ferry_store::format_timestamp(at));
    }
    flush_logs(&state.store, &attempt.id, capture::end(&attempt.id)).await;
    let state_word = outcome.state.unwrap_or(AttemptState::Failed);
    match state
        .store
        .finish_attempt(&attempt.id, &instance.id, &state.config.node_id, &outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(instance = %instance.id, "the instance was taken over meanwhile; its result is recorded on the attempt only")
        }
        Err(e) => {
            tracing::error!(instance = %instance.id, error = %e, "could not record the attempt's result")
        }
    }
    let (read, written, bytes, dirty) = match &result {
        Ok((s, _)) => (s.rows_read, s.rows_written, s.bytes, s.rows_dirty),
        Err(_) => (0, 0, 0, 0),
    };
    crate::metrics::attempt_finished(
        state_word,
        &task_name,
        read,
        written,
        bytes,
        dirty,
        started.elapsed().as_secs_f64(),
    );
}

/// Whether a failed attempt may succeed if tried again: a transient error
/// (a connection reset, a server restarting, a deadlock, a lock timeout) or
/// the schedule's timeout. Invalid config, auth, missing objects, schema
/// misfits, unsupported options, dirty data and internal errors fail the
/// same way on every try, so they are not retried. (A lost lease is not a
/// failure: the instance goes back to the queue.)
fn retryable(
    result: &ferry_core::Result<(RunSummary, Option<String>)>,
    interrupt: Interrupt,
) -> bool {
    match result {
        Ok(_) => false,
        Err(e) => match (interrupt, e.kind()) {
            (Interrupt::Timeout(_), ErrorKind::Cancelled) => true,
            (_, kind) => kind == ErrorKind::Transient,
        },
    }
}

fn dirty_location(spec: &TaskSpec) -> Option<String> {
    match &spec.dirty.sink {
        Some(DirtySinkSpec::Jsonl { path }) => Some(format!("jsonl file {}", path.display())),
        Some(DirtySinkSpec::Parquet { dir }) => {
            Some(format!("parquet directory {}", dir.display()))
        }
        Some(DirtySinkSpec::Table { target }) => Some(format!("{} table", target.connector())),
        None => None,
    }
}

fn outcome(
    result: &ferry_core::Result<(RunSummary, Option<String>)>,
    interrupt: Interrupt,
) -> AttemptOutcome {
    match result {
        Ok((s, location)) => AttemptOutcome {
            state: Some(AttemptState::Succeeded),
            rows_read: Some(s.rows_read as i64),
            rows_written: Some(s.rows_written as i64),
            bytes: Some(s.bytes as i64),
            rows_dirty: Some(s.rows_dirty as i64),
            duration_ms: Some(s.duration_ms as i64),
            verified: Some(s.verified),
            dirty_location: location.clone(),
            ..AttemptOutcome::default()
        },
        Err(e) => {
            let (state, message) = match (interrupt, e.kind()) {
                (Interrupt::Stop, ErrorKind::Cancelled) => (
                    AttemptState::Cancelled,
                    "stopped by an operator; the target is as it was".to_string(),
                ),
                (Interrupt::Shutdown, ErrorKind::Cancelled) => (
                    AttemptState::Lost,
                    "the server shut down; the instance is queued again".to_string(),
                ),
                (Interrupt::Timeout(secs), ErrorKind::Cancelled) => (
                    AttemptState::Failed,
                    format!(
                        "timed out after {secs} s (the schedule's timeout); the target is as it was"
                    ),
                ),
                (Interrupt::LeaseLost, _) => (
                    AttemptState::Lost,
                    "this runner lost its lease; another runner has the instance".to_string(),
                ),
                _ => (AttemptState::Failed, e.to_string()),
            };
            let kind = match interrupt {
                Interrupt::Timeout(_) if e.kind() == ErrorKind::Cancelled => "timeout".to_string(),
                _ => e.kind().to_string(),
            };
            AttemptOutcome {
                state: Some(state),
                error_kind: Some(kind),
                error_message: Some(message),
                ..AttemptOutcome::default()
            }
        }
    }
}

/// Renews the lease every tick, flushes captured logs, and cancels the run
/// when a stop is asked, the lease is lost, or the server shuts down.
async fn keep_lease(
    state: AppState,
    instance_id: String,
    attempt_id: String,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    interrupt: Arc<std::sync::Mutex<Interrupt>>,
) {
    let set = |i: Interrupt| {
        let mut guard = interrupt.lock().unwrap_or_else(|p| p.into_inner());
        if *guard == Interrupt::None {
            *guard = i;
        }
    };
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.cancelled() => {
                set(Interrupt::Shutdown);
                cancel.cancel();
                return;
            }
        }
        match state
            .store
            .heartbeat(&instance_id, &state.config.node_id, state.config.lease_secs)
            .await
        {
            Ok(stop) => {
                last_renewal = Instant::now();
                if stop && !cancel.is_cancelled() {
                    tracing::info!(instance = %instance_id, "stop requested: cancelling the attempt");
                    set(Interrupt::Stop);
                    cancel.cancel();
                }
            }
            Err(e) if e.kind() == ErrorKind::Conflict => {
                tracing::warn!(instance = %instance_id, "lease lost: cancelling the attempt");
                set(Interrupt::LeaseLost);
                cancel.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(instance = %instance_id, error = %e, "could not renew the lease");
                if last_renewal.elapsed().as_secs_f64() > state.config.lease_secs {
                    set(Interrupt::LeaseLost);
                    cancel.cancel();
                    return;
                }
            }
        }
        flush_logs(&state.store, &attempt_id, capture::drain(&attempt_id)).await;
    }
}

async fn flush_logs(store: &Store, attempt_id: &str, lines: Vec<ferry_store::control::LogLine>) {
    if let Err(e) = store.append_logs(attempt_id, &lines).await {
        tracing::warn!(attempt = %attempt_id, error = %e, "could not store log lines");
    }
}
