//! The built-in scheduler's place in a server: one elected leader per
//! cluster ticks ([`ferry_scheduler::builtin::tick`]) every `tick_ms`, and
//! runs the external engines' sync loop ([`crate::engines::sync`]).
//!
//! On PostgreSQL the leader holds a session advisory lock on a dedicated
//! connection; if that connection drops (the node died or was cut off), the
//! lock is released and another node takes over at its next attempt. On
//! SQLite there is one node, which always leads.

use std::sync::Arc;
use std::time::Duration;

use ferry_core::clock::Clock;
use ferry_engine::CancellationToken;
use tokio::task::JoinHandle;

use crate::app::AppState;

/// The advisory-lock key of the scheduler's leadership.
pub const LEADER_LOCK: i64 = 0x4645_5252_5953_4348; // "FERRYSCH"

/// Starts the scheduler loop (it stops when `shutdown` fires).
pub fn spawn(
    state: AppState,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_millis(state.config.tick_ms);
        loop {
            let leader = match state.store.try_lead(LEADER_LOCK).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler: could not try for leadership");
                    None
                }
            };
            if let Some(mut lead) = leader {
                tracing::info!(node = %state.config.node_id, "scheduler: this node leads");
                let engines_stop = shutdown.child_token();
                let engines = state
                    .engines
                    .any()
                    .then(|| crate::engines::sync::spawn(state.clone(), engines_stop.clone()));
                while !shutdown.is_cancelled() {
                    if let Err(e) = lead.check().await {
                        tracing::warn!(error = %e, "scheduler: lost leadership");
                        break;
                    }
                    match ferry_scheduler::builtin::tick(&state.store, clock.now()).await {
                        Ok(r) if r.created + r.skipped > 0 => {
                            tracing::info!(
                                created = r.created,
                                skipped = r.skipped,
                                existing = r.existing,
                                "scheduler tick"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "scheduler tick failed; retrying"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                engines_stop.cancel();
                if let Some(h) = engines {
                    let _ = h.await;
                }
                lead.release().await;
            }
            tokio::select! {
                _ = tokio::time::sleep(period.max(Duration::from_secs(1))) => {}
                _ = shutdown.cancelled() => return,
            }
            if shutdown.is_cancelled() {
                return;
            }
        }
    })
}
