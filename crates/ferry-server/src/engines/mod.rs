//! External schedule engines (Apache Airflow, Apache DolphinScheduler) as a
//! server uses them: their settings, the check that a schedule can run on
//! the engine it names (at create, edit and approval, so a schedule an
//! engine cannot express is a 422, not a later failure), and the
//! [`sync`] loop that keeps each engine in step with the tasks.
//!
//! A task is registered when approved (paused until it is active), except
//! one without `start_time`, which is registered when it first becomes
//! active ([`waits_for_activation`]).

pub mod sync;

use chrono::Utc;
use ferry_core::schedule::{EngineKind, ScheduleSpec, ValidSchedule};
use ferry_core::{Error, Result};
use ferry_scheduler::airflow::AirflowConfig;
use ferry_scheduler::airflow::schedule::AirflowSchedule;
use ferry_scheduler::dolphin::{DolphinConfig, quartz_cron};

/// The external engines this server may register tasks with.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    /// Airflow, when configured (`--airflow-url` …).
    pub airflow: Option<AirflowConfig>,
    /// DolphinScheduler, when configured (`--dolphin-url` …); its
    /// `ferry_token` is minted by the sync loop.
    pub dolphin: Option<DolphinConfig>,
}

impl EngineSettings {
    /// Whether any external engine is configured.
    pub fn any(&self) -> bool {
        self.airflow.is_some() || self.dolphin.is_some()
    }

    /// Builds each configured engine once, so a bad setting stops the
    /// server at start (the service token is not known yet: a placeholder
    /// stands in).
    pub fn validate(&self) -> Result<()> {
        if let Some(a) = &self.airflow {
            ferry_scheduler::airflow::AirflowEngine::new(a.clone())?;
        }
        if let Some(d) = &self.dolphin {
            let mut d = d.clone();
            d.ferry_token = "placeholder".into();
            ferry_scheduler::dolphin::DolphinEngine::new(d)?;
        }
        Ok(())
    }

    /// Whether a configured engine has no URL to reach Ferry at yet.
    pub fn needs_ferry_url(&self) -> bool {
        self.airflow
            .as_ref()
            .is_some_and(|a| a.ferry_url.is_empty())
            || self
                .dolphin
                .as_ref()
                .is_some_and(|d| d.ferry_url.is_empty())
    }

    /// Sets the URL the engines reach Ferry at where none was given
    /// (the server's own listen address, once bound).
    pub fn default_ferry_url(&mut self, url: &str) {
        if let Some(a) = &mut self.airflow
            && a.ferry_url.is_empty()
        {
            a.ferry_url = url.to_string();
        }
        if let Some(d) = &mut self.dolphin
            && d.ferry_url.is_empty()
        {
            d.ferry_url = url.to_string();
        }
    }

    /// Refuses a schedule whose engine is not configured here or cannot
    /// express it, naming the field.
    pub fn check(&self, schedule: &ValidSchedule) -> Result<()> {
        match schedule.spec.engine {
            EngineKind::Builtin | EngineKind::None => Ok(()),
            EngineKind::Airflow => {
                if self.airflow.is_none() {
                    return Err(not_configured("airflow"));
                }
                AirflowSchedule::translate(schedule, Utc::now()).map(|_| ())
            }
            EngineKind::DolphinScheduler => {
                if self.dolphin.is_none() {
                    return Err(not_configured("dolphinscheduler"));
                }
                quartz_cron(schedule).map(|_| ())
            }
        }
    }
}

/// Whether a task's registration waits for its first activation: without
/// `start_time` its first logical time is the first one after it becomes
/// active (as in the built-in engine), so nothing is registered before
/// that. Once registered, it stays (paused) across pauses.
pub fn waits_for_activation(schedule: &ScheduleSpec, active: bool, registered: bool) -> bool {
    schedule.start_time.is_none() && !active && !registered
}

/// The 422 for a task whose engine (`airflow`, `dolphinscheduler`) this
/// server was not started with.
pub(crate) fn not_configured(engine: &str) -> Error {
    let (name, flag) = match engine {
        "airflow" => ("Airflow", "--airflow-url"),
        "dolphinscheduler" => ("DolphinScheduler", "--dolphin-url"),
        other => (other, "its settings"),
    };
    Error::invalid(
        "schedule.engine",
        format!(
            "this Ferry server has no {name} configured (start it with {flag}); \
             use `builtin` or `none`"
        ),
    )
}

/// The engine name as stored and shown (`airflow`, `dolphinscheduler`).
pub fn engine_name(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Builtin => "builtin",
        EngineKind::Airflow => "airflow",
        EngineKind::DolphinScheduler => "dolphinscheduler",
        EngineKind::None => "none",
    }
}
