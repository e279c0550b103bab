//! The `dolphinscheduler` engine: Apache DolphinScheduler (DS) 3.2 triggers
//! a task's instances.
//!
//! For a Ferry task `orders` the engine keeps, in one DS project
//! ([`DolphinConfig::project`], created on first use):
//!
//! * a workflow `ferry_orders` (execution type `SERIAL_WAIT`) of one HTTP
//!   task `trigger` that calls Ferry's trigger endpoint
//!   `POST {ferry_url}/api/v1/tasks/orders/instances?wait_seconds=N` with
//!   `{"logical_time": <the DS schedule time, RFC 3339>, "run_key": <the DS
//!   workflow instance id>}`, waits for the instance to end, and succeeds
//!   only when the answer contains `"state":"succeeded"`; Ferry computes the
//!   window from the logical time;
//! * a DS schedule of that workflow: the [`quartz_cron`] of the task's
//!   schedule in UTC, from `start_time` (else the registration time) to
//!   `end_time` (else 2099-12-31 23:59:59, DS needs one), online iff the
//!   task is active.
//!
//! Operations: `register` ensures the project, creates or updates the
//! workflow (DS edits only OFFLINE workflows: release OFFLINE, update,
//! release ONLINE; OFFLINE also takes the schedule offline), creates or
//! updates the schedule and puts it online iff the task is active. `pause`
//! and `resume` take the schedule offline and online; `unregister` deletes
//! the schedule and the workflow (an unknown task is fine); `describe`
//! reports them (`paused` = the schedule is not online, `reference` =
//! `<projectCode>/<workflowCode>`). The engine's `task` arguments are
//! Ferry task names ([`ScheduledTask::name`]).
//!
//! **The Ferry token.** DS 3.x has no secret store. The HTTP task sends
//! `Authorization: Bearer ${ferry_token}`, resolved from the DS *project
//! parameter* `ferry_token` that `register` writes from
//! [`DolphinConfig::ferry_token`]: the token stays out of the workflow
//! definition (its JSON, versions and exports), but it is stored in plain
//! text in DS's database, readable by every DS user with access to the
//! project, and DS 3.2's HTTP task writes its resolved request parameters,
//! headers included, to the task instance log. Give DS a Ferry token of
//! its own, with no more rights than triggering instances, and rotate it
//! (re-register a task to update the parameter). Ferry never logs it and
//! blanks both tokens out of DS's error messages.
//!
//! **DS versions.** Written against the DS 3.2 API (3.2.0–3.2.2): project
//! parameters and `${system.workflow.instance.id}` first appear in 3.2.0.
//! The request body is built from two HTTP `BODY` parameters (`logical_time`,
//! `run_key`), which DS 3.0–3.2 send as one JSON object of strings. The DS
//! master must run in UTC: DS renders `$[yyyy-MM-dd'T'HH:mm:ss'Z']` in its
//! JVM's default time zone and the `Z` is literal. DS itself was not run
//! for the tests (it is a Java server not installable here): they run
//! against a strict fake of these endpoints (`tests/dolphin.rs`).

mod api;
mod cron;
mod quartz;

pub use cron::quartz_cron;

use std::fmt;

use async_trait::async_trait;
use chrono::Utc;
use ferry_core::schedule::ValidSchedule;
use ferry_core::{Error, Result};
use serde_json::{Value, json};

use crate::engine::{EngineStatus, ScheduleEngine, ScheduledTask};
use api::{Api, Params, int_field, str_field, total_list, total_pages};

/// The DS project parameter that holds the Ferry token.
pub const FERRY_TOKEN_PARAM: &str = "ferry_token";
/// The name of the workflow's one task.
pub const TRIGGER_TASK: &str = "trigger";
/// The logical time as DS renders it from the schedule time (UTC master).
pub const LOGICAL_TIME_TEMPLATE: &str = "$[yyyy-MM-dd'T'HH:mm:ss'Z']";
/// The run key: one per DS workflow instance (a DS rerun reuses it).
pub const RUN_KEY_TEMPLATE: &str = "${system.workflow.instance.id}";
/// What a successful trigger answer contains.
pub const SUCCESS_CONDITION: &str = r#""state":"succeeded""#;
/// The DS schedule's end when the Ferry schedule has none.
pub const NO_END_TIME: &str = "2099-12-31 23:59:59";
/// The longest `wait_seconds`.
pub const MAX_WAIT_SECONDS: u32 = 86_400;

