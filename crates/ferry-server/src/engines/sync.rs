//! The engine sync loop: on the scheduler leader, it makes each external
//! engine hold exactly the tasks whose approved schedule names it — a new
//! or changed schedule is registered (paused unless the task is active),
//! `pause`/`resume` follow the task's state, and a deleted task, or one
//! whose schedule moved to another engine, is removed.
//!
//! What each engine holds is recorded in the store (`ferry_engine_sync`),
//! so a restart or a new leader neither repeats finished work nor forgets
//! what to remove; a failed call is recorded with its error (shown by
//! `GET /api/v1/tasks/{id}/engine`) and retried after [`RETRY_AFTER`].
//!
//! The engines reach Ferry with the token of the service user
//! [`SERVICE_USER`] (role operator): a new token is minted whenever a node
//! becomes leader and handed to every engine (an Airflow Variable, a
//! DolphinScheduler project parameter); only then are the user's older
//! tokens revoked. Airflow's DAGs read the Variable again on a 401, so a
//! run in flight survives the rotation.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ferry_core::Result;
use ferry_core::schedule::{EngineKind, ScheduleSpec};
use ferry_engine::CancellationToken;
use ferry_scheduler::airflow::AirflowEngine;
use ferry_scheduler::dolphin::DolphinEngine;
use ferry_scheduler::engine::{ScheduleEngine, ScheduledTask};
use ferry_store::control::{EngineSync, Role, TaskState};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::{engine_name, not_configured, waits_for_activation};
use crate::app::AppState;
use crate::auth::new_token;

/// The user whose token the engines call Ferry with.
pub const SERVICE_USER: &str = "ferry-engines";

/// How often the loop looks for changes when nothing wakes it.
pub const PERIOD: Duration = Duration::from_secs(3);

/// How long a failed registration waits before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(20);

/// Starts the loop; it ends when `stop` fires (shutdown, or leadership
/// lost).
pub fn spawn(state: AppState, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let engines = loop {
            match Engines::start(&state).await {
                Ok(e) => break e,
                Err(e) => tracing::warn!(error = %e, "engine sync: cannot start; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PERIOD) => {}
                _ = stop.cancelled() => return,
            }
        };
        let mut sync = Sync {
            state,
            engines,
            failed: HashMap::new(),
        };
        loop {
            // Leadership lost or shutdown: stop mid-pass (every action is
            // idempotent; the next leader redoes what was cut short).
            tokio::select! {
                r = sync.pass() => if let Err(e) = r {
                    tracing::warn!(error = %e, "engine sync pass failed; retrying");
                },
                _ = stop.cancelled() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(PERIOD) => {}
                _ = sync.state.engine_wake.notified() => {}
                _ = stop.cancelled() => return,
            }
        }
    })
}

/// The configured engines, holding the current service token.
struct Engines {
    airflow: Option<AirflowEngine>,
    dolphin: Option<DolphinEngine>,
    /// The service user and its new token (id, secret).
    user_id: String,
    token_id: String,
    token: String,
    /// Whether every engine has the new token (older ones are then revoked).
    handed_over: bool,
}

impl Engines {
    async fn start(state: &AppState) -> Result<Engines> {
        let settings = &state.engines;
        // The settings were validated when the server started
        // (`EngineSettings::validate`), so this does not fail after minting.
        let airflow = settings
            .airflow
            .clone()
            .map(AirflowEngine::new)
            .transpose()?;
        let (user_id, token_id, token) = mint_service_token(state).await?;
        let dolphin = match settings.dolphin.clone() {
            Some(mut c) => {
                c.ferry_token.clone_from(&token);
                Some(DolphinEngine::new(c)?)
            }
            None => None,
        };
        Ok(Engines {
            airflow,
            dolphin,
            user_id,
            token_id,
            token,
            handed_over: false,
        })
    }

    fn get(&self, name: &str) -> Option<&dyn ScheduleEngine> {
        match name {
            "airflow" => self.airflow.as_ref().map(|e| e as &dyn ScheduleEngine),
            "dolphinscheduler" => self.dolphin.as_ref().map(|e| e as &dyn ScheduleEngine),
            _ => None,
        }
    }

