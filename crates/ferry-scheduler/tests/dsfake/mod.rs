//! A strict in-memory fake of the DolphinScheduler 3.2 REST API, shared by
//! the engine's tests (`tests/dolphin.rs`) and the server's
//! (`ferry-cli/tests/server_dolphin.rs`). No DS server can run here: it is
//! a Java server, on no registry these machines reach.
//!
//! It implements the endpoints the engine uses and checks every request:
//! the `token` header, form encoding, the exact set of form and query
//! fields, JSON fields that parse, the HTTP task (URL, method, headers,
//! body parameters, check condition, timeouts), the Ferry token kept out of
//! the definition, the crontab (a 7-field Quartz expression with `?` in
//! exactly one of day-of-month and day-of-week), the schedule times, and
//! DS's state rules. Every call is recorded; anything off is a violation the
//! tests assert away, and is answered with a DS error.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use ferry_scheduler::dolphin::{DolphinConfig, DolphinEngine};
use serde_json::{Value, json};

pub struct Project {
    pub code: i64,
    pub name: String,
}

pub struct Param {
    pub project: i64,
    pub code: i64,
    pub name: String,
    pub value: String,
}

pub struct Workflow {
    pub project: i64,
    pub code: i64,
    pub name: String,
    pub online: bool,
    pub task_code: i64,
    pub definition: Value,
}

pub struct Sched {
    pub project: i64,
    pub id: i64,
    pub workflow: i64,
    pub online: bool,
    pub crontab: String,
    pub start: String,
    pub end: String,
}

#[derive(Default)]
pub struct Ds {
    /// The access token DS accepts.
    pub ds_token: String,
    /// Ferry's URL the HTTP task must call.
    pub ferry_url: String,
    /// The `wait_seconds` the HTTP task must ask for.
    pub wait: u32,
    pub next_code: i64,
    pub projects: Vec<Project>,
    pub params: Vec<Param>,
    pub workflows: Vec<Workflow>,
    pub schedules: Vec<Sched>,
    pub generated: Vec<i64>,
    /// Every call, as an operation name.
    pub calls: Vec<String>,
    /// Requests that DS would refuse or that break the engine's contract.
    pub violations: Vec<String>,
    /// Task definitions an update replaced by a new code (DS keeps them).
    pub replaced_tasks: usize,
    /// Answer this operation with this error, once.
    pub fail: Option<(String, i64, String)>,
}

pub type DsResult = Result<Value, (i64, String)>;
pub type Fields = BTreeMap<String, String>;

impl Ds {
    fn code(&mut self) -> i64 {
        self.next_code += 1;
        1_000_000 + self.next_code
    }

    fn violation(&mut self, what: String) -> (i64, String) {
        self.violations.push(what.clone());
        (10001, format!("request parameter {what} is not valid"))
    }

    fn project(&mut self, pc: &str) -> Result<i64, (i64, String)> {
        let code: i64 = pc
            .parse()
            .map_err(|_| self.violation(format!("projectCode {pc}")))?;
        if self.projects.iter().any(|p| p.code == code) {
            Ok(code)
        } else {
            Err((10018, format!("project {code} not found")))
        }
    }
}

/// Checks that `fields` has exactly `required` plus some of `optional`.
fn expect_fields(
    ds: &mut Ds,
    what: &str,
    fields: &Fields,
    required: &[&str],
    optional: &[&str],
) -> Result<(), (i64, String)> {
    for r in required {
        if !fields.contains_key(*r) {
            return Err(ds.violation(format!("{what}: missing {r}")));
        }
    }
    for k in fields.keys() {
        if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
            return Err(ds.violation(format!("{what}: unexpected field {k}")));
        }
    }
    Ok(())
}