const PAGE_SIZE: &str = "100";
const MAX_PAGES: i64 = 100;

/// Where DS is and how it reaches Ferry.
#[derive(Clone)]
pub struct DolphinConfig {
    /// DS API server, e.g. `http://ds:12345` (the engine appends
    /// `/dolphinscheduler`).
    pub api_url: String,
    /// A DS access token (Security → Token manage).
    pub token: String,
    /// The DS project holding Ferry's workflows; default `ferry`.
    pub project: String,
    /// Ferry's URL as DS's workers reach it, e.g. `http://ferry:8080`.
    pub ferry_url: String,
    /// The Ferry API token DS sends (see the module docs for where it is
    /// stored).
    pub ferry_token: String,
    /// How long one trigger call waits for its instance to end (1–86400);
    /// default 3600. An instance still running then fails the DS task (the
    /// instance itself goes on).
    pub wait_seconds: u32,
    /// The DS worker group that runs the HTTP task; default `default`.
    pub worker_group: String,
    /// A PEM file of CA certificates trusted for DS's HTTPS, besides the
    /// built-in public roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl DolphinConfig {
    /// A config with the defaults (`project: ferry`, `wait_seconds: 3600`,
    /// `worker_group: default`).
    pub fn new(
        api_url: impl Into<String>,
        token: impl Into<String>,
        ferry_url: impl Into<String>,
        ferry_token: impl Into<String>,
    ) -> DolphinConfig {
        DolphinConfig {
            api_url: api_url.into(),
            token: token.into(),
            project: "ferry".to_string(),
            ferry_url: ferry_url.into(),
            ferry_token: ferry_token.into(),
            wait_seconds: 3600,
            worker_group: "default".to_string(),
            ca_file: None,
        }
    }
}

impl fmt::Debug for DolphinConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DolphinConfig")
            .field("api_url", &self.api_url)
            .field("token", &"***")
            .field("project", &self.project)
            .field("ferry_url", &self.ferry_url)
            .field("ferry_token", &"***")
            .field("wait_seconds", &self.wait_seconds)
            .field("worker_group", &self.worker_group)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The DolphinScheduler engine.
pub struct DolphinEngine {
    config: DolphinConfig,
    api: Api,
}

impl fmt::Debug for DolphinEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DolphinEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A DS workflow (process definition).
struct Workflow {
    code: i64,
    online: bool,
}

/// A DS schedule.
struct Schedule {
    id: i64,
    online: bool,
}

impl DolphinEngine {
    /// An engine for `config` (checked; errors name `dolphinscheduler.<field>`).
    pub fn new(config: DolphinConfig) -> Result<DolphinEngine> {
        let url = |field: &str, v: &str| -> Result<()> {
            if v.starts_with("http://") || v.starts_with("https://") {
                Ok(())
            } else {
                Err(Error::invalid(
                    format!("dolphinscheduler.{field}"),
                    format!("`{v}` is not an http(s) URL"),
                ))
            }
        };
        url("api_url", &config.api_url)?;
        url("ferry_url", &config.ferry_url)?;
        for (field, v) in [
            ("token", &config.token),
            ("ferry_token", &config.ferry_token),
            ("project", &config.project),
            ("worker_group", &config.worker_group),
        ] {
            if v.trim().is_empty() {
                return Err(Error::invalid(
                    format!("dolphinscheduler.{field}"),
                    "must not be empty",
                ));
            }
        }
        if !(1..=MAX_WAIT_SECONDS).contains(&config.wait_seconds) {
            return Err(Error::invalid(
                "dolphinscheduler.wait_seconds",
                format!("must be between 1 and {MAX_WAIT_SECONDS}"),
            ));
        }
        let api = Api::new(
            &config.api_url,
            &config.token,
            vec![config.ferry_token.clone()],
            config.ca_file.as_deref(),
        )?;
        Ok(DolphinEngine { config, api })
    }