    /// Hands the new token to every engine, then revokes the service user's
    /// older tokens (retried every pass until it succeeds).
    async fn hand_over(&mut self, state: &AppState) -> Result<()> {
        if self.handed_over {
            return Ok(());
        }
        if let Some(a) = &self.airflow {
            a.set_ferry_token(&self.token).await?;
        }
        if let Some(d) = &self.dolphin {
            d.hand_over_token().await?;
        }
        let store = &state.store;
        for old in store.tokens(&self.user_id).await? {
            if old.id != self.token_id && old.revoked_at.is_none() {
                store.revoke_token(&self.user_id, &old.id).await?;
            }
        }
        self.handed_over = true;
        tracing::info!(
            user = SERVICE_USER,
            "engine sync: the engines have the new token"
        );
        Ok(())
    }
}

/// Creates the service user if needed and mints it a token: (user id,
/// token id, token).
async fn mint_service_token(state: &AppState) -> Result<(String, String, String)> {
    let store = &state.store;
    let user = match store.user(SERVICE_USER).await {
        Ok(u) => u,
        Err(e) if e.kind() == ferry_core::ErrorKind::NotFound => {
            store.create_user(SERVICE_USER, Role::Operator).await?
        }
        Err(e) => return Err(e),
    };
    if user.disabled {
        tracing::warn!(
            user = SERVICE_USER,
            "the engines' service user is disabled: Airflow and DolphinScheduler runs will get 401"
        );
    }
    let t = new_token();
    let info = store
        .create_token(&user.id, &t.hash, &t.prefix, "schedule engines", None)
        .await?;
    Ok((user.id, info.id, t.token))
}

/// What an engine should hold for a live task.
struct Want {
    engine: &'static str,
    task: ScheduledTask,
    fingerprint: String,
}

struct Sync {
    state: AppState,
    engines: Engines,
    /// When a task's last call failed (it waits [`RETRY_AFTER`]).
    failed: HashMap<String, Instant>,
}