fn page(items: Vec<Value>, q: &Fields) -> Value {
    let no: usize = q.get("pageNo").and_then(|v| v.parse().ok()).unwrap_or(1);
    let size: usize = q.get("pageSize").and_then(|v| v.parse().ok()).unwrap_or(10);
    let total = items.len();
    let list: Vec<Value> = items.into_iter().skip((no - 1) * size).take(size).collect();
    json!({
        "totalList": list,
        "total": total,
        "totalPage": total.div_ceil(size).max(1),
        "pageSize": size,
        "currentPage": no,
        "pageNo": no,
    })
}

fn page_query(ds: &mut Ds, what: &str, q: &Fields) -> Result<(), (i64, String)> {
    for k in ["pageNo", "pageSize"] {
        match q.get(k).and_then(|v| v.parse::<i64>().ok()) {
            Some(n) if n >= 1 => {}
            _ => return Err(ds.violation(format!("{what}: {k}"))),
        }
    }
    Ok(())
}

fn search(q: &Fields) -> String {
    q.get("searchVal").cloned().unwrap_or_default()
}

/// A Quartz field: `*`, `?`, `L` where allowed, numbers, `a-b`, `a/n`, lists.
fn quartz_field(f: &str, lo: u32, hi: u32, may_skip: bool, may_last: bool) -> bool {
    let num = |s: &str| s.parse::<u32>().ok().filter(|n| (lo..=hi).contains(n));
    match f {
        "*" => true,
        "?" => may_skip,
        "L" => may_last,
        _ => f.split(',').all(|item| {
            if let Some((base, step)) = item.split_once('/') {
                (base == "*" || num(base).is_some())
                    && step.parse::<u32>().is_ok_and(|s| (1..=hi).contains(&s))
            } else if let Some((a, b)) = item.split_once('-') {
                matches!((num(a), num(b)), (Some(a), Some(b)) if a <= b)
            } else {
                num(item).is_some()
            }
        }),
    }
}

pub fn check_quartz(cron: &str) -> Result<(), String> {
    let f: Vec<&str> = cron.split(' ').collect();
    if f.len() != 7 {
        return Err(format!("crontab {cron:?}: {} fields, not 7", f.len()));
    }
    if (f[3] == "?") == (f[5] == "?") {
        return Err(format!(
            "crontab {cron:?}: exactly one of day-of-month and day-of-week must be ?"
        ));
    }
    let ok = quartz_field(f[0], 0, 59, false, false)
        && quartz_field(f[1], 0, 59, false, false)
        && quartz_field(f[2], 0, 23, false, false)
        && quartz_field(f[3], 1, 31, true, true)
        && quartz_field(f[4], 1, 12, false, false)
        && quartz_field(f[5], 1, 7, true, false)
        && quartz_field(f[6], 1970, 2099, false, false);
    if ok {
        Ok(())
    } else {
        Err(format!("crontab {cron:?}: a field is out of range"))
    }
}