    /// The engine's config.
    pub fn config(&self) -> &DolphinConfig {
        &self.config
    }

    /// The DS workflow name of a Ferry task.
    pub fn workflow_name(task: &str) -> String {
        format!("ferry_{task}")
    }

    /// The URL the HTTP task calls.
    pub fn trigger_url(&self, task: &str) -> String {
        format!(
            "{}/api/v1/tasks/{task}/instances?wait_seconds={}",
            self.config.ferry_url.trim_end_matches('/'),
            self.config.wait_seconds
        )
    }

    /// The first item of a paged DS list that `pick` accepts.
    async fn find(
        &self,
        op: &str,
        path: &str,
        search: &str,
        pick: impl Fn(&Value) -> bool,
    ) -> Result<Option<Value>> {
        let mut page = 1;
        loop {
            let query = vec![
                ("pageNo", page.to_string()),
                ("pageSize", PAGE_SIZE.to_string()),
                ("searchVal", search.to_string()),
            ];
            let data = self.api.get(op, path, query).await?;
            if let Some(v) = total_list(&data).iter().find(|v| pick(v)) {
                return Ok(Some(v.clone()));
            }
            if page >= total_pages(&data).min(MAX_PAGES) {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// The project's code; created if missing and `create`.
    async fn project(&self, create: bool) -> Result<Option<i64>> {
        let name = &self.config.project;
        let found = self
            .find("find project", "/projects", name, |p| {
                str_field(p, "name") == Some(name.as_str())
            })
            .await?;
        if let Some(p) = found {
            return code_of(&p, "code", "find project").map(Some);
        }
        if !create {
            return Ok(None);
        }
        let form = vec![
            ("projectName", name.clone()),
            (
                "description",
                "Ferry's schedules (managed by Ferry's dolphinscheduler engine)".to_string(),
            ),
        ];
        let data = self.api.post("create project", "/projects", form).await?;
        code_of(&data, "code", "create project").map(Some)
    }

    /// Creates the project if needed and writes the current Ferry token into
    /// its parameter: after a token rotation, before the old one is revoked.
    pub async fn hand_over_token(&self) -> Result<()> {
        let project = self
            .project(true)
            .await?
            .ok_or_else(|| Error::Internal("DolphinScheduler project was not created".into()))?;
        self.ensure_token_param(project).await
    }

    /// Writes the Ferry token into the project parameter (if it differs).
    async fn ensure_token_param(&self, project: i64) -> Result<()> {
        let path = format!("/projects/{project}/project-parameter");
        let found = self
            .find("find project parameter", &path, FERRY_TOKEN_PARAM, |p| {
                str_field(p, "paramName") == Some(FERRY_TOKEN_PARAM)
            })
            .await?;
        let form = vec![
            ("projectParameterName", FERRY_TOKEN_PARAM.to_string()),
            ("projectParameterValue", self.config.ferry_token.clone()),
            ("projectParameterDataType", "VARCHAR".to_string()),
        ];
        match found {
            Some(p) if str_field(&p, "paramValue") == Some(self.config.ferry_token.as_str()) => {
                Ok(())
            }
            Some(p) => {
                let code = code_of(&p, "code", "find project parameter")?;
                self.api
                    .put("update project parameter", &format!("{path}/{code}"), form)
                    .await
                    .map(drop)
            }
            None => self
                .api
                .post("create project parameter", &path, form)
                .await
                .map(drop),
        }
    }

    async fn workflow(&self, project: i64, task: &str) -> Result<Option<Workflow>> {
        let name = Self::workflow_name(task);
        let found = self
            .find(
                "find workflow",
                &format!("/projects/{project}/process-definition"),
                &name,
                |w| str_field(w, "name") == Some(name.as_str()),
            )
            .await?;
        found
            .map(|w| {
                Ok(Workflow {
                    code: code_of(&w, "code", "find workflow")?,
                    online: str_field(&w, "releaseState") == Some("ONLINE"),
                })
            })
            .transpose()
    }

    async fn schedule(&self, project: i64, workflow: i64) -> Result<Option<Schedule>> {
        let query = vec![
            ("processDefinitionCode", workflow.to_string()),
            ("pageNo", "1".to_string()),
            ("pageSize", "10".to_string()),
        ];
        let data = self
            .api
            .get(
                "find schedule",
                &format!("/projects/{project}/schedules"),
                query,
            )
            .await?;
        total_list(&data)
            .iter()
            .find(|s| int_field(s, "processDefinitionCode") == Some(workflow))
            .map(|s| {
                Ok(Schedule {
                    id: code_of(s, "id", "find schedule")?,
                    online: str_field(s, "releaseState") == Some("ONLINE"),
                })
            })
            .transpose()
    }

    /// The code of the workflow's `trigger` task (kept across updates).
    async fn trigger_code(&self, project: i64, workflow: i64) -> Result<Option<i64>> {
        let data = self
            .api
            .get(
                "read workflow",
                &format!("/projects/{project}/process-definition/{workflow}"),
                Vec::new(),
            )
            .await?;
        Ok(data
            .get("taskDefinitionList")
            .and_then(Value::as_array)
            .and_then(|l| {
                l.iter()
                    .find(|t| str_field(t, "name") == Some(TRIGGER_TASK))
            })
            .and_then(|t| int_field(t, "code")))
    }

    async fn new_task_code(&self, project: i64) -> Result<i64> {
        let data = self
            .api
            .get(
                "generate task code",
                &format!("/projects/{project}/task-definition/gen-task-codes"),
                vec![("genNum", "1".to_string())],
            )
            .await?;
        data.as_array()
            .and_then(|a| a.first())
            .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
            .ok_or_else(|| {
                Error::server(
                    "DolphinScheduler: generate task code",
                    "the answer has no code",
                )
            })
    }

    async fn release(&self, project: i64, workflow: i64, state: &str) -> Result<()> {
        self.api
            .post(
                &format!("release workflow {state}"),
                &format!("/projects/{project}/process-definition/{workflow}/release"),
                vec![("releaseState", state.to_string())],
            )
            .await
            .map(drop)
    }

    async fn set_schedule(&self, project: i64, id: i64, online: bool) -> Result<()> {
        let state = if online { "online" } else { "offline" };
        self.api
            .post(
                &format!("put schedule {state}"),
                &format!("/projects/{project}/schedules/{id}/{state}"),
                Vec::new(),
            )
            .await
            .map(drop)
    }

    /// The workflow's form fields (create and update).
    fn workflow_form(&self, task: &ScheduledTask, code: i64) -> Params<'static> {
        let url = self.trigger_url(&task.name);
        let header = |prop: &str, value: &str| json!({"prop": prop, "httpParametersType": "HEADERS", "value": value});
        let body = |prop: &str, value: &str| json!({"prop": prop, "httpParametersType": "BODY", "value": value});
        let definition = json!([{
            "code": code,
            "name": TRIGGER_TASK,
            "version": 1,
            "description": format!("POST {url}"),
            "taskType": "HTTP",
            "taskParams": {
                "localParams": [],
                "resourceList": [],
                "url": url,
                "httpMethod": "POST",
                "httpParams": [
                    header("Authorization", &format!("Bearer ${{{FERRY_TOKEN_PARAM}}}")),
                    header("Content-Type", "application/json"),
                    body("logical_time", LOGICAL_TIME_TEMPLATE),
                    body("run_key", RUN_KEY_TEMPLATE),
                ],
                "httpCheckCondition": "BODY_CONTAINS",
                "condition": SUCCESS_CONDITION,
                "connectTimeout": 10_000,
                "socketTimeout": (u64::from(self.config.wait_seconds) + 60) * 1000,
            },
            "flag": "YES",
            "isCache": "NO",
            "taskPriority": "MEDIUM",
            "workerGroup": self.config.worker_group,
            "environmentCode": -1,
            "failRetryTimes": 0,
            "failRetryInterval": 1,
            "timeoutFlag": "CLOSE",
            "timeout": 0,
            "delayTime": 0,
            "taskExecuteType": "BATCH",
        }]);
        let relation = json!([{
            "name": "",
            "preTaskCode": 0,
            "preTaskVersion": 0,
            "postTaskCode": code,
            "postTaskVersion": 1,
            "conditionType": "NONE",
            "conditionParams": {},
        }]);
        vec![
            ("name", Self::workflow_name(&task.name)),
            (
                "description",
                format!(
                    "Triggers Ferry task `{}` (managed by Ferry: edits are overwritten)",
                    task.name
                ),
            ),
            ("globalParams", "[]".to_string()),
            (
                "locations",
                json!([{"taskCode": code, "x": 100, "y": 100}]).to_string(),
            ),
            ("timeout", "0".to_string()),
            ("executionType", "SERIAL_WAIT".to_string()),
            ("taskDefinitionJson", definition.to_string()),
            ("taskRelationJson", relation.to_string()),
        ]
    }

    /// The schedule's form fields (update: without `processDefinitionCode`).
    fn schedule_form(&self, s: &ValidSchedule, cron: String) -> Params<'static> {
        const DS_TIME: &str = "%Y-%m-%d %H:%M:%S";
        let start = s.start.unwrap_or_else(Utc::now).format(DS_TIME).to_string();
        let end = s
            .end
            .map(|e| e.format(DS_TIME).to_string())
            .unwrap_or_else(|| NO_END_TIME.to_string());
        let schedule = json!({
            "startTime": start,
            "endTime": end,
            "crontab": cron,
            "timezoneId": "UTC",
        });
        vec![
            ("schedule", schedule.to_string()),
            ("failureStrategy", "END".to_string()),
            ("warningType", "NONE".to_string()),
            ("processInstancePriority", "MEDIUM".to_string()),
            ("workerGroup", self.config.worker_group.clone()),
        ]
    }

    /// The project, workflow and schedule of a registered task.
    async fn registered(&self, task: &str) -> Result<(i64, Workflow, Option<Schedule>)> {
        let not_found = || Error::NotFound {
            what: "DolphinScheduler workflow",
            name: Self::workflow_name(task),
            hint: Some(format!(
                "task `{task}` is not registered with DolphinScheduler"
            )),
        };
        let project = self.project(false).await?.ok_or_else(not_found)?;
        let workflow = self.workflow(project, task).await?.ok_or_else(not_found)?;
        let schedule = self.schedule(project, workflow.code).await?;
        Ok((project, workflow, schedule))
    }
}

#[async_trait]
impl ScheduleEngine for DolphinEngine {
    fn name(&self) -> &'static str {
        "dolphinscheduler"
    }