impl Sync {
    async fn pass(&mut self) -> Result<()> {
        if let Err(e) = self.engines.hand_over(&self.state).await {
            tracing::warn!(error = %e, "engine sync: handing the new token to the engines failed; retrying");
        }
        let store = &self.state.store;
        let syncs: HashMap<String, EngineSync> = store
            .engine_syncs()
            .await?
            .into_iter()
            .map(|s| (s.task_id.clone(), s))
            .collect();
        let mut wants = Vec::new();
        for (t, v) in store.approved_tasks().await? {
            if t.state == TaskState::Deleted {
                continue;
            }
            let Some(text) = v.schedule.as_deref() else {
                continue;
            };
            let spec: ScheduleSpec = match serde_json::from_str(text) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(task = %t.name, error = %e, "unreadable stored schedule; not synced");
                    continue;
                }
            };
            if matches!(spec.engine, EngineKind::Builtin | EngineKind::None) {
                continue;
            }
            let engine = engine_name(spec.engine);
            let active = t.state == TaskState::Active;
            let registered = syncs
                .get(&t.id)
                .is_some_and(|s| s.registered && s.engine == engine);
            if waits_for_activation(&spec, active, registered) {
                continue;
            }
            let schedule = match spec.validate() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(task = %t.name, error = %e, "invalid stored schedule; not synced");
                    continue;
                }
            };
            wants.push(Want {
                engine,
                fingerprint: fingerprint(&t.name, text),
                task: ScheduledTask {
                    task_id: t.id.clone(),
                    name: t.name.clone(),
                    schedule,
                    active,
                },
            });
        }
        let blocked = self.remove_stale(&syncs, &wants).await?;
        for w in &wants {
            if !blocked.contains(&w.task.task_id) {
                self.apply(syncs.get(&w.task.task_id), w).await?;
            }
        }
        Ok(())
    }

    /// Removes registrations no live task wants; returns the tasks whose
    /// removal failed (their new registration waits for it).
    async fn remove_stale(
        &mut self,
        syncs: &HashMap<String, EngineSync>,
        wants: &[Want],
    ) -> Result<HashSet<String>> {
        let mut blocked = HashSet::new();
        for s in syncs.values().filter(|s| s.registered) {
            let same = |w: &&Want| w.engine == s.engine && w.task.name == s.task_name;
            if wants
                .iter()
                .filter(same)
                .any(|w| w.task.task_id == s.task_id)
            {
                continue;
            }
            if self.waiting(&s.task_id) {
                blocked.insert(s.task_id.clone());
                continue;
            }
            // Another live task with the name now owns the engine's object:
            // its registration replaces it, nothing to remove.
            let taken = wants.iter().any(|w| same(&w));
            let result = match (taken, self.engines.get(&s.engine)) {
                (true, _) => Ok(()),
                (false, Some(e)) => e.unregister(&s.task_name).await,
                (false, None) => Err(not_configured(&s.engine)),
            };
            tracing::info!(task = %s.task_name, engine = %s.engine, ok = result.is_ok(), "engine sync: removed");
            // An engine this server is not configured for cannot be cleaned
            // here: say so, and let the task register elsewhere.
            if result.is_err() && self.engines.get(&s.engine).is_some() {
                blocked.insert(s.task_id.clone());
            }
            let record = EngineSync {
                registered: result.is_err(),
                ..s.clone()
            };
            self.record(record, result).await?;
        }
        Ok(blocked)
    }

    /// Registers, pauses or resumes one wanted task as needed.
    async fn apply(&mut self, current: Option<&EngineSync>, w: &Want) -> Result<()> {
        let same = current
            .filter(|c| c.registered && c.engine == w.engine && c.fingerprint == w.fingerprint);
        let settled = same.is_some_and(|c| c.active == w.task.active && c.error.is_none());
        if settled || self.waiting(&w.task.task_id) {
            return Ok(());
        }
        let Some(engine) = self.engines.get(w.engine) else {
            let record = sync_record(w, current.is_some_and(|c| c.registered));
            return self.record(record, Err(not_configured(w.engine))).await;
        };
        let (what, result) = match same {
            Some(_) if w.task.active => ("resumed", engine.resume(&w.task.name).await),
            Some(_) => ("paused", engine.pause(&w.task.name).await),
            None => ("registered", engine.register(&w.task).await),
        };
        tracing::info!(
            task = %w.task.name,
            engine = w.engine,
            active = w.task.active,
            ok = result.is_ok(),
            "engine sync: {what}"
        );
        // A failed registration may have left something behind: count it as
        // registered (so it is removed if the task goes away), with no
        // fingerprint (so it is registered again, not just resumed).
        let mut record = sync_record(w, true);
        if result.is_err() && same.is_none() {
            record.fingerprint.clear();
        }
        self.record(record, result).await
    }

    fn waiting(&self, task_id: &str) -> bool {
        self.failed
            .get(task_id)
            .is_some_and(|at| at.elapsed() < RETRY_AFTER)
    }

    async fn record(&mut self, mut s: EngineSync, result: Result<()>) -> Result<()> {
        match result {
            Ok(()) => {
                self.failed.remove(&s.task_id);
                s.error = None;
            }
            Err(e) => {
                tracing::warn!(task = %s.task_name, engine = %s.engine, error = %e, "engine sync failed; will retry");
                self.failed.insert(s.task_id.clone(), Instant::now());
                s.error = Some(e.to_string());
            }
        }
        s.synced_at = ferry_store::format_timestamp(chrono::Utc::now());
        self.state.store.put_engine_sync(&s).await
    }
}

fn sync_record(w: &Want, registered: bool) -> EngineSync {
    EngineSync {
        task_id: w.task.task_id.clone(),
        task_name: w.task.name.clone(),
        engine: w.engine.to_string(),
        fingerprint: w.fingerprint.clone(),
        registered,
        active: w.task.active,
        synced_at: String::new(),
        error: None,
    }
}

/// What a registration depends on: the task's name and its schedule.
pub fn fingerprint(name: &str, schedule: &str) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(schedule.as_bytes());
    hex::encode(h.finalize())
}