/// Checks a workflow form; returns (name, task code, definition).
fn check_workflow_form(
    ds: &mut Ds,
    project: i64,
    form: &Fields,
) -> Result<(String, i64, Value), (i64, String)> {
    let what = "workflow";
    expect_fields(
        ds,
        what,
        form,
        &[
            "name",
            "description",
            "globalParams",
            "locations",
            "timeout",
            "executionType",
            "taskDefinitionJson",
            "taskRelationJson",
        ],
        &[],
    )?;
    let all: String = form.values().cloned().collect();
    if ds.params.iter().any(|p| all.contains(&p.value)) || all.contains(&ds.ds_token) {
        return Err(ds.violation(format!("{what}: a token in the definition text")));
    }
    let name = form["name"].clone();
    let Some(task) = name.strip_prefix("ferry_").map(str::to_string) else {
        return Err(ds.violation(format!("{what}: name {name}")));
    };
    let parse = |ds: &mut Ds, field: &str| -> Result<Value, (i64, String)> {
        serde_json::from_str(&form[field]).map_err(|e| ds.violation(format!("{field}: {e}")))
    };
    if parse(ds, "globalParams")? != json!([]) {
        return Err(ds.violation("globalParams must be []".into()));
    }
    let locations = parse(ds, "locations")?;
    if form["timeout"] != "0" || form["executionType"] != "SERIAL_WAIT" {
        return Err(ds.violation(format!("{what}: timeout/executionType")));
    }
    let defs = parse(ds, "taskDefinitionJson")?;
    let relations = parse(ds, "taskRelationJson")?;
    let Some([def]) = defs.as_array().map(Vec::as_slice) else {
        return Err(ds.violation("taskDefinitionJson: not one task".into()));
    };
    let code = def["code"].as_i64().unwrap_or(-1);
    if !ds.generated.contains(&code) {
        return Err(ds.violation(format!("task code {code} was not generated by DS")));
    }
    let p = &def["taskParams"];
    let want_url = format!(
        "{}/api/v1/tasks/{task}/instances?wait_seconds={}",
        ds.ferry_url, ds.wait
    );
    let wait = ds.wait;
    let want_params = json!([
        {"prop": "Authorization", "httpParametersType": "HEADERS", "value": "Bearer ${ferry_token}"},
        {"prop": "Content-Type", "httpParametersType": "HEADERS", "value": "application/json"},
        {"prop": "logical_time", "httpParametersType": "BODY", "value": "$[yyyy-MM-dd'T'HH:mm:ss'Z']"},
        {"prop": "run_key", "httpParametersType": "BODY", "value": "${system.workflow.instance.id}"},
    ]);
    let checks = [
        ("task name", def["name"] == "trigger"),
        ("taskType", def["taskType"] == "HTTP"),
        ("failRetryTimes", def["failRetryTimes"] == 0),
        ("task timeout", def["timeout"] == 0),
        ("url", p["url"] == want_url.as_str()),
        ("httpMethod", p["httpMethod"] == "POST"),
        ("httpParams", p["httpParams"] == want_params),
        (
            "httpCheckCondition",
            p["httpCheckCondition"] == "BODY_CONTAINS",
        ),
        ("condition", p["condition"] == r#""state":"succeeded""#),
        (
            "connectTimeout",
            p["connectTimeout"].as_i64().is_some_and(|t| t > 0),
        ),
        (
            "socketTimeout",
            p["socketTimeout"]
                .as_i64()
                .is_some_and(|t| t > i64::from(wait) * 1000 && t <= i64::from(i32::MAX)),
        ),
        (
            "locations",
            locations
                .as_array()
                .is_some_and(|l| l.iter().all(|n| n["taskCode"] == code)),
        ),
        (
            "taskRelationJson",
            relations.as_array().is_some_and(|r| {
                r.len() == 1 && r[0]["preTaskCode"] == 0 && r[0]["postTaskCode"] == code
            }),
        ),
    ];
    for (field, ok) in checks {
        if !ok {
            return Err(ds.violation(format!("{what}: {field} in {def}")));
        }
    }
    // `${ferry_token}` must resolve: the project parameter exists first.
    if !ds
        .params
        .iter()
        .any(|x| x.project == project && x.name == "ferry_token")
    {
        return Err(ds.violation("${ferry_token} is not a project parameter yet".into()));
    }
    Ok((name, code, def.clone()))
}

/// Checks a schedule form; returns (crontab, start, end).
fn check_schedule_form(
    ds: &mut Ds,
    form: &Fields,
    create: bool,
) -> Result<(String, String, String), (i64, String)> {
    let mut required = vec![
        "schedule",
        "failureStrategy",
        "warningType",
        "processInstancePriority",
        "workerGroup",
    ];
    if create {
        required.push("processDefinitionCode");
    }
    expect_fields(ds, "schedule", form, &required, &[])?;
    let fixed = [
        ("failureStrategy", "END"),
        ("warningType", "NONE"),
        ("processInstancePriority", "MEDIUM"),
        ("workerGroup", "default"),
    ];
    for (k, v) in fixed {
        if form[k] != v {
            return Err(ds.violation(format!("schedule: {k}={}", form[k])));
        }
    }
    let s: Value = serde_json::from_str(&form["schedule"])
        .map_err(|e| ds.violation(format!("schedule JSON: {e}")))?;
    let keys: Vec<&str> = s
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if keys != ["crontab", "endTime", "startTime", "timezoneId"] {
        return Err(ds.violation(format!("schedule JSON keys {keys:?}")));
    }
    if s["timezoneId"] != "UTC" {
        return Err(ds.violation("timezoneId".into()));
    }
    let time = |v: &Value| {
        v.as_str()
            .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
    };
    let (Some(start), Some(end)) = (time(&s["startTime"]), time(&s["endTime"])) else {
        return Err(ds.violation(format!("schedule times {s}")));
    };
    if start >= end {
        return Err((10025, "start time bigger than end time".into()));
    }
    let cron = s["crontab"].as_str().unwrap_or_default().to_string();
    check_quartz(&cron).map_err(|e| ds.violation(e))?;
    Ok((
        cron,
        s["startTime"].as_str().unwrap_or_default().to_string(),
        s["endTime"].as_str().unwrap_or_default().to_string(),
    ))
}

fn parse_pairs(ds: &mut Ds, text: &[u8], what: &str) -> Result<Fields, (i64, String)> {
    let mut out = Fields::new();
    for (k, v) in url::form_urlencoded::parse(text) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(ds.violation(format!("{what}: {k} twice")));
        }
    }
    Ok(out)
}