    async fn register(&self, task: &ScheduledTask) -> Result<()> {
        check_name(&task.name)?;
        let cron = quartz_cron(&task.schedule)?;
        let project = self
            .project(true)
            .await?
            .ok_or_else(|| Error::Internal("no DolphinScheduler project".into()))?;
        self.ensure_token_param(project).await?;
        let workflows = format!("/projects/{project}/process-definition");
        let workflow = match self.workflow(project, &task.name).await? {
            Some(w) => {
                if w.online {
                    // Also takes the schedule offline.
                    self.release(project, w.code, "OFFLINE").await?;
                }
                let code = match self.trigger_code(project, w.code).await? {
                    Some(c) => c,
                    None => self.new_task_code(project).await?,
                };
                let form = self.workflow_form(task, code);
                self.api
                    .put("update workflow", &format!("{workflows}/{}", w.code), form)
                    .await?;
                w.code
            }
            None => {
                let code = self.new_task_code(project).await?;
                let form = self.workflow_form(task, code);
                let data = self.api.post("create workflow", &workflows, form).await?;
                code_of(&data, "code", "create workflow")?
            }
        };
        self.release(project, workflow, "ONLINE").await?;
        let form = self.schedule_form(&task.schedule, cron);
        let schedules = format!("/projects/{project}/schedules");
        let id = match self.schedule(project, workflow).await? {
            Some(s) => {
                if s.online {
                    self.set_schedule(project, s.id, false).await?;
                }
                self.api
                    .put("update schedule", &format!("{schedules}/{}", s.id), form)
                    .await?;
                s.id
            }
            None => {
                let mut form = form;
                form.insert(0, ("processDefinitionCode", workflow.to_string()));
                let data = self.api.post("create schedule", &schedules, form).await?;
                code_of(&data, "id", "create schedule")?
            }
        };
        if task.active {
            self.set_schedule(project, id, true).await?;
        }
        tracing::info!(
            engine = "dolphinscheduler",
            task = %task.name,
            reference = %format!("{project}/{workflow}"),
            active = task.active,
            "registered"
        );
        Ok(())
    }