/// One request: (operation name, answer).
fn route(
    ds: &mut Ds,
    method: &Method,
    segs: &[&str],
    q: &Fields,
    f: &Fields,
) -> (String, DsResult) {
    use Method as M;
    let none: &[&str] = &[];
    match (method.clone(), segs) {
        (M::GET, ["projects"]) => {
            let r = (|| -> DsResult {
                expect_fields(
                    ds,
                    "find project",
                    q,
                    &["pageNo", "pageSize"],
                    &["searchVal"],
                )?;
                page_query(ds, "find project", q)?;
                let s = search(q);
                let items = ds
                    .projects
                    .iter()
                    .filter(|p| p.name.contains(&s))
                    .map(|p| json!({"code": p.code, "name": p.name}))
                    .collect();
                Ok(page(items, q))
            })();
            (String::from("find project"), r)
        }
        (M::POST, ["projects"]) => {
            let r = (|| -> DsResult {
                expect_fields(ds, "create project", f, &["projectName"], &["description"])?;
                let name = f["projectName"].clone();
                if ds.projects.iter().any(|p| p.name == name) {
                    return Err((10019, format!("project {name} already exists")));
                }
                let code = ds.code();
                ds.projects.push(Project {
                    code,
                    name: name.clone(),
                });
                Ok(json!({"code": code, "name": name}))
            })();
            (String::from("create project"), r)
        }
        (M::GET, ["projects", pc, "project-parameter"]) => {
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                expect_fields(
                    ds,
                    "find param",
                    q,
                    &["pageNo", "pageSize"],
                    &["searchVal", "projectParameterDataType"],
                )?;
                page_query(ds, "find param", q)?;
                let s = search(q);
                let items = ds
                    .params
                    .iter()
                    .filter(|p| p.project == project && p.name.contains(&s))
                    .map(|p| json!({"code": p.code, "paramName": p.name, "paramValue": p.value}))
                    .collect();
                Ok(page(items, q))
            })();
            (String::from("find param"), r)
        }
        (M::POST | M::PUT, ["projects", pc, "project-parameter", rest @ ..]) => {
            let update = method == M::PUT;
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                let what = if update {
                    "update param"
                } else {
                    "create param"
                };
                expect_fields(
                    ds,
                    what,
                    f,
                    &["projectParameterName", "projectParameterValue"],
                    &["projectParameterDataType"],
                )?;
                if f.get("projectParameterDataType")
                    .is_some_and(|t| t != "VARCHAR")
                {
                    return Err(ds.violation("projectParameterDataType".into()));
                }
                let (name, value) = (
                    f["projectParameterName"].clone(),
                    f["projectParameterValue"].clone(),
                );
                match (update, rest) {
                    (false, []) => {
                        if ds
                            .params
                            .iter()
                            .any(|p| p.project == project && p.name == name)
                        {
                            return Err((
                                10218,
                                format!("project parameter {name} already exists"),
                            ));
                        }
                        let code = ds.code();
                        ds.params.push(Param {
                            project,
                            code,
                            name,
                            value,
                        });
                        Ok(json!({"code": code}))
                    }
                    (true, [code]) => {
                        let code: i64 = code.parse().unwrap_or(-1);
                        let Some(p) = ds
                            .params
                            .iter_mut()
                            .find(|p| p.project == project && p.code == code)
                        else {
                            return Err((10219, format!("project parameter {code} not exists")));
                        };
                        p.name = name;
                        p.value = value;
                        Ok(json!({"code": code}))
                    }
                    _ => Err(ds.violation(format!("{what}: path"))),
                }
            })();
            (
                String::from(if update {
                    "update param"
                } else {
                    "create param"
                }),
                r,
            )
        }
        (M::GET, ["projects", pc, "task-definition", "gen-task-codes"]) => {
            let r = (|| -> DsResult {
                ds.project(pc)?;
                expect_fields(ds, "gen code", q, &["genNum"], none)?;
                if q["genNum"] != "1" {
                    return Err(ds.violation("genNum".into()));
                }
                let code = ds.code();
                ds.generated.push(code);
                Ok(json!([code]))
            })();
            (String::from("gen code"), r)
        }
        (M::GET, ["projects", pc, "process-definition"]) => {
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                expect_fields(
                    ds,
                    "find workflow",
                    q,
                    &["pageNo", "pageSize"],
                    &["searchVal"],
                )?;
                page_query(ds, "find workflow", q)?;
                let s = search(q);
                let items = ds
                    .workflows
                    .iter()
                    .filter(|w| w.project == project && w.name.contains(&s))
                    .map(|w| {
                        json!({"code": w.code, "name": w.name, "projectCode": w.project,
                               "releaseState": if w.online { "ONLINE" } else { "OFFLINE" }})
                    })
                    .collect();
                Ok(page(items, q))
            })();
            (String::from("find workflow"), r)
        }
        (M::POST, ["projects", pc, "process-definition"]) => {
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                let (name, task_code, definition) = check_workflow_form(ds, project, f)?;
                if ds
                    .workflows
                    .iter()
                    .any(|w| w.project == project && w.name == name)
                {
                    return Err((
                        10168,
                        format!("process definition name {name} already exists"),
                    ));
                }
                let code = ds.code();
                ds.workflows.push(Workflow {
                    project,
                    code,
                    name: name.clone(),
                    online: false,
                    task_code,
                    definition,
                });
                Ok(json!({"code": code, "name": name, "releaseState": "OFFLINE"}))
            })();
            (String::from("create workflow"), r)
        }
        (M::GET | M::PUT | M::DELETE, ["projects", pc, "process-definition", code]) => {
            let name = match *method {
                M::GET => "read workflow",
                M::PUT => "update workflow",
                _ => "delete workflow",
            };
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                let code: i64 = code.parse().unwrap_or(-1);
                let Some(i) = ds
                    .workflows
                    .iter()
                    .position(|w| w.project == project && w.code == code)
                else {
                    return Err((50003, format!("process definition {code} does not exist")));
                };
                match *method {
                    M::GET => {
                        expect_fields(ds, name, q, none, none)?;
                        let w = &ds.workflows[i];
                        Ok(json!({
                            "processDefinition": {"code": w.code, "name": w.name},
                            "taskDefinitionList": [w.definition],
                            "processTaskRelationList": [],
                        }))
                    }
                    M::PUT => {
                        if ds.workflows[i].online {
                            return Err((
                                50008,
                                format!(
                                    "process definition {} does not allow edit",
                                    ds.workflows[i].name
                                ),
                            ));
                        }
                        let (new_name, task_code, definition) =
                            check_workflow_form(ds, project, f)?;
                        if new_name != ds.workflows[i].name {
                            return Err(ds.violation("update renames the workflow".into()));
                        }
                        if task_code != ds.workflows[i].task_code {
                            ds.replaced_tasks += 1;
                        }
                        let w = &mut ds.workflows[i];
                        w.task_code = task_code;
                        w.definition = definition;
                        Ok(json!({"code": code}))
                    }
                    _ => {
                        if ds.workflows[i].online {
                            return Err((
                                50021,
                                format!(
                                    "process definition [{}] is already online",
                                    ds.workflows[i].name
                                ),
                            ));
                        }
                        if let Some(s) =
                            ds.schedules.iter().find(|s| s.workflow == code && s.online)
                        {
                            return Err((
                                50023,
                                format!("the status of schedule {} is already online", s.id),
                            ));
                        }
                        ds.schedules.retain(|s| s.workflow != code);
                        ds.workflows.remove(i);
                        Ok(Value::Null)
                    }
                }
            })();
            (String::from(name), r)
        }
        (M::POST, ["projects", pc, "process-definition", code, "release"]) => {
            let state = f.get("releaseState").cloned().unwrap_or_default();
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                expect_fields(ds, "release", f, &["releaseState"], none)?;
                let code: i64 = code.parse().unwrap_or(-1);
                let online = match state.as_str() {
                    "ONLINE" => true,
                    "OFFLINE" => false,
                    other => return Err(ds.violation(format!("releaseState {other}"))),
                };
                let Some(w) = ds
                    .workflows
                    .iter_mut()
                    .find(|w| w.project == project && w.code == code)
                else {
                    return Err((50003, format!("process definition {code} does not exist")));
                };
                w.online = online;
                if !online {
                    for s in ds.schedules.iter_mut().filter(|s| s.workflow == code) {
                        s.online = false;
                    }
                }
                Ok(json!(true))
            })();
            (format!("release {state}"), r)
        }
        (M::GET, ["projects", pc, "schedules"]) => {
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                expect_fields(
                    ds,
                    "find schedule",
                    q,
                    &["processDefinitionCode", "pageNo", "pageSize"],
                    &["searchVal"],
                )?;
                page_query(ds, "find schedule", q)?;
                let wf: i64 = q["processDefinitionCode"].parse().unwrap_or(-1);
                let items = ds
                    .schedules
                    .iter()
                    .filter(|s| s.project == project && s.workflow == wf)
                    .map(|s| {
                        json!({"id": s.id, "processDefinitionCode": s.workflow,
                               "crontab": s.crontab, "startTime": s.start, "endTime": s.end,
                               "timezoneId": "UTC",
                               "releaseState": if s.online { "ONLINE" } else { "OFFLINE" }})
                    })
                    .collect();
                Ok(page(items, q))
            })();
            (String::from("find schedule"), r)
        }
        (M::POST, ["projects", pc, "schedules"]) => {
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                let (crontab, start, end) = check_schedule_form(ds, f, true)?;
                let wf: i64 = f["processDefinitionCode"].parse().unwrap_or(-1);
                if !ds
                    .workflows
                    .iter()
                    .any(|w| w.project == project && w.code == wf)
                {
                    return Err((50003, format!("process definition {wf} does not exist")));
                }
                if let Some(s) = ds.schedules.iter().find(|s| s.workflow == wf) {
                    return Err((
                        10204,
                        format!("workflow {wf} schedule {} already exist", s.id),
                    ));
                }
                let id = ds.code();
                ds.schedules.push(Sched {
                    project,
                    id,
                    workflow: wf,
                    online: false,
                    crontab,
                    start,
                    end,
                });
                Ok(json!({"id": id, "processDefinitionCode": wf, "releaseState": "OFFLINE"}))
            })();
            (String::from("create schedule"), r)
        }
        (M::PUT | M::DELETE, ["projects", pc, "schedules", id]) => {
            let update = method == M::PUT;
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                let id: i64 = id.parse().unwrap_or(-1);
                let Some(i) = ds
                    .schedules
                    .iter()
                    .position(|s| s.project == project && s.id == id)
                else {
                    return Err((10203, format!("schedule {id} does not exist")));
                };
                if update {
                    if ds.schedules[i].online {
                        return Err((
                            10023,
                            "online status does not allow update operations".into(),
                        ));
                    }
                    let (crontab, start, end) = check_schedule_form(ds, f, false)?;
                    let s = &mut ds.schedules[i];
                    (s.crontab, s.start, s.end) = (crontab, start, end);
                } else {
                    if ds.schedules[i].online {
                        return Err((
                            50023,
                            format!("the status of schedule {id} is already online"),
                        ));
                    }
                    ds.schedules.remove(i);
                }
                Ok(Value::Null)
            })();
            (
                String::from(if update {
                    "update schedule"
                } else {
                    "delete schedule"
                }),
                r,
            )
        }
        (
            M::POST,
            [
                "projects",
                pc,
                "schedules",
                id,
                state @ ("online" | "offline"),
            ],
        ) => {
            let online = *state == "online";
            let r = (|| -> DsResult {
                let project = ds.project(pc)?;
                expect_fields(ds, "schedule state", f, none, none)?;
                let id: i64 = id.parse().unwrap_or(-1);
                let Some(i) = ds
                    .schedules
                    .iter()
                    .position(|s| s.project == project && s.id == id)
                else {
                    return Err((10203, format!("schedule {id} does not exist")));
                };
                if ds.schedules[i].online == online {
                    return Err((10126, format!("schedule release is already {state}")));
                }
                let wf = ds.schedules[i].workflow;
                if online && !ds.workflows.iter().any(|w| w.code == wf && w.online) {
                    return Err((50004, format!("process definition {wf} not online")));
                }
                ds.schedules[i].online = online;
                Ok(json!(true))
            })();
            (format!("schedule {state}"), r)
        }
        _ => {
            let what = format!("no such endpoint: {method} /{}", segs.join("/"));
            ds.violations.push(what.clone());
            (what, Err((404, "not found".into())))
        }
    }
}