    async fn unregister(&self, task: &str) -> Result<()> {
        let Some(project) = self.project(false).await? else {
            return Ok(());
        };
        let Some(workflow) = self.workflow(project, task).await? else {
            return Ok(());
        };
        if let Some(s) = self.schedule(project, workflow.code).await? {
            if s.online {
                self.set_schedule(project, s.id, false).await?;
            }
            self.api
                .delete(
                    "delete schedule",
                    &format!("/projects/{project}/schedules/{}", s.id),
                )
                .await?;
        }
        if workflow.online {
            self.release(project, workflow.code, "OFFLINE").await?;
        }
        self.api
            .delete(
                "delete workflow",
                &format!("/projects/{project}/process-definition/{}", workflow.code),
            )
            .await?;
        tracing::info!(engine = "dolphinscheduler", task = %task, "unregistered");
        Ok(())
    }

    async fn pause(&self, task: &str) -> Result<()> {
        let (project, _, schedule) = self.registered(task).await?;
        match schedule {
            Some(s) if s.online => self.set_schedule(project, s.id, false).await,
            _ => Ok(()),
        }
    }

    async fn resume(&self, task: &str) -> Result<()> {
        let (project, workflow, schedule) = self.registered(task).await?;
        let Some(s) = schedule else {
            return Err(Error::NotFound {
                what: "DolphinScheduler schedule",
                name: Self::workflow_name(task),
                hint: Some("register the task again".into()),
            });
        };
        if !workflow.online {
            self.release(project, workflow.code, "ONLINE").await?;
        }
        if !s.online {
            self.set_schedule(project, s.id, true).await?;
        }
        Ok(())
    }

    async fn describe(&self, task: &str) -> Result<EngineStatus> {
        let mut status = EngineStatus {
            engine: self.name().to_string(),
            registered: false,
            paused: false,
            reference: None,
        };
        let Some(project) = self.project(false).await? else {
            return Ok(status);
        };
        let Some(workflow) = self.workflow(project, task).await? else {
            return Ok(status);
        };
        let schedule = self.schedule(project, workflow.code).await?;
        status.registered = true;
        status.paused = !(workflow.online && schedule.is_some_and(|s| s.online));
        status.reference = Some(format!("{project}/{}", workflow.code));
        Ok(status)
    }
}

/// A numeric field DS must have sent.
fn code_of(v: &Value, field: &str, op: &str) -> Result<i64> {
    int_field(v, field).ok_or_else(|| {
        Error::server(
            format!("DolphinScheduler: {op}"),
            format!("the answer has no `{field}`"),
        )
    })
}

/// Task names go into DS names and Ferry's URL unescaped.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "task.name",
            format!(
                "{name:?}: the DolphinScheduler engine takes 1 to 128 letters, digits, `_`, `-` or `.`"
            ),
        ))
    }
}