async fn handle(
    State(ds): State<Arc<Mutex<Ds>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut ds = ds.lock().expect("fake lock");
    let ds = &mut *ds;
    if headers.get("token").and_then(|v| v.to_str().ok()) != Some(ds.ds_token.as_str()) {
        ds.calls.push("refused: token".into());
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 10013, "msg": "user not login", "data": null})),
        )
            .into_response();
    }
    let answer = (|| -> (String, DsResult) {
        let Some(path) = uri.path().strip_prefix("/dolphinscheduler/") else {
            return (
                "bad path".into(),
                Err(ds.violation(format!("path {}", uri.path()))),
            );
        };
        let segs: Vec<&str> = path.split('/').collect();
        let q = match parse_pairs(ds, uri.query().unwrap_or_default().as_bytes(), "query") {
            Ok(q) => q,
            Err(e) => return ("bad query".into(), Err(e)),
        };
        let has_form = method == Method::POST || method == Method::PUT;
        let form_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let f = if has_form {
            if !body.is_empty() && form_type != "application/x-www-form-urlencoded" {
                return (
                    "bad body".into(),
                    Err(ds.violation(format!("content-type {form_type}"))),
                );
            }
            if !q.is_empty() {
                return (
                    "bad query".into(),
                    Err(ds.violation("query on a form request".into())),
                );
            }
            match parse_pairs(ds, &body, "form") {
                Ok(f) => f,
                Err(e) => return ("bad form".into(), Err(e)),
            }
        } else {
            if !body.is_empty() {
                return (
                    "bad body".into(),
                    Err(ds.violation(format!("{method} with a body"))),
                );
            }
            Fields::new()
        };
        route(ds, &method, &segs, &q, &f)
    })();
    let (op, mut result) = answer;
    ds.calls.push(op.clone());
    if let Some((fail_op, code, msg)) = ds.fail.clone()
        && fail_op == op
    {
        ds.fail = None;
        result = Err((code, msg));
    }
    let body = match result {
        Ok(data) => {
            json!({"code": 0, "msg": "success", "data": data, "success": true, "failed": false})
        }
        Err((code, msg)) => {
            json!({"code": code, "msg": msg, "data": null, "success": false, "failed": true})
        }
    };
    axum::Json(body).into_response()
}

pub struct Fake {
    pub ds: Arc<Mutex<Ds>>,
    pub url: String,
    /// The Ferry token [`Fake::engine`] configures.
    pub ferry_token: String,
}

impl Fake {
    /// A fake DS accepting `ds_token`, whose workflows must call `ferry_url`
    /// and wait `wait` seconds; [`Fake::engine`] hands it `ferry_token`.
    pub async fn start(ds_token: &str, ferry_url: &str, ferry_token: &str, wait: u32) -> Fake {
        let ds = Arc::new(Mutex::new(Ds {
            ds_token: ds_token.to_string(),
            ferry_url: ferry_url.to_string(),
            wait,
            ..Ds::default()
        }));
        let app = Router::new().fallback(handle).with_state(ds.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Fake {
            ds,
            url,
            ferry_token: ferry_token.to_string(),
        }
    }

    pub fn ds(&self) -> MutexGuard<'_, Ds> {
        self.ds.lock().expect("fake lock")
    }

    pub fn engine(&self) -> DolphinEngine {
        let ds = self.ds();
        let (token, ferry) = (ds.ds_token.clone(), self.ferry_token.clone());
        drop(ds);
        self.engine_with(&token, &ferry)
    }

    pub fn engine_with(&self, token: &str, ferry_token: &str) -> DolphinEngine {
        let ds = self.ds();
        let mut c = DolphinConfig::new(&self.url, token, ds.ferry_url.as_str(), ferry_token);
        c.wait_seconds = ds.wait;
        DolphinEngine::new(c).expect("engine")
    }

    /// The calls that change something, since the last `take`.
    pub fn take_mutations(&self) -> Vec<String> {
        let calls = std::mem::take(&mut self.ds().calls);
        calls
            .into_iter()
            .filter(|c| !c.starts_with("find ") && c != "read workflow" && c != "gen code")
            .collect()
    }

    pub fn assert_clean(&self) {
        let ds = self.ds();
        assert!(ds.violations.is_empty(), "violations: {:#?}", ds.violations);
        assert_eq!(
            ds.replaced_tasks, 0,
            "an update replaced the task definition"
        );
    }

    pub fn workflow(&self, task: &str) -> Option<(i64, i64, bool)> {
        let ds = self.ds();
        let name = format!("ferry_{task}");
        ds.workflows
            .iter()
            .find(|w| w.name == name)
            .map(|w| (w.project, w.code, w.online))
    }

    /// The task's schedule: (id, crontab, online).
    pub fn schedule(&self, task: &str) -> Option<(i64, String, bool)> {
        let (_, code, _) = self.workflow(task)?;
        let ds = self.ds();
        ds.schedules
            .iter()
            .find(|s| s.workflow == code)
            .map(|s| (s.id, s.crontab.clone(), s.online))
    }
}
